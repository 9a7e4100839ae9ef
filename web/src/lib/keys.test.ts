import { describe, expect, it } from "vitest";
import { openWorkspace, samPreview } from "./fixtures";
import { commandFor, handleKey, type Command, type KeyEvent } from "./keys";
import type { Tool } from "./keymap";
import { initialState } from "./state";
import { chooseTool, flipHole, previewed, samClick, showCandidate } from "./tools";

const key = (k: string, more: Partial<KeyEvent> = {}): KeyEvent => ({ key: k, ...more });

/** The workspace on frame 5 with a SAM click predicted into three candidates. */
function withPreview(frame = 5) {
  const ws = openWorkspace(frame);
  ws.tools = showCandidate(previewed(samClick(ws.tools, 1, 2, true)!, samPreview(frame)), 0);
  return ws;
}

describe("key dispatch", () => {
  it("keys typed into a field, and unbound keys, are not the workspace's", () => {
    const ws = openWorkspace();
    expect(commandFor(key("ArrowRight", { target: { tagName: "INPUT" } }), ws, false)).toBeNull();
    expect(commandFor(key("Enter", { target: { tagName: "TEXTAREA" } }), ws, true)).toBeNull();
    expect(commandFor(key("s", { target: { tagName: "SELECT" } }), ws, false)).toBeNull();
    expect(commandFor(key("q"), ws, false)).toBeNull();
    expect(commandFor(key("ArrowRight", { target: { tagName: "CANVAS" } }), ws, false)).toEqual({
      type: "goto",
      frame: 1,
      trace: "step",
    });
  });

  it("arrows step (traced for the benchmarks), clamped to the video; nothing without a video", () => {
    expect(commandFor(key("ArrowRight"), openWorkspace(5), false)).toEqual({ type: "goto", frame: 6, trace: "step" });
    expect(commandFor(key("ArrowLeft"), openWorkspace(5), false)).toEqual({ type: "goto", frame: 4, trace: "step" });
    expect(commandFor(key("ArrowRight", { shiftKey: true }), openWorkspace(95), false)).toEqual({
      type: "goto",
      frame: 99,
      trace: "step",
    });
    expect(commandFor(key("ArrowRight"), openWorkspace(99), false)).toEqual({ type: "none" });
    expect(commandFor(key("ArrowLeft"), openWorkspace(0), false)).toEqual({ type: "none" });
    expect(commandFor(key("ArrowRight"), initialState(), false)).toEqual({ type: "none" });
  });

  it("[ and ] jump to the previous and next keyframe of the timeline", () => {
    expect(commandFor(key("]"), openWorkspace(10), false)).toEqual({ type: "goto", frame: 30 });
    expect(commandFor(key("["), openWorkspace(25), false)).toEqual({ type: "goto", frame: 10 });
    expect(commandFor(key("]"), openWorkspace(30), false)).toEqual({ type: "none" });
    const noTimeline = openWorkspace(0);
    noTimeline.timeline = null;
    expect(commandFor(key("]"), noTimeline, false)).toEqual({ type: "none" });
  });

  it("Enter finishes the shape being drawn in any tool, else accepts the SAM candidate", () => {
    for (const tool of ["polygon", "polyline", "points", "sam"] as Tool[]) {
      const ws = withPreview();
      ws.tools = chooseTool(ws.tools, tool);
      expect(commandFor(key("Enter"), ws, true)).toEqual({ type: "finishDraft" });
    }
    expect(commandFor(key("Enter"), withPreview(), false)).toEqual({ type: "accept" });
    expect(commandFor(key("Enter"), openWorkspace(), false)).toEqual({ type: "none" });
    const polygon = openWorkspace();
    polygon.tools = chooseTool(polygon.tools, "polygon");
    expect(commandFor(key("Enter"), polygon, false)).toEqual({ type: "none" });
  });

  it("Tab cycles SAM candidates, only while there is a preview", () => {
    const ws = withPreview();
    expect(commandFor(key("Tab"), ws, false)).toEqual({ type: "candidate", rank: 1 });
    ws.tools = showCandidate(ws.tools, 2);
    expect(commandFor(key("Tab"), ws, false)).toEqual({ type: "candidate", rank: 0 });
    expect(commandFor(key("Tab"), openWorkspace(), false)).toEqual({ type: "none" });
  });

  it("Esc, Backspace and H go to the tools whatever the state", () => {
    const ws = withPreview();
    ws.tools = flipHole(chooseTool(ws.tools, "polygon"));
    expect(commandFor(key("Escape"), ws, true)).toEqual({ type: "cancel" });
    expect(commandFor(key("Backspace"), ws, true)).toEqual({ type: "removeVertex" });
    expect(commandFor(key("h"), ws, false)).toEqual({ type: "toggleHole" });
    expect(commandFor(key("Escape"), initialState(), false)).toEqual({ type: "cancel" });
  });

  it("tool letters choose tools; Ctrl+letters are history and import", () => {
    const ws = openWorkspace();
    expect(commandFor(key("r"), ws, false)).toEqual({ type: "tool", tool: "box" });
    expect(commandFor(key("S"), ws, false)).toEqual({ type: "tool", tool: "sam" });
    expect(commandFor(key("z", { ctrlKey: true }), ws, false)).toEqual({ type: "undo" });
    expect(commandFor(key("z", { ctrlKey: true, shiftKey: true }), ws, false)).toEqual({ type: "redo" });
    expect(commandFor(key("o", { ctrlKey: true }), ws, false)).toEqual({ type: "importDialog" });
    expect(commandFor(key("o"), ws, false)).toEqual({ type: "toggleHidden", track: null });
  });

  it("digits pick one of the project's labels; Shift+digit moves the selection to it", () => {
    const ws = openWorkspace();
    ws.selectedTrack = "track-7";
    expect(commandFor(key("2"), ws, false)).toEqual({ type: "label", index: 1 });
    expect(commandFor(key("4"), ws, false)).toEqual({ type: "none" }); // three labels
    expect(commandFor(key("@", { code: "Digit2", shiftKey: true }), ws, false)).toEqual({
      type: "relabel",
      track: "track-7",
      labelId: "label-1",
    });
    expect(commandFor(key("$", { code: "Digit4", shiftKey: true }), ws, false)).toEqual({ type: "none" });
    expect(commandFor(key("1"), initialState(), false)).toEqual({ type: "none" });
  });

  it("object keys act on the selected object", () => {
    const ws = openWorkspace();
    ws.selectedTrack = "track-7";
    expect(commandFor(key("Delete"), ws, false)).toEqual({ type: "delete", track: "track-7", wholeObject: false });
    expect(commandFor(key("Delete", { shiftKey: true }), ws, false)).toEqual({
      type: "delete",
      track: "track-7",
      wholeObject: true,
    });
    expect(commandFor(key("x"), ws, false)).toEqual({ type: "toggleLock", track: "track-7" });
    expect(commandFor(key("o"), ws, false)).toEqual({ type: "toggleHidden", track: "track-7" });
    expect(commandFor(key("c"), ws, false)).toEqual({ type: "copyToNext" });
    expect(commandFor(key("t"), ws, false)).toEqual({ type: "propagate", direction: "forward" });
    expect(commandFor(key("T", { shiftKey: true }), ws, false)).toEqual({ type: "propagate", direction: "backward" });
    // typed into the frame limit field, T is a character
    expect(commandFor(key("t", { target: { tagName: "INPUT" } }), ws, false)).toBeNull();
  });

  it("brush size keys resize from the current radius", () => {
    const ws = openWorkspace();
    ws.brushRadius = 12;
    expect(commandFor(key("."), ws, false)).toEqual({ type: "brushRadius", radius: 14 });
    expect(commandFor(key(","), ws, false)).toEqual({ type: "brushRadius", radius: 10 });
    ws.brushRadius = 1;
    expect(commandFor(key(","), ws, false)).toEqual({ type: "brushRadius", radius: 1 });
  });

  it("view and playback keys", () => {
    const ws = openWorkspace();
    expect(commandFor(key(" "), ws, false)).toEqual({ type: "togglePlay" });
    expect(commandFor(key("f"), ws, false)).toEqual({ type: "zoomFit" });
    expect(commandFor(key("0"), ws, false)).toEqual({ type: "zoomOneToOne" });
    expect(commandFor(key("+"), ws, false)).toEqual({ type: "zoomBy", factor: 1.25 });
    expect(commandFor(key("-"), ws, false)).toEqual({ type: "zoomBy", factor: 0.8 });
    expect(commandFor(key("?"), ws, false)).toEqual({ type: "help" });
  });

  it("the handler takes the workspace's keys from the browser, even those with nothing to do", () => {
    const run: Command[] = [];
    const press = (e: KeyEvent, hasDraft = false) => {
      let prevented = false;
      const c = handleKey({ ...e, preventDefault: () => (prevented = true) }, openWorkspace(99), hasDraft, (c) => run.push(c));
      return { c, prevented };
    };
    expect(press(key("Tab"))).toEqual({ c: { type: "none" }, prevented: true });
    expect(press(key("Enter"), true)).toEqual({ c: { type: "finishDraft" }, prevented: true });
    expect(press(key("q"))).toEqual({ c: null, prevented: false });
    expect(press(key(" ", { target: { tagName: "INPUT" } }))).toEqual({ c: null, prevented: false });
    expect(run).toEqual([{ type: "none" }, { type: "finishDraft" }]);
  });
});
