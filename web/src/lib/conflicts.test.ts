import { describe, expect, it } from "vitest";
import { render } from "svelte/server";
import ConflictsSection from "../components/ConflictsSection.svelte";
import TeamDialog from "../components/TeamDialog.svelte";
import type { Api } from "./api";
import type { ConflictsSettled, SyncInfo } from "./bindings";
import {
  KEEP_LABEL,
  conflictLine,
  conflictTime,
  initialConflicts,
  loadConflicts,
  owners,
  restoreBlocked,
  restoreLabel,
  restoreTitle,
  settleConflict,
  settledLine,
  showBlocked,
  type ConflictsState,
} from "./conflicts";
import { CONFLICT_NOW, account, conflict, fails, historyState, localTime, recordingApi, syncInfo, teamDialogProps } from "./fixtures";

const NOW = CONFLICT_NOW;


/** The Conflicts section of project-1 with `more` over what was read (one conflict). */
function state(more: Partial<ConflictsState> = {}): ConflictsState {
  return { ...initialConflicts("project-1"), list: [conflict()], loaded: true, ...more };
}

const second = conflict({ id: "9b2f6c1e-0000-4000-8000-00000000c0f2", object: "person #1", frame: 0 });

describe("conflict lines", () => {
  it("a time is HH:MM on the day, with the date on another", () => {
    expect(conflictTime(localTime(14, 2), NOW)).toBe("14:02");
    expect(conflictTime(localTime(9, 5), NOW)).toBe("09:05");
    expect(conflictTime(localTime(23, 59, 14), NOW)).toBe("2027-01-14 23:59");
    expect(conflictTime(new Date(2026, 11, 31, 8, 0).getTime(), NOW)).toBe("2026-12-31 08:00");
  });

  it("says whose each side is: yours, another device's, or an earlier edit of yours", () => {
    expect(owners(conflict())).toEqual(["another device's version", "yours"]);
    const mineCurrent = conflict({ current: { what: "a bbox", at_ms: localTime(14, 5), here: true }, other: { what: "a bbox", at_ms: localTime(13, 2), here: false } });
    expect(owners(mineCurrent)).toEqual(["yours", "another device's version"]);
    const bothMine = conflict({ current: { what: "a mask", at_ms: localTime(14, 5), here: true }, other: { what: "a polygon", at_ms: localTime(13, 2), here: true } });
    expect(owners(bothMine)).toEqual(["yours", "an earlier edit of yours"]);
    expect(owners({ ...bothMine, other: { ...bothMine.other, at_ms: localTime(15, 0) } })).toEqual(["an earlier edit of yours", "yours"]);
    const neither = conflict({ current: { ...conflict().current }, other: { ...conflict().other, here: false } });
    expect(owners(neither)).toEqual(["another device's version", "another device's earlier version"]);
  });

  it("a line says where, what is current and what is kept aside, each with whose and when", () => {
    expect(conflictLine(conflict(), NOW)).toBe("car #3 on frame 4: another device's version (a mask, 14:02) is current; yours (a bbox, 13:58) is kept aside");
    const c = conflict({
      object: "a deleted object",
      video_id: null,
      frame: 0,
      current: { what: "marked outside the frame", at_ms: localTime(14, 5), here: true },
      other: { what: "deleted", at_ms: localTime(13, 2, 14), here: false },
    });
    expect(conflictLine(c, NOW)).toBe(
      "a deleted object on frame 1: yours (marked outside the frame, 14:05) is current; another device's version (deleted, 2027-01-14 13:02) is kept aside",
    );
  });

  it("the buttons: Keep current, and Restore yours or theirs with what it puts back", () => {
    expect(KEEP_LABEL).toBe("Keep current");
    expect(restoreLabel(conflict())).toBe("Restore yours");
    const theirs = conflict({ current: { ...conflict().other }, other: { ...conflict().current } });
    expect(restoreLabel(theirs)).toBe("Restore theirs");
    expect(restoreTitle(conflict())).toBe("Put yours (a bbox) back, as a new edit (one undo step, synced to the team)");
    expect(restoreTitle(conflict({ other: { what: "deleted", at_ms: 1, here: false } }))).toBe("Delete the shape again, as a new edit (one undo step, synced to the team)");
  });

  it("an object deleted since has nothing to show, and only a delete can be restored", () => {
    expect(showBlocked(conflict())).toBeNull();
    expect(restoreBlocked(conflict())).toBeNull();
    const gone = conflict({ object: "a deleted object", video_id: null });
    expect(showBlocked(gone)).toContain("nothing to show");
    expect(restoreBlocked(gone)).toContain("keep the current one");
    expect(restoreBlocked({ ...gone, other: { what: "deleted", at_ms: 1, here: true } })).toBeNull();
  });

  it("what settling did", () => {
    expect(settledLine(conflict(), "current")).toBe("car #3 on frame 4: kept the current version");
    expect(settledLine(conflict(), "other")).toBe("car #3 on frame 4: restored yours (a bbox); Undo takes it back");
    expect(settledLine(conflict({ other: { what: "deleted", at_ms: 1, here: false } }), "other")).toBe("car #3 on frame 4: deleted the shape again; Undo takes it back");
  });
});

