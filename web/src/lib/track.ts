// Propagation of the selected object with SAM (components/TrackPanel.svelte, the T keys):
// the form (a frame limit, stop at doubtful frames), the options the shell's
// propagate_track takes, why the buttons are disabled, one run's state (./run.ts:
// idle -> running with `track-progress` events -> done with the summary, or failed),
// the texts the panel shows and the frames the timeline marks. Also the object list's
// badge for shapes that were derived or propagated rather than drawn.

import type { PropagateDirection, PropagateOptions, PropagateSummary, PropagatedFlag, ShapeInfo, TrackProgress } from "./bindings";
import { countText, initialRun, plural, runProgress, type RunState } from "./run";
import type { WorkspaceState } from "./state";

/** The propagation form. `limit` may be null or NaN while the field is empty or being typed. */
export interface TrackForm {
  /** At most this many frames; empty: up to the object's next keyframe or the video's end. */
  limit: number | null;
  /** Stop at the first doubtful frame instead of writing it and flagging it. */
  stopOnDoubt: boolean;
}

export function initialTrackForm(): TrackForm {
  return { limit: null, stopOnDoubt: false };
}

/** When the shell doubts a frame (as its PropagateOptions' defaults): the predicted IoU below
 *  `minScore`, the area changed by more than `maxAreaChange` (a fraction), the centre moved more
 *  than `maxJump` times the object's size. */
export const DOUBT = { minScore: 0.5, maxAreaChange: 0.5, maxJump: 0.5 } as const;

const isNumber = (n: number | null): n is number => typeof n === "number" && Number.isFinite(n);

/** Whether the frame limit field is empty (no limit). */
const noLimit = (limit: number | null | undefined) => limit === null || limit === undefined || Number.isNaN(limit);

/** What is wrong with the frame limit, or null. */
export function limitProblem(limit: number | null): string | null {
  if (noLimit(limit)) return null;
  if (!isNumber(limit) || limit < 1 || !Number.isInteger(limit)) {
    return "the frame limit is a whole number, 1 or more (empty: up to the next keyframe)";
  }
  return null;
}

/** The options propagate_track takes, from the form (see `limitProblem` for what must hold). */
export function propagateOptions(direction: PropagateDirection, form: TrackForm): PropagateOptions {
  return {
    direction,
    maxFrames: isNumber(form.limit) && form.limit >= 1 ? Math.round(form.limit) : null,
    minScore: DOUBT.minScore,
    maxAreaChange: DOUBT.maxAreaChange,
    maxJump: DOUBT.maxJump,
    stopOnDoubt: form.stopOnDoubt,
  };
}

/** One propagation run: where it started, and the run itself. */
export interface TrackRun extends RunState<TrackProgress, PropagateSummary> {
  direction: PropagateDirection;
  videoId: string;
  trackId: string;
  /** The frame it started from. */
  start: number;
}

export function initialTrackRun(): TrackRun {
  return { ...initialRun<TrackProgress, PropagateSummary>(), direction: "forward", videoId: "", trackId: "", start: 0 };
}

/** A `track-progress` event: kept while the run it belongs to is going. */
export function trackProgress(run: TrackRun, p: TrackProgress) {
  if (p.videoId === run.videoId && p.trackId === run.trackId) runProgress(run, p);
}

/** The kinds of shapes propagation follows. */
const FOLLOWED = ["mask", "polygon", "bbox"];

const DIRECTION_WORD: Record<PropagateDirection, string> = { forward: "forward", backward: "backward" };

/** Frames as the page shows them (the timeline counts from 1). */
export const shownFrame = (f: number) => f + 1;

/** Why propagating the selected object `direction` cannot start now, or null when it can. */
export function propagateBlocked(ws: WorkspaceState, direction: PropagateDirection): string | null {
  const v = ws.video;
  if (!v) return "open a video first";
  if (ws.track.phase === "running") return "a propagation is running: wait for it to finish or cancel it";
  if (!ws.samModel) return "load a SAM model first (SAM model, on the left)";
  const track = ws.selectedTrack;
  if (!track) return "select an object first (click it in the list, or Ctrl+click it)";
  if (ws.locked.includes(track)) return "the selected object is locked; unlock it (X) first";
  const shape = ws.shapes.find((s) => s.track_id === track);
  if (!shape) return "the selected object has no shape on this frame: go to a frame where it has one";
  if (!FOLLOWED.includes(shape.kind)) return `propagation follows a mask, polygon or box; this object's shape here is a ${shape.kind}`;
  const limit = limitProblem(ws.trackForm.limit);
  if (limit) return limit;
  const next = direction === "forward" ? ws.frame + 1 : ws.frame - 1;
  if (next < 0) return "this is the first frame: nothing precedes it";
  if (next >= v.frame_count) return "this is the video's last frame: nothing follows it";
  const keyframes = ws.timeline?.tracks.find((t) => t.track_id === track)?.keyframes ?? [];
  if (keyframes.includes(next)) {
    return `the ${direction === "forward" ? "next" : "previous"} frame is a keyframe of this object: there is nothing to propagate to`;
  }
  return null;
}

