// Key dispatch of the workspace: a key press and the page's state to the one
// thing it does. ./keymap.ts says which action a key names; here that action
// meets the state (is there a video, a draft, a preview, such a label?) and
// becomes a command with everything resolved, which the actions run
// (`Actions.run` in ./actions.ts). Pure, so each key can be tested per tool and
// mode without a page.

import { resizeBrush } from "./draw";
import { actionFor, isTyping, type KeyInput, type Tool } from "./keymap";
import type { WorkspaceState } from "./state";
import { nextKeyframe, step } from "./timeline";
import { cycleCandidate, enterAction } from "./tools";

export type Command =
  /** A bound key with nothing to do in this state (the key is still the workspace's). */
  | { type: "none" }
  /** Another frame; `trace` names the timing the benchmarks read (`window.__argusTrace`). */
  | { type: "goto"; frame: number; trace?: "step" }
  | { type: "togglePlay" }
  | { type: "zoomFit" }
  | { type: "zoomOneToOne" }
  | { type: "zoomBy"; factor: number }
  | { type: "undo" }
  | { type: "redo" }
  /** Enter while drawing: the frame view stores the polygon, polyline or points. */
  | { type: "finishDraft" }
  /** Enter with a SAM preview: stores the shown candidate. */
  | { type: "accept" }
  | { type: "cancel" }
  | { type: "removeVertex" }
  | { type: "brushRadius"; radius: number }
  | { type: "toggleHole" }
  | { type: "copyToNext" }
  | { type: "delete"; track: string | null; wholeObject: boolean }
  | { type: "relabel"; track: string | null; labelId: string }
  | { type: "toggleHidden"; track: string | null }
  | { type: "toggleLock"; track: string | null }
  | { type: "importDialog" }
  /** T / Shift+T: propagate the selected object (the action says why when it cannot). */
  | { type: "propagate"; direction: "forward" | "backward" }
  | { type: "candidate"; rank: number }
  | { type: "tool"; tool: Tool }
  | { type: "label"; index: number }
  | { type: "help" };

/** What a key event brings: the key and where it was typed. */
export interface KeyEvent extends KeyInput {
  target?: unknown;
}

const NONE: Command = { type: "none" };

/** The command for a key press in state `ws`, or null when the key is not the workspace's
 *  (unbound, or typed into a text field). `hasDraft`: the frame view has a shape being drawn. */
export function commandFor(e: KeyEvent, ws: WorkspaceState, hasDraft: boolean): Command | null {
  if (isTyping(e.target as { tagName?: string; isContentEditable?: boolean } | null)) return null;
  const a = actionFor(e);
  if (!a) return null;
  const labels = ws.detail?.project.labels ?? [];
  switch (a.type) {
    case "step": {
      if (!ws.video) return NONE;
      const to = step(ws.frame, a.delta, ws.video.frame_count);
      return to === ws.frame ? NONE : { type: "goto", frame: to, trace: "step" };
    }
    case "nextKeyframe": {
      const k = ws.timeline ? nextKeyframe(ws.timeline.frames, ws.frame, a.direction) : null;
      return k === null ? NONE : { type: "goto", frame: k };
    }
    case "zoomIn":
      return { type: "zoomBy", factor: 1.25 };
    case "zoomOut":
      return { type: "zoomBy", factor: 0.8 };
    case "accept": {
      const what = enterAction(ws.tools, hasDraft);
      return what ? { type: what } : NONE;
    }
    case "brushSize":
      return { type: "brushRadius", radius: resizeBrush(ws.brushRadius, a.direction) };
    case "deleteShape":
    case "deleteObject":
      return { type: "delete", track: ws.selectedTrack, wholeObject: a.type === "deleteObject" };
    case "relabel":
      return a.index < labels.length ? { type: "relabel", track: ws.selectedTrack, labelId: labels[a.index].id } : NONE;
    case "toggleHidden":
    case "toggleLock":
      return { type: a.type, track: ws.selectedTrack };
    case "nextCandidate": {
      const rank = cycleCandidate(ws.tools);
      return rank === null ? NONE : { type: "candidate", rank };
    }
    case "label":
      return a.index < labels.length ? { type: "label", index: a.index } : NONE;
    case "togglePlay":
    case "zoomFit":
    case "zoomOneToOne":
    case "undo":
    case "redo":
    case "cancel":
    case "removeVertex":
    case "toggleHole":
    case "copyToNext":
    case "importDialog":
    case "propagate":
    case "tool":
    case "help":
      return a;
  }
}

/** The window's keydown handler: a key that is the workspace's loses its default
 *  (Tab does not move the focus, Space does not scroll) and its command runs. */
export function handleKey(
  e: KeyEvent & { preventDefault(): void },
  ws: WorkspaceState,
  hasDraft: boolean,
  run: (c: Command) => unknown,
): Command | null {
  const c = commandFor(e, ws, hasDraft);
  if (!c) return null;
  e.preventDefault();
  run(c);
  return c;
}