describe("reading and settling conflicts", () => {
  const settled = (more: Partial<ConflictsSettled> = {}): ConflictsSettled => ({ conflicts: [second], history: historyState(5, 0, "set shape on frame 3"), ...more });

  it("reads the project's conflicts; another project starts afresh", async () => {
    const f = recordingApi({ conflicts: () => [conflict(), second] });
    const s: ConflictsState = { ...initialConflicts("project-0"), message: "old", list: [second] };
    await loadConflicts(f.api, s, "project-1");
    expect(f.calls).toEqual([["conflicts", "project-1"]]);
    expect(s).toMatchObject({ projectId: "project-1", loaded: true, busy: "", error: "", message: "" });
    expect(s.list).toHaveLength(2);
  });

  it("a failed read says why; an answer for a project no longer shown is dropped", async () => {
    const seen: unknown[] = [];
    const s = initialConflicts("project-1");
    await loadConflicts(recordingApi({ conflicts: fails("not_found", "no such project") }).api, s, "project-1", (e) => seen.push(e));
    expect(s).toMatchObject({ error: "no such project", loaded: false, busy: "" });
    expect(seen).toHaveLength(1);

    let resolve!: (v: unknown) => void;
    const t = initialConflicts();
    const loading = loadConflicts(recordingApi({ conflicts: () => new Promise((r) => (resolve = r)) }).api, t, "project-1");
    t.projectId = "project-2";
    resolve([conflict()]);
    await loading;
    expect(t.list).toEqual([]);
  });

  it("Keep current settles it: the list is the one answered, with what it did", async () => {
    const f = recordingApi({ resolveConflict: () => settled() });
    const s = state({ list: [conflict(), second], error: "old" });
    const r = await settleConflict(f.api, s, conflict(), "current");
    expect(f.calls).toEqual([["resolveConflict", "project-1", conflict().id, "current"]]);
    expect(r?.history).toEqual(historyState(5, 0, "set shape on frame 3"));
    expect(s).toMatchObject({ list: [second], busy: "", error: "", message: "car #3 on frame 4: kept the current version" });
  });

  it("Restore asks for the other version", async () => {
    const f = recordingApi({ resolveConflict: () => settled({ conflicts: [] }) });
    const s = state();
    await settleConflict(f.api, s, conflict(), "other");
    expect(f.calls).toEqual([["resolveConflict", "project-1", conflict().id, "other"]]);
    expect(s.list).toEqual([]);
    expect(s.message).toContain("restored yours");
  });

  it("one settled already is read again, so its row goes; the error says why", async () => {
    const f = recordingApi({ resolveConflict: fails("not_found", "that conflict is settled already (another window, or both versions are gone)"), conflicts: () => [second] });
    const s = state({ list: [conflict(), second] });
    const r = await settleConflict(f.api, s, conflict(), "current");
    expect(r).toBeUndefined();
    expect(f.names()).toEqual(["resolveConflict", "conflicts"]);
    expect(s.list).toEqual([second]);
    expect(s).toMatchObject({ busy: "", message: "", error: "that conflict is settled already (another window, or both versions are gone)" });
  });

  it("a refused Restore (the object was deleted since) keeps the conflict and says what to do", async () => {
    const seen: unknown[] = [];
    const f = recordingApi({ resolveConflict: fails("conflict", "the object was deleted since, so its other version has nowhere to go; keep the current one") });
    const s = state();
    await settleConflict(f.api, s, conflict(), "other", (e) => seen.push(e));
    expect(f.names()).toEqual(["resolveConflict"]);
    expect(s.list).toEqual([conflict()]);
    expect(s.error).toContain("keep the current one");
    expect(seen).toHaveLength(1);
  });
});

