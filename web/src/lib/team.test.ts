import { describe, expect, it } from "vitest";
import { render } from "svelte/server";
import TeamDialog from "../components/TeamDialog.svelte";
import Toolbar from "../components/Toolbar.svelte";
import type { AccountInfo, Published, SyncInfo } from "./bindings";
import { SYNC_NOW, account, syncInfo, teamDialogProps, videoSummary } from "./fixtures";
import { accountLine, ago, initialSignIn, keptNote, sessionEnded, publishedLine, remoteProgressText, signInProblem, syncBadge, videoFile } from "./team";

const NOW = SYNC_NOW;

describe("sign-in form", () => {
  it("fills in the last server and e-mail, never a password; keeps the session by default", () => {
    expect(initialSignIn(null)).toEqual({ server: "", anonKey: "", email: "", password: "", keep: true });
    const f = initialSignIn(account({ anon_key: "anon" }));
    expect(f).toEqual({ server: "https://argus.example.com", anonKey: "anon", email: "ada@example.com", password: "", keep: true });
  });

  it("says what is missing before anything is sent", () => {
    const ok = { server: " https://argus.example.com ", anonKey: "", email: "ada@example.com", password: "pw", keep: false };
    expect(signInProblem(ok)).toBeNull();
    expect(signInProblem({ ...ok, server: "" })).toBe("give the server's address");
    expect(signInProblem({ ...ok, server: "argus.example.com" })).toContain("https://");
    expect(signInProblem({ ...ok, email: "ada" })).toBe("give your e-mail address");
    expect(signInProblem({ ...ok, password: "" })).toBe("give your password");
    expect(signInProblem({ ...ok, server: "http://127.0.0.1:54321" })).toBeNull();
  });

  it("says where the session is kept, or that it is not", () => {
    expect(keptNote(null)).toBe("");
    expect(keptNote(account({ user: null }))).toBe("");
    expect(keptNote(account())).toBe(" (the session is kept in the system keyring)");
    expect(keptNote(account({ kept: "not kept: you will sign in again next time" }))).toBe(" (not kept: you will sign in again next time)");
  });

  it("an ended session is told apart from a refused step", () => {
    expect(sessionEnded({ kind: "sign_in", message: "your session has ended; sign in again" })).toBe(true);
    expect(sessionEnded({ kind: "server", message: "refused" })).toBe(false);
    expect(sessionEnded({ kind: "offline", message: "could not reach" })).toBe(false);
    expect(sessionEnded("sign_in")).toBe(false);
    expect(sessionEnded(null)).toBe(false);
  });

  it("the account line names who and where", () => {
    expect(accountLine(null)).toBe("not signed in");
    expect(accountLine(account({ user: null }))).toBe("signed out of https://argus.example.com");
    expect(accountLine(account())).toBe("signed in as ada@example.com at https://argus.example.com");
  });
});

describe("sync badge", () => {
  it("reads the time since the last round", () => {
    expect(ago(NOW - 10_000, NOW)).toBe("just now");
    expect(ago(NOW - 5 * 60_000, NOW)).toBe("5 min ago");
    expect(ago(NOW - 3 * 3600_000, NOW)).toBe("3 h ago");
    expect(ago(NOW - 3 * 86400_000, NOW)).toBe("3 days ago");
  });

  it("says local only, signed out, syncing, synced, waiting, offline and what needs a look", () => {
    expect(syncBadge(null, NOW).text).toBe("local only");
    expect(syncBadge(syncInfo({ on_server: false }), NOW)).toMatchObject({ text: "local only", tone: "off" });
    expect(syncBadge(syncInfo({ signed_in: false }), NOW)).toMatchObject({ text: "signed out", tone: "warn" });
    expect(syncBadge(syncInfo({ last_sync_ms: null }), NOW)).toMatchObject({ text: "syncing…", tone: "busy" });
    expect(syncBadge(syncInfo(), NOW)).toMatchObject({ text: "synced just now", tone: "ok" });
    expect(syncBadge(syncInfo({ pending: 3, last_sync_ms: NOW - 120_000 }), NOW)).toMatchObject({ text: "synced 2 min ago · 3 changes waiting", tone: "busy" });
    const offline = syncBadge(syncInfo({ online: false, pending: 1, last_error: "could not reach https://argus.example.com" }), NOW);
    expect(offline).toEqual({ text: "offline · 1 change waiting", tone: "error", title: "could not reach https://argus.example.com" });
    expect(syncBadge(syncInfo({ last_error: "POST /sync/push answered 500" }), NOW).text).toBe("sync failed");
    const worries = syncBadge(syncInfo({ conflicts: 1, refused: ["annotators may not change the schema"] }), NOW);
    expect(worries.text).toBe("synced just now · 1 conflict · 1 refused");
    expect(worries.tone).toBe("warn");
    expect(worries.title).toContain("annotators may not change the schema");
  });
});

