// The keyboard map of the annotation workspace: key events to actions.
// One table, so the help overlay lists exactly what the handler does.

export type Action =
  | { type: "step"; delta: number }
  | { type: "nextKeyframe"; direction: 1 | -1 }
  | { type: "togglePlay" }
  | { type: "zoomFit" }
  | { type: "zoomOneToOne" }
  | { type: "zoomIn" }
  | { type: "zoomOut" }
  | { type: "undo" }
  | { type: "redo" }
  | { type: "accept" }
  | { type: "cancel" }
  | { type: "nextCandidate" }
  | { type: "tool"; tool: Tool }
  | { type: "label"; index: number }
  | { type: "help" }
  | { type: "removeVertex" }
  | { type: "brushSize"; direction: 1 | -1 }
  | { type: "toggleHole" }
  | { type: "copyToNext" }
  | { type: "deleteShape" }
  | { type: "deleteObject" }
  | { type: "relabel"; index: number }
  | { type: "toggleHidden" }
  | { type: "toggleLock" }
  | { type: "importDialog" }
  | { type: "propagate"; direction: "forward" | "backward" };

export type Tool = "select" | "sam" | "brush" | "eraser" | "polygon" | "box" | "points" | "polyline";

export const TOOLS: Tool[] = ["select", "sam", "brush", "eraser", "polygon", "box", "points", "polyline"];

/** The parts of a KeyboardEvent the map looks at. */
export interface KeyInput {
  key: string;
  /** The physical key (`Digit1`), for Shift+digit on any layout. */
  code?: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  shiftKey?: boolean;
  altKey?: boolean;
}

export interface Binding {
  keys: string;
  description: string;
}

/** What the help overlay shows, in order. */
export const BINDINGS: Binding[] = [
  { keys: "← / →", description: "previous / next frame" },
  { keys: "Shift + ← / →", description: "10 frames back / forward" },
  { keys: "[ / ]", description: "previous / next keyframe" },
  { keys: "Space", description: "play / pause" },
  { keys: "F / 0", description: "fit / 1:1" },
  { keys: "+ / -", description: "zoom in / out" },
  { keys: "Ctrl+Z / Ctrl+Shift+Z, Ctrl+Y", description: "undo / redo" },
  { keys: "V S B E P R K L", description: "tools: select, SAM, brush, eraser, polygon, box, points, polyline" },
  { keys: "Enter", description: "accept the SAM mask / finish the polygon, polyline or points" },
  { keys: "Tab", description: "next SAM candidate" },
  { keys: "Esc", description: "cancel the current prompt or drawing" },
  { keys: "Backspace", description: "remove the last vertex while drawing" },
  { keys: ", / .", description: "brush smaller / larger" },
  { keys: "H", description: "polygon tool: the next polygon cuts a hole in the selected object" },
  { keys: "Ctrl+click", description: "select the object under the cursor (any tool)" },
  { keys: "C", description: "copy the selected object's shape to the next frame (and go there)" },
  { keys: "Delete", description: "delete the selected object's shape on this frame" },
  { keys: "Shift+Delete", description: "delete the selected object on every frame" },
  { keys: "1 … 9", description: "pick a label" },
  { keys: "Shift+1 … 9", description: "move the selected object to that label" },
  { keys: "O / X", description: "hide / lock the selected object" },
  { keys: "T / Shift+T", description: "propagate the selected object forward / backward with SAM (to the next keyframe, or the frame limit)" },
  { keys: "Ctrl+O", description: "import videos (file dialog)" },
  { keys: "?", description: "this help" },
];

const TOOL_KEYS: Record<string, Tool> = {
  v: "select",
  s: "sam",
  b: "brush",
  e: "eraser",
  p: "polygon",
  r: "box",
  k: "points",
  l: "polyline",
};

/** The action for a key press, or null when the key is not bound. */
export function actionFor(e: KeyInput): Action | null {
  const mod = Boolean(e.ctrlKey || e.metaKey);
  const key = e.key;
  const lower = key.length === 1 ? key.toLowerCase() : key;
  if (mod) {
    if (lower === "z") return e.shiftKey ? { type: "redo" } : { type: "undo" };
    if (lower === "y") return { type: "redo" };
    if (lower === "o") return { type: "importDialog" };
    return null;
  }
  if (e.altKey) return null;
  const digit = /^Digit([1-9])$/.exec(e.code ?? "");
  if (e.shiftKey && digit) return { type: "relabel", index: Number(digit[1]) - 1 };
  switch (key) {
    case "ArrowRight":
      return { type: "step", delta: e.shiftKey ? 10 : 1 };
    case "ArrowLeft":
      return { type: "step", delta: e.shiftKey ? -10 : -1 };
    case "]":
      return { type: "nextKeyframe", direction: 1 };
    case "[":
      return { type: "nextKeyframe", direction: -1 };
    case " ":
      return { type: "togglePlay" };
    case "0":
      return { type: "zoomOneToOne" };
    case "+":
    case "=":
      return { type: "zoomIn" };
    case "-":
      return { type: "zoomOut" };
    case "Enter":
      return { type: "accept" };
    case "Backspace":
      return { type: "removeVertex" };
    case "Delete":
      return e.shiftKey ? { type: "deleteObject" } : { type: "deleteShape" };
    case ",":
      return { type: "brushSize", direction: -1 };
    case ".":
      return { type: "brushSize", direction: 1 };
    case "Escape":
      return { type: "cancel" };
    case "Tab":
      return { type: "nextCandidate" };
    case "?":
      return { type: "help" };
  }
  if (/^[1-9]$/.test(key)) return { type: "label", index: Number(key) - 1 };
  if (lower === "f") return { type: "zoomFit" };
  if (lower === "h") return { type: "toggleHole" };
  if (lower === "c") return { type: "copyToNext" };
  if (lower === "o") return { type: "toggleHidden" };
  if (lower === "x") return { type: "toggleLock" };
  if (lower === "t") return { type: "propagate", direction: e.shiftKey ? "backward" : "forward" };
  const tool = TOOL_KEYS[lower];
  if (tool) return { type: "tool", tool };
  return null;
}

/** Whether key presses should go to a text field instead of the workspace. */
export function isTyping(target: { tagName?: string; isContentEditable?: boolean } | null): boolean {
  if (!target) return false;
  const tag = (target.tagName ?? "").toUpperCase();
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || Boolean(target.isContentEditable);
}