describe("Conflicts section (rendered)", () => {
  const section = (s: ConflictsState, disabled = false) => render(ConflictsSection, { props: { s, now: NOW, disabled, onshow: () => {}, onsettle: () => {} } }).body;
  const count = (html: string, testid: string) => html.split(`data-testid="${testid}"`).length - 1;

  it("a row per conflict with its line, Show, Keep current and Restore", () => {
    const html = section(state({ list: [conflict(), second] }));
    expect(html).toContain('data-testid="conflicts"');
    expect(count(html, "conflict-row")).toBe(2);
    expect(html).toMatch(/data-testid="conflict-row"[\s\S]*car #3 on frame 4: another device's version \(a mask, 14:02\) is current; yours \(a bbox, 13:58\) is kept aside/);
    expect(html).toMatch(/<button data-testid="conflict-show"(?![^>]*disabled)[^>]*>Show</);
    expect(html).toMatch(/<button data-testid="conflict-keep"(?![^>]*disabled)[^>]*>Keep current</);
    expect(html).toMatch(/<button data-testid="conflict-restore"(?![^>]*disabled)[^>]*title="Put yours \(a bbox\) back[^"]*"[^>]*>Restore yours</);
  });

  it("an object deleted since: Show and Restore are disabled and say why", () => {
    const html = section(state({ list: [conflict({ object: "a deleted object", video_id: null })] }));
    expect(html).toMatch(/data-testid="conflict-show"[^>]*disabled[^>]*title="The object was deleted since: there is nothing to show"/);
    expect(html).toMatch(/data-testid="conflict-restore"[^>]*disabled[^>]*title="The object was deleted since, so this version has nowhere to go/);
    expect(html).toMatch(/<button data-testid="conflict-keep"(?![^>]*disabled)/);
  });

  it("while a step runs or the dialog is busy the buttons are off", () => {
    for (const html of [section(state({ busy: "keeping the current version of car #3" })), section(state(), true)]) {
      for (const id of ["conflict-show", "conflict-keep", "conflict-restore"]) expect(html).toMatch(new RegExp(`data-testid="${id}"[^>]*disabled`));
    }
    expect(section(state({ busy: "keeping the current version of car #3" }))).toContain("keeping the current version of car #3…");
  });

  it("what settling did and an error show in the section; none left says so", () => {
    const done = section(state({ list: [], message: "car #3 on frame 4: kept the current version" }));
    expect(done).toMatch(/data-testid="conflicts-message"[^>]*>car #3 on frame 4: kept the current version</);
    expect(done).toContain("No open conflicts.");
    expect(count(done, "conflict-row")).toBe(0);
    expect(section(state({ error: "the object was deleted since" }))).toMatch(/data-testid="conflicts-error"[^>]*>the object was deleted since</);
  });
});

describe("TeamDialog conflicts (rendered)", () => {
  const dialog = (sync: SyncInfo | null, signedIn = true) =>
    render(TeamDialog, { props: teamDialogProps(signedIn ? account() : account({ user: null }), sync) }).body;

  it("shows the Conflicts section when the open project has conflicts, signed in or not", () => {
    expect(dialog(syncInfo())).not.toContain('data-testid="conflicts"');
    expect(dialog(syncInfo({ conflicts: 2 }))).toContain('data-testid="conflicts"');
    expect(dialog(syncInfo({ conflicts: 1, signed_in: false }), false)).toContain('data-testid="conflicts"');
    expect(dialog(syncInfo({ conflicts: 2, project_id: "project-2" }))).not.toContain('data-testid="conflicts"');
    expect(dialog(null)).not.toContain('data-testid="conflicts"');
  });
});
