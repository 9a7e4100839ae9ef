// The tool state of the workspace: which tool is active, whether the next
// polygon cuts a hole, and the SAM prompt with its preview. Pure transitions
// over plain data, so what each tool does with a click, a box, Enter or Esc is
// written (and tested) once, and the page only stores the result.
//
// The vertices of a polygon, polyline or points being drawn live in the frame
// view (they follow the pointer at every move); it drops them itself whenever
// `tool` changes, so switching tools cancels a half-drawn shape.

import type { BoxPx, SamCandidate, SamPreview, SamPrompt } from "./bindings";
import type { Tool } from "./keymap";
import { addPoint, emptyPrompt, nextCandidate } from "./sam";

export interface ToolState {
  tool: Tool;
  /** The next polygon cuts a hole into the selected object instead of being a new shape. */
  holeMode: boolean;
  /** SAM clicks and box on the current frame. */
  prompt: SamPrompt;
  /** The shell's candidates for `prompt` once it predicted them; null while there are none. */
  preview: SamPreview | null;
  /** The candidate shown (and stored by Enter). */
  candidate: number;
}

/** The workspace opens on the SAM tool with nothing pending. */
export function initialTools(): ToolState {
  return { tool: "sam", holeMode: false, prompt: emptyPrompt(), preview: null, candidate: 0 };
}

/** Another tool (a key or the toolbar). Hole mode is a polygon-tool mode and ends with it;
 *  the SAM prompt stays, so coming back to SAM finds it. */
export function chooseTool(s: ToolState, tool: Tool): ToolState {
  return { ...s, tool, holeMode: false };
}

/** The toolbar's hole button: flips hole mode as it is (the button only shows with the polygon tool). */
export function flipHole(s: ToolState): ToolState {
  return { ...s, holeMode: !s.holeMode };
}

/** H: hole mode needs an object to cut into; it switches to the polygon tool. `status` is what to tell the user. */
export function toggleHole(s: ToolState, hasSelection: boolean): { tools: ToolState; status: string } {
  if (!hasSelection) return { tools: s, status: "select the object to cut a hole into first" };
  const holeMode = !s.holeMode;
  return {
    tools: { ...s, tool: "polygon", holeMode },
    status: holeMode ? "draw the hole's outline; Enter closes it" : "",
  };
}

/** Whether the shell holds a prediction that dropping the prompt must clear (`sam_clear`). */
export function hasShellPreview(s: ToolState): boolean {
  return s.preview !== null;
}

/** Drops the SAM prompt and its preview (another frame, another video, Esc). */
export function dropPrompt(s: ToolState): ToolState {
  return { ...s, prompt: emptyPrompt(), preview: null, candidate: 0 };
}

/** Esc: drops the SAM prompt and leaves hole mode (the frame view drops its draft). */
export function cancel(s: ToolState): ToolState {
  return { ...dropPrompt(s), holeMode: false };
}

/** Whether a finished draft of vertex tool `t` cuts a hole rather than being a new shape. */
export function cutsHole(s: ToolState, t: Tool): boolean {
  return t === "polygon" && s.holeMode;
}

/** The hole is drawn: the next polygon is a shape again. */
export function holeDone(s: ToolState): ToolState {
  return { ...s, holeMode: false };
}

/** A click on the frame adds a SAM point with the SAM tool; null when the tool ignores clicks
 *  (the other tools' clicks are vertices, handled by the frame view). */
export function samClick(s: ToolState, x: number, y: number, positive: boolean): ToolState | null {
  if (s.tool !== "sam") return null;
  return { ...s, prompt: addPoint(s.prompt, x, y, positive) };
}

/** What a dragged box means for each tool: the SAM box prompt, a bbox shape, or nothing. */
export function boxMeaning(s: ToolState): "samPrompt" | "shape" | null {
  if (s.tool === "sam") return "samPrompt";
  if (s.tool === "box") return "shape";
  return null;
}

/** The SAM prompt with the dragged box (a new box replaces the old one). */
export function samBox(s: ToolState, b: BoxPx): ToolState {
  return { ...s, prompt: { ...s.prompt, bbox: b } };
}

/** A new prediction: its best candidate is shown first. */
export function previewed(s: ToolState, p: SamPreview): ToolState {
  return { ...s, preview: p, candidate: 0 };
}

/** After the shown candidate was stored: nothing pending. */
export function accepted(s: ToolState): ToolState {
  return { ...s, prompt: emptyPrompt(), preview: null };
}

/** Shows candidate `rank`. */
export function showCandidate(s: ToolState, rank: number): ToolState {
  return { ...s, candidate: rank };
}

/** Tab: the candidate after the shown one, or null without a preview. */
export function cycleCandidate(s: ToolState): number | null {
  return s.preview ? nextCandidate(s.candidate, s.preview.candidates.length) : null;
}

/** Whether candidate `rank`'s mask is still to be built by the shell (its area is unknown). */
export function needsCandidate(s: ToolState, rank: number): boolean {
  return s.preview !== null && s.preview.candidates[rank]?.area === null;
}

/** Candidate `rank` (`c`, with its area) arrived for preview `p`; a newer prediction since then wins. */
export function candidateArrived(s: ToolState, p: SamPreview, rank: number, c: SamCandidate): ToolState {
  if (s.preview !== p) return s;
  return { ...s, preview: { ...p, candidates: p.candidates.map((x) => (x.rank === rank ? c : x)) } };
}

/** Enter: a shape being drawn is finished first; else the SAM candidate is accepted when there is one. */
export function enterAction(s: ToolState, hasDraft: boolean): "finishDraft" | "accept" | null {
  if (hasDraft) return "finishDraft";
  return s.preview ? "accept" : null;
}

/** The candidate the frame URL asks for: only on the frame it was predicted on. */
export function previewRank(s: ToolState, frame: number): number | null {
  return s.preview && s.preview.frame === frame ? s.candidate : null;
}