describe("publish and download", () => {
  it("progress in words", () => {
    expect(remoteProgressText(null)).toBe("");
    expect(remoteProgressText({ video: "a.mp4", stage: "sending", done: 40, total: 100 })).toBe("uploading a.mp4: 40%");
    expect(remoteProgressText({ video: "a.mp4", stage: "hashing", done: 0, total: 0 })).toBe("checking a.mp4: 0%");
    expect(remoteProgressText({ video: "a.mp4", stage: "downloading", done: 150, total: 100 })).toBe("downloading a.mp4: 100%");
    expect(remoteProgressText({ video: "a.mp4", stage: "completing", done: 1, total: 1 })).toBe("finishing the upload of a.mp4");
  });

  it("what a publish did, with the files it could not send and why", () => {
    const p: Published = {
      created: true,
      pushed: 12,
      videos: [
        { id: "v1", name: "a.mp4", outcome: "uploaded", reason: null },
        { id: "v2", name: "b.mp4", outcome: "already_there", reason: null },
        { id: "v3", name: "c.mp4", outcome: "skipped", reason: "its file is not on this machine" },
      ],
      sync: syncInfo(),
    };
    expect(publishedLine(p)).toBe("published, 12 changes sent, 1 video file uploaded, 1 already there; not uploaded: c.mp4 (its file is not on this machine)");
    expect(publishedLine({ ...p, created: false, pushed: 1, videos: [] })).toBe("updated on the server, 1 change sent, 0 video files uploaded");
  });

  it("a video not on this machine says whether it can be downloaded", () => {
    expect(videoFile(videoSummary())).toEqual({ here: true, note: "" });
    const remote = { ...videoSummary(), here: false };
    expect(videoFile({ ...remote, server: "ready" }).note).toBe("on the server: download to open");
    expect(videoFile({ ...remote, server: "processing" }).note).toBe("on the server: download to open");
    expect(videoFile({ ...remote, server: "uploading" }).note).toContain("still uploading");
    expect(videoFile({ ...remote, server: "local" }).note).toBe("its file is not on this machine");
  });
});

describe("TeamDialog (rendered)", () => {
  const dialog = (a: AccountInfo | null, sync: SyncInfo | null, project = true) =>
    render(TeamDialog, { props: teamDialogProps(a, sync, project) }).body;

  it("signed out: the sign-in form, its button disabled with the reason, and why a kept session was lost", () => {
    const html = dialog(account({ user: null, kept: null, problem: "you are signed out: no keyring" }), null);
    expect(html).toContain('data-signed-in="false"');
    expect(html).toContain('data-testid="sign-in"');
    expect(html).toMatch(/data-testid="sign-in-submit"[^>]*disabled/);
    expect(html).toContain("give the server's address");
    expect(html).toContain("you are signed out: no keyring");
    expect(html).not.toContain('data-testid="sign-out"');
  });

  it("signed in: the project's sync with Sync now and what was refused, publish and sign out", () => {
    const html = dialog(account(), syncInfo({ refused: ["reviewers may not draw"] }));
    expect(html).toContain('data-signed-in="true"');
    expect(html).toContain("signed in as ada@example.com at https://argus.example.com (the session is kept in the system keyring)");
    expect(html).toContain('data-testid="sync-now"');
    expect(html).toContain("Refused by the server (1)");
    expect(html).toContain("reviewers may not draw");
    expect(html).toContain("Publish again");
    expect(html).toContain('data-testid="sign-out"');
    expect(html).not.toContain('data-testid="sign-in"');
  });

  it("a local project offers Publish; no project, no project section", () => {
    const local = dialog(account(), syncInfo({ on_server: false }));
    expect(local).toContain("Only on this machine.");
    expect(local).not.toContain('data-testid="sync-now"');
    expect(local).toMatch(/data-testid="publish"[^>]*>Publish</);
    expect(dialog(account(), null, false)).not.toContain('data-testid="team-project"');
  });
});

describe("Toolbar team button", () => {
  const bar = (a: AccountInfo | null, sync: SyncInfo | null) =>
    render(Toolbar, {
      props: {
        projectName: "Street",
        tool: "sam",
        holeMode: false,
        brushRadius: 12,
        labels: [],
        labelIndex: 0,
        history: null,
        samCache: null,
        frame: 0,
        account: a,
        sync,
        now: NOW,
        onteam: () => {},
        onlabels: () => {},
        onprojects: () => {},
        ontool: () => {},
        onhole: () => {},
        onlabel: () => {},
        onundo: () => {},
        onredo: () => {},
        onhelp: () => {},
      },
    }).body;

  it("shows where the project's sync stands, or Team when there is nothing to say", () => {
    expect(bar(null, null)).toMatch(/data-testid="team-button"[^>]*data-tone="off"[\s\S]*Team\s*<\/button>/);
    expect(bar(account(), syncInfo({ pending: 2 }))).toMatch(/data-tone="busy"[\s\S]*synced just now · 2 changes waiting/);
    expect(bar(account({ user: null }), syncInfo({ signed_in: false }))).toMatch(/data-tone="warn"[\s\S]*signed out/);
  });

  it("has the label editor's button next to the team's", () => {
    expect(bar(null, null)).toMatch(/data-testid="labels-button"[^>]*>Labels<\/button>\s*<button[^>]*data-testid="team-button"/);
  });
});
