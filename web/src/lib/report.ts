// What the page reports to the app's log (src-tauri `page_log`): requests the
// content security policy blocked, and the page's own uncaught errors. The
// log is what "copy diagnostics" attaches to a bug report.

import type { Diagnostics } from "./bindings";

export type PageLog = (level: "error" | "warn" | "info", message: string) => unknown;

/** The parts of a CSP violation event the report uses. */
export interface Violation {
  blockedURI: string;
  violatedDirective: string;
  sourceFile?: string;
  lineNumber?: number;
}

/** One log line for a blocked request. */
export function violationMessage(v: Violation): string {
  const where = v.sourceFile ? ` (from ${v.sourceFile}${v.lineNumber ? `:${v.lineNumber}` : ""})` : "";
  return `content security policy blocked ${v.blockedURI || "an inline resource"}: ${v.violatedDirective}${where}`;
}

/** Sends CSP violations and uncaught errors from `target` (the window) to `log`. Returns the undo. */
export function installPageReporting(target: Pick<Window, "addEventListener" | "removeEventListener">, log: PageLog): () => void {
  const send = (level: "error" | "warn", message: string) => {
    try {
      Promise.resolve(log(level, message)).catch(() => {});
    } catch {
      // The log is best effort: reporting must never throw into the page.
    }
  };
  const onViolation = (e: Event) => send("warn", violationMessage(e as unknown as Violation));
  const onError = (e: Event) => {
    const ev = e as ErrorEvent;
    send("error", `page error: ${String(ev.error ?? ev.message)}`);
  };
  const onRejection = (e: Event) => {
    const reason = (e as PromiseRejectionEvent).reason as { message?: string } | undefined;
    send("error", `page error (unhandled rejection): ${String(reason?.message ?? reason)}`);
  };
  target.addEventListener("securitypolicyviolation", onViolation);
  target.addEventListener("error", onError);
  target.addEventListener("unhandledrejection", onRejection);
  return () => {
    target.removeEventListener("securitypolicyviolation", onViolation);
    target.removeEventListener("error", onError);
    target.removeEventListener("unhandledrejection", onRejection);
  };
}

/** The diagnostics as plain text for a bug report (the About box's "Copy diagnostics"). */
export function diagnosticsReport(d: Diagnostics): string {
  const lines = [
    d.version,
    `FFmpeg: ${d.ffmpeg}`,
    `ONNX Runtime: ${d.onnx_runtime}`,
    `SAM: ${d.sam}`,
    `GPU adapter: ${d.adapter}`,
    `Masks drawn by: ${d.renderer}`,
    `Webview: ${d.webview}`,
    `OS: ${d.os}`,
    `Database: ${d.database}`,
    `Log file: ${d.log_file ?? "none (logging to stderr only)"}`,
    "",
    `Last ${d.log_tail.length} log lines:`,
    ...d.log_tail,
  ];
  return lines.join("\n") + "\n";
}
