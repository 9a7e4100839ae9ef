// One long-running command as the page shows it: an export or import
// (./transfer.ts) or a propagation (./track.ts). The command runs; progress
// events arrive while it does; Cancel asks the shell to stop it; it ends with
// its summary, its error's message, or as cancelled (a command that fails with
// the `cancelled` kind). The components make the state reactive; the tests hand
// them plain objects.

import { errorMessage } from "./api";

/** Where a run is: not started (the form), running, or how it ended. */
export type RunPhase = "idle" | "running" | "done" | "failed" | "cancelled";

/** One run of a command that reports progress `P` and answers summary `S`. */
export interface RunState<P, S> {
  phase: RunPhase;
  /** The last progress event of this run. */
  progress: P | null;
  summary: S | null;
  /** The CommandError's message when it failed (or when Cancel failed). */
  error: string;
  /** Cancel was pressed; the run has not stopped yet. */
  cancelling: boolean;
}

export function initialRun<P, S>(): RunState<P, S> {
  return { phase: "idle", progress: null, summary: null, error: "", cancelling: false };
}

/** Runs `work` (the command) as `t`'s run: the summary when it ends, the error's message
 *  when it fails, "cancelled" when it failed as cancelled. */
export async function startRun<P, S>(t: RunState<P, S>, work: () => Promise<S>): Promise<S | null> {
  t.phase = "running";
  t.progress = null;
  t.summary = null;
  t.error = "";
  t.cancelling = false;
  try {
    const s = await work();
    t.summary = s;
    t.phase = "done";
    return s;
  } catch (e) {
    const kind = e && typeof e === "object" && "kind" in e ? (e as { kind: unknown }).kind : null;
    if (kind === "cancelled") {
      t.phase = "cancelled";
    } else {
      t.phase = "failed";
      t.error = errorMessage(e);
    }
    return null;
  } finally {
    t.cancelling = false;
  }
}

/** A progress event: kept while a run is going (a late one after the end is dropped). */
export function runProgress<P, S>(t: RunState<P, S>, p: P) {
  if (t.phase === "running") t.progress = p;
}

/** Cancel: asks the shell to stop the running command (`cancel`), once. */
export async function cancelRun<P, S>(t: RunState<P, S>, cancel: () => Promise<unknown>) {
  if (t.phase !== "running" || t.cancelling) return;
  t.cancelling = true;
  try {
    await cancel();
  } catch (e) {
    t.cancelling = false;
    t.error = errorMessage(e);
  }
}

/** Back to the start (after a run, to change something and start again). */
export function resetRun<P, S>(t: RunState<P, S>) {
  Object.assign(t, initialRun<P, S>());
}

/** How far a run is: `done` of `total` (0 when unknown). */
export interface Count {
  done: number;
  total: number;
}

/** The progress bar's fill, 0 to 1; null while the total is unknown (a run that counts up). */
export function progressFraction(p: Count | null): number | null {
  if (!p || p.total <= 0) return null;
  return Math.min(1, Math.max(0, p.done / p.total));
}

/** "32 / 120 (26%)", or "2048" when the total is unknown. */
export function countText(p: Count): string {
  if (p.total <= 0) return `${p.done}`;
  const pct = Math.floor((100 * Math.min(p.done, p.total)) / p.total);
  return `${p.done} / ${p.total} (${pct}%)`;
}

/** "1 frame", "3 frames". */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