/** The button's title: what it does, or why it is disabled. */
export function propagateTitle(ws: WorkspaceState, direction: PropagateDirection): string {
  const why = propagateBlocked(ws, direction);
  const key = direction === "forward" ? "T" : "Shift+T";
  if (why) return `Propagate ${DIRECTION_WORD[direction]} (${key}): ${why}`;
  const limit = ws.trackForm.limit;
  const upTo = isNumber(limit) && limit >= 1
    ? `over at most ${plural(Math.round(limit), "frame")}, up to the ${direction === "forward" ? "next" : "previous"} keyframe`
    : `up to the ${direction === "forward" ? "next" : "previous"} keyframe or the video's ${direction === "forward" ? "end" : "start"}`;
  return `Propagate the selected object's shape ${DIRECTION_WORD[direction]} with SAM, ${upTo} (${key})`;
}

/** The line under the progress bar: "frame 12 · 11 / 30 (36%) · 1 doubtful". */
export function trackProgressText(p: TrackProgress | null): string {
  if (!p) return "starting: encoding the first frames…";
  const doubts = p.flagged > 0 ? ` · ${p.flagged} doubtful` : "";
  return `frame ${shownFrame(p.frame)} · ${countText(p)}${doubts}`;
}

/** The frames a run wrote, "frames 2–31" (or "frame 2"), or "" when it wrote none. */
export function writtenRange(s: PropagateSummary): string {
  if (s.lastFrame === null || s.written === 0) return "";
  const a = Math.min(s.start + (s.lastFrame > s.start ? 1 : -1), s.lastFrame);
  const b = Math.max(s.start + (s.lastFrame > s.start ? 1 : -1), s.lastFrame);
  return a === b ? `frame ${shownFrame(a)}` : `frames ${shownFrame(a)}–${shownFrame(b)}`;
}

/** The summary's lines: what was written (and replaced), where it stopped and why, whether it
 *  was cancelled, and how to undo it. */
export function trackSummaryLines(s: PropagateSummary): string[] {
  const lines: string[] = [];
  const range = writtenRange(s);
  if (s.written > 0) {
    const replaced = s.replaced > 0 ? `, replacing ${plural(s.replaced, "earlier propagated shape")}` : "";
    lines.push(`Propagated to ${plural(s.written, "frame")} (${range}) from frame ${shownFrame(s.start)}${replaced}.`);
  } else {
    lines.push(`Nothing propagated from frame ${shownFrame(s.start)}${s.replaced > 0 ? `; ${plural(s.replaced, "earlier propagated shape")} removed` : ""}.`);
  }
  if (s.stopped) lines.push(`Stopped at frame ${shownFrame(s.stopped.frame)}: ${s.stopped.reason}.`);
  if (s.cancelled) lines.push("Cancelled: what was written so far stays.");
  if (s.flagged.length > 0) lines.push(`${plural(s.flagged.length, "doubtful frame")} written and flagged: check them.`);
  if (s.written > 0 || s.replaced > 0) lines.push("Ctrl+Z undoes the whole run in one step.");
  return lines;
}

/** The frames the timeline marks: the last run's doubtful frames (flagged, and the one it
 *  stopped at) when it ran on video `videoId`. */
export function doubtMarks(run: TrackRun, videoId: string | undefined): PropagatedFlag[] {
  const s = run.summary;
  if (run.phase !== "done" || !s || s.videoId !== videoId) return [];
  return s.stopped ? [...s.flagged, s.stopped] : s.flagged;
}

/** How a shape came to be, when that is not by hand: the object list's badge. */
export interface ShapeBadge {
  text: string;
  title: string;
}

export function shapeBadge(s: Pick<ShapeInfo, "source" | "score">): ShapeBadge | null {
  if (s.source === "interpolated") {
    return {
      text: "interpolated",
      title: "Interpolated between this object's keyframes (derived, not stored): editing it makes it a keyframe",
    };
  }
  if (s.source === "propagated") {
    const score = s.score === null ? "" : ` ${s.score.toFixed(2)}`;
    return {
      text: `propagated${score}`,
      title: `Propagated by SAM from a keyframe${s.score === null ? "" : `; the model's predicted IoU is ${s.score.toFixed(2)}`}. Check it; correct it and propagate again from here to redo the frames after it`,
    };
  }
  return null;
}

/** Why a shape cannot be deleted on its own, or null: an interpolated one is not stored. */
export function deleteBlocked(s: Pick<ShapeInfo, "source">): string | null {
  return s.source === "interpolated"
    ? "interpolated between this object's keyframes, not stored: delete one of those keyframes, or edit it here to make this frame a keyframe"
    : null;
}
