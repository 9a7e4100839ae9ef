// The team side of the page: the sign-in form, the open project's sync status line, the
// publish form and the progress of a publish or download. Pure functions over the
// workspace's payloads (bindings), so the panel's logic is tested without a window.

import type { AccountInfo, Published, RemoteProgress, SyncInfo, VideoSummary } from "./bindings";

export interface SignInState {
  server: string;
  anonKey: string;
  email: string;
  password: string;
  /** Keep the session in the system keyring. */
  keep: boolean;
}

export function initialSignIn(account: AccountInfo | null): SignInState {
  return { server: account?.server ?? "", anonKey: account?.anon_key ?? "", email: account?.user?.email ?? "", password: "", keep: true };
}

/** Why the sign-in button is disabled, or null when the form can be sent. */
export function signInProblem(f: SignInState): string | null {
  const server = f.server.trim();
  if (!server) return "give the server's address";
  if (!/^https?:\/\/\S+$/.test(server)) return "the server's address starts with https:// (or http://)";
  if (!f.email.trim().includes("@")) return "give your e-mail address";
  if (!f.password) return "give your password";
  return null;
}

/** "signed in as ada@example.com at https://…" or "signed out". */
export function accountLine(a: AccountInfo | null): string {
  if (!a?.user) return a?.server ? `signed out of ${a.server}` : "not signed in";
  return `signed in as ${a.user.email ?? a.user.id} at ${a.server ?? "the server"}`;
}

/** Where the session is kept, as a clause after the account line. */
export function keptNote(a: AccountInfo | null): string {
  if (!a?.user || !a.kept) return "";
  return a.kept.startsWith("not kept") ? ` (${a.kept})` : ` (the session is kept ${a.kept})`;
}

/** Whether a command's error says the session is over (sign in again), not a refused step. */
export function sessionEnded(e: unknown): boolean {
  return !!e && typeof e === "object" && (e as { kind?: string }).kind === "sign_in";
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 36) return `${h} h ago`;
  return `${Math.round(h / 24)} days ago`;
}

export type SyncTone = "ok" | "busy" | "warn" | "error" | "off";

/** The sync badge: its words and how it looks. */
export function syncBadge(s: SyncInfo | null, now: number): { text: string; tone: SyncTone; title: string } {
  if (!s || !s.on_server) return { text: "local only", tone: "off", title: "This project is only on this machine: publish it to a team to share it." };
  if (!s.signed_in) return { text: "signed out", tone: "warn", title: "Sign in to sync this project; changes made meanwhile are kept." };
  const pending = s.pending > 0 ? `${s.pending} change${s.pending === 1 ? "" : "s"} waiting` : "";
  const worries = [
    s.conflicts > 0 ? `${s.conflicts} conflict${s.conflicts === 1 ? "" : "s"}` : "",
    s.refused.length > 0 ? `${s.refused.length} refused` : "",
  ].filter(Boolean);
  if (s.last_error) {
    const what = s.online ? "sync failed" : "offline";
    return { text: [what, pending].filter(Boolean).join(" · "), tone: "error", title: s.last_error };
  }
  if (!s.active || s.last_sync_ms === null) return { text: ["syncing…", pending].filter(Boolean).join(" · "), tone: "busy", title: "The first sync round is running." };
  const when = `synced ${ago(s.last_sync_ms, now)}`;
  const text = [when, pending, ...worries].filter(Boolean).join(" · ");
  const title = s.refused.length > 0 ? `Refused by the server:\n${s.refused.join("\n")}` : when;
  return { text, tone: worries.length > 0 ? "warn" : pending ? "busy" : "ok", title };
}

/** "uploading clip.mp4: 40%" and the like. */
export function remoteProgressText(p: RemoteProgress | null): string {
  if (!p) return "";
  const pct = p.total > 0 ? Math.min(100, Math.floor((p.done * 100) / p.total)) : 0;
  switch (p.stage) {
    case "hashing":
      return `checking ${p.video}: ${pct}%`;
    case "sending":
      return `uploading ${p.video}: ${pct}%`;
    case "completing":
      return `finishing the upload of ${p.video}`;
    case "downloading":
      return `downloading ${p.video}: ${pct}%`;
    default:
      return `${p.stage} ${p.video}: ${pct}%`;
  }
}

/** What a publish did, in a sentence. */
export function publishedLine(p: Published): string {
  const uploaded = p.videos.filter((v) => v.outcome === "uploaded").length;
  const there = p.videos.filter((v) => v.outcome === "already_there").length;
  const skipped = p.videos.filter((v) => v.outcome === "skipped");
  const parts = [
    p.created ? "published" : "updated on the server",
    `${p.pushed} change${p.pushed === 1 ? "" : "s"} sent`,
    `${uploaded} video file${uploaded === 1 ? "" : "s"} uploaded`,
  ];
  if (there > 0) parts.push(`${there} already there`);
  let line = parts.join(", ");
  if (skipped.length > 0) line += `; not uploaded: ${skipped.map((v) => `${v.name} (${v.reason ?? "no reason given"})`).join("; ")}`;
  return line;
}

/** Whether the video's file can be opened here, or how to get it. */
export function videoFile(v: VideoSummary): { here: boolean; note: string } {
  if (v.here) return { here: true, note: "" };
  switch (v.server) {
    case "processing":
    case "ready":
      return { here: false, note: "on the server: download to open" };
    case "uploading":
      return { here: false, note: "still uploading to the server" };
    case "failed":
      return { here: false, note: "the server could not process it" };
    default:
      return { here: false, note: "its file is not on this machine" };
  }
}
