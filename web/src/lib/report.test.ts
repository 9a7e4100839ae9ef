import { describe, expect, it } from "vitest";
import type { Diagnostics } from "./bindings";
import { diagnosticsReport, installPageReporting, violationMessage } from "./report";

class FakeWindow {
  listeners = new Map<string, ((e: Event) => void)[]>();
  addEventListener(type: string, f: (e: Event) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), f]);
  }
  removeEventListener(type: string, f: (e: Event) => void) {
    this.listeners.set(type, (this.listeners.get(type) ?? []).filter((g) => g !== f));
  }
  fire(type: string, e: object) {
    (this.listeners.get(type) ?? []).forEach((f) => f(e as Event));
  }
}

describe("page reporting", () => {
  it("sends blocked requests and uncaught errors to the log, until undone", () => {
    const w = new FakeWindow();
    const logged: [string, string][] = [];
    const undo = installPageReporting(w as unknown as Window, (level, message) => logged.push([level, message]));
    w.fire("securitypolicyviolation", { blockedURI: "https://example.com/x", violatedDirective: "connect-src" });
    w.fire("error", { error: new Error("boom"), message: "boom" });
    w.fire("unhandledrejection", { reason: { message: "no frame" } });
    expect(logged).toEqual([
      ["warn", "content security policy blocked https://example.com/x: connect-src"],
      ["error", "page error: Error: boom"],
      ["error", "page error (unhandled rejection): no frame"],
    ]);
    undo();
    w.fire("error", { message: "later" });
    expect(logged.length).toBe(3);
  });

  it("a failing log never throws into the page", () => {
    const w = new FakeWindow();
    installPageReporting(w as unknown as Window, () => {
      throw new Error("ipc down");
    });
    expect(() => w.fire("error", { message: "x" })).not.toThrow();
    installPageReporting(w as unknown as Window, () => Promise.reject(new Error("ipc down")));
    expect(() => w.fire("error", { message: "y" })).not.toThrow();
  });

  it("names where a blocked inline resource came from", () => {
    expect(violationMessage({ blockedURI: "", violatedDirective: "style-src", sourceFile: "tauri://localhost/a.js", lineNumber: 3 })).toBe(
      "content security policy blocked an inline resource: style-src (from tauri://localhost/a.js:3)",
    );
  });
});

describe("diagnostics", () => {
  it("puts every part and the log tail into the report", () => {
    const d: Diagnostics = {
      version: "argus 0.1.0 (commit abc)",
      ffmpeg: "FFmpeg 5.1",
      onnx_runtime: "/usr/lib/argus/libonnxruntime.so (rel-1.31.1)",
      sam: "sample on CPU",
      adapter: "llvmpipe (Vulkan, Cpu, software)",
      renderer: "CPU (software rasteriser)",
      webview: "WebKitGTK 2.48",
      os: "linux x86_64",
      database: "/d/argus.db",
      log_file: null,
      log_tail: ["line 1", "line 2"],
    };
    const text = diagnosticsReport(d);
    for (const part of Object.values(d).flat()) if (typeof part === "string") expect(text).toContain(part);
    expect(text).toContain("Log file: none");
    expect(text.endsWith("Last 2 log lines:\nline 1\nline 2\n")).toBe(true);
  });
});
