// Sync conflicts as the Team dialog's Conflicts section shows them (components/ConflictsSection.svelte):
// a shape edited here and on another device before they synced keeps the newer version, and the
// other one is kept aside until the user settles it. The line each conflict reads as, the labels and
// titles of its buttons, and reading and settling them as runs over a plain state object: the dialog
// makes the object reactive; the tests hand it a plain one and a fake API.

import { errorMessage, type Api } from "./api";
import type { ConflictInfo, ConflictKeep, ConflictSide, ConflictsSettled } from "./bindings";
import { shownFrame } from "./track";

const pad = (n: number) => String(n).padStart(2, "0");

/** "14:02" (local time) when `ms` is on `now`'s day, else "2027-01-14 14:02". */
export function conflictTime(ms: number, now: number): string {
  const t = new Date(ms);
  const today = new Date(now);
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}`;
  const sameDay = t.getFullYear() === today.getFullYear() && t.getMonth() === today.getMonth() && t.getDate() === today.getDate();
  return sameDay ? time : `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${time}`;
}

/** Whose each side is, [current, other]: "yours" for one made here, "another device's version"
 *  for one made elsewhere; when both are yours (or both another device's), the earlier one says so. */
export function owners(c: ConflictInfo): [string, string] {
  const { current, other } = c;
  if (current.here !== other.here) return current.here ? ["yours", "another device's version"] : ["another device's version", "yours"];
  const otherEarlier = other.at_ms <= current.at_ms;
  if (current.here) return otherEarlier ? ["yours", "an earlier edit of yours"] : ["an earlier edit of yours", "yours"];
  return otherEarlier ? ["another device's version", "another device's earlier version"] : ["another device's earlier version", "another device's version"];
}

/** One side: "yours (a bbox, 14:05)", "another device's version (deleted, 2027-01-14 13:02)". */
function sideText(owner: string, s: ConflictSide, now: number): string {
  return `${owner} (${s.what}, ${conflictTime(s.at_ms, now)})`;
}

/** Where the conflict is: "car #3 on frame 4" (frames counted from 1, as the timeline does). */
export function conflictPlace(c: ConflictInfo): string {
  return `${c.object} on frame ${shownFrame(c.frame)}`;
}

/** The conflict in a line: "car #3 on frame 4: another device's version (a mask, 14:02) is
 *  current; yours (a bbox, 13:58) is kept aside". */
export function conflictLine(c: ConflictInfo, now: number): string {
  const [current, other] = owners(c);
  return `${conflictPlace(c)}: ${sideText(current, c.current, now)} is current; ${sideText(other, c.other, now)} is kept aside`;
}

/** The button that keeps the version the project has now. */
export const KEEP_LABEL = "Keep current";
export const KEEP_TITLE = "Keep the version the project has now; the one kept aside is dropped";

/** The button that puts the other version back: "Restore yours" or "Restore theirs". */
export function restoreLabel(c: ConflictInfo): string {
  return c.other.here ? "Restore yours" : "Restore theirs";
}

/** What Restore does, for its title. */
export function restoreTitle(c: ConflictInfo): string {
  const what = c.other.what === "deleted" ? "Delete the shape again" : `Put ${owners(c)[1]} (${c.other.what}) back`;
  return `${what}, as a new edit (one undo step, synced to the team)`;
}

/** Why Restore is disabled, or null when it is not: a shape of an object deleted since has nowhere
 *  to go (a delete can still be restored: there is nothing left to delete). */
export function restoreBlocked(c: ConflictInfo): string | null {
  return c.video_id === null && c.other.what !== "deleted" ? "The object was deleted since, so this version has nowhere to go: keep the current one" : null;
}

/** Why Show is disabled, or null when it is not. */
export function showBlocked(c: ConflictInfo): string | null {
  return c.video_id === null ? "The object was deleted since: there is nothing to show" : null;
}

/** What settling did, in a sentence: "car #3 on frame 4: kept the current version". */
export function settledLine(c: ConflictInfo, keep: ConflictKeep): string {
  if (keep === "current") return `${conflictPlace(c)}: kept the current version`;
  const what = c.other.what === "deleted" ? "deleted the shape again" : `restored ${owners(c)[1]} (${c.other.what})`;
  return `${conflictPlace(c)}: ${what}; Undo takes it back`;
}

/** What the Conflicts section shows: the open project's conflicts, the step running and how the
 *  last one went. */
export interface ConflictsState {
  /** The project whose conflicts these are (or are being read). */
  projectId: string;
  list: ConflictInfo[];
  /** The list has been read once. */
  loaded: boolean;
  /** What runs now ("reading the conflicts"); "" when nothing does. */
  busy: string;
  /** Why the last step failed. */
  error: string;
  /** What the last settling did. */
  message: string;
}

export function initialConflicts(projectId = ""): ConflictsState {
  return { projectId, list: [], loaded: false, busy: "", error: "", message: "" };
}

/** Told of every failure (the dialog reads the account again when the session ended). */
export type OnFailure = (e: unknown) => void;

/** Reads the project's conflicts (a new project starts the section afresh). A failure is shown;
 *  the last outcome stays on screen. An answer that comes after the section moved to another
 *  project is dropped. */
export async function loadConflicts(api: Pick<Api, "conflicts">, s: ConflictsState, projectId: string, onfail?: OnFailure) {
  if (s.projectId !== projectId) Object.assign(s, initialConflicts(projectId));
  s.busy = "reading the conflicts";
  try {
    const list = await api.conflicts(projectId);
    if (s.projectId !== projectId) return;
    s.list = list;
    s.loaded = true;
  } catch (e) {
    if (s.projectId === projectId) s.error = errorMessage(e);
    onfail?.(e);
  } finally {
    if (s.projectId === projectId) s.busy = "";
  }
}

/** Settles `c`: keeps the current version, or puts the other one back. The list becomes the
 *  conflicts left; the answer (with the undo history) is returned for the page to take in. When
 *  it was settled already (another window) the list is read again; a refusal (the object was
 *  deleted since) is shown and the conflict stays. */
export async function settleConflict(
  api: Pick<Api, "resolveConflict" | "conflicts">,
  s: ConflictsState,
  c: ConflictInfo,
  keep: ConflictKeep,
  onfail?: OnFailure,
): Promise<ConflictsSettled | undefined> {
  const project = s.projectId;
  s.busy = keep === "current" ? `keeping the current version of ${c.object}` : `restoring the other version of ${c.object}`;
  s.error = "";
  s.message = "";
  let r: ConflictsSettled;
  try {
    r = await api.resolveConflict(project, c.id, keep);
  } catch (e) {
    onfail?.(e);
    if (s.projectId !== project) return undefined;
    s.busy = "";
    // Settled already: the list is read again, so its row goes (the error still says why).
    if ((e as { kind?: string } | null)?.kind === "not_found") await loadConflicts(api, s, project, onfail);
    if (s.projectId === project) s.error = errorMessage(e);
    return undefined;
  }
  if (s.projectId !== project) return undefined;
  s.busy = "";
  s.list = r.conflicts;
  s.message = settledLine(c, keep);
  return r;
}
