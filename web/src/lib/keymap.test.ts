import { describe, expect, it } from "vitest";
import { actionFor, isTyping, BINDINGS } from "./keymap";

describe("keymap", () => {
  it("steps single frames and by ten", () => {
    expect(actionFor({ key: "ArrowRight" })).toEqual({ type: "step", delta: 1 });
    expect(actionFor({ key: "ArrowLeft" })).toEqual({ type: "step", delta: -1 });
    expect(actionFor({ key: "ArrowRight", shiftKey: true })).toEqual({ type: "step", delta: 10 });
    expect(actionFor({ key: "ArrowLeft", shiftKey: true })).toEqual({ type: "step", delta: -10 });
  });

  it("jumps between keyframes and toggles playback", () => {
    expect(actionFor({ key: "]" })).toEqual({ type: "nextKeyframe", direction: 1 });
    expect(actionFor({ key: "[" })).toEqual({ type: "nextKeyframe", direction: -1 });
    expect(actionFor({ key: " " })).toEqual({ type: "togglePlay" });
  });

  it("undo and redo need a modifier, on Ctrl or Cmd", () => {
    expect(actionFor({ key: "z", ctrlKey: true })).toEqual({ type: "undo" });
    expect(actionFor({ key: "z", metaKey: true })).toEqual({ type: "undo" });
    expect(actionFor({ key: "Z", ctrlKey: true, shiftKey: true })).toEqual({ type: "redo" });
    expect(actionFor({ key: "y", ctrlKey: true })).toEqual({ type: "redo" });
    expect(actionFor({ key: "z" })).toBeNull();
  });

  it("number keys pick labels 1 to 9; 0 is 1:1", () => {
    expect(actionFor({ key: "1" })).toEqual({ type: "label", index: 0 });
    expect(actionFor({ key: "9" })).toEqual({ type: "label", index: 8 });
    expect(actionFor({ key: "0" })).toEqual({ type: "zoomOneToOne" });
    expect(actionFor({ key: "1", ctrlKey: true })).toBeNull();
  });

  it("tool letters are case-insensitive and ignore Alt", () => {
    expect(actionFor({ key: "s" })).toEqual({ type: "tool", tool: "sam" });
    expect(actionFor({ key: "P" })).toEqual({ type: "tool", tool: "polygon" });
    expect(actionFor({ key: "r" })).toEqual({ type: "tool", tool: "box" });
    expect(actionFor({ key: "s", altKey: true })).toBeNull();
    expect(actionFor({ key: "q" })).toBeNull();
  });

  it("SAM flow keys", () => {
    expect(actionFor({ key: "Enter" })).toEqual({ type: "accept" });
    expect(actionFor({ key: "Escape" })).toEqual({ type: "cancel" });
    expect(actionFor({ key: "Tab" })).toEqual({ type: "nextCandidate" });
    expect(actionFor({ key: "f" })).toEqual({ type: "zoomFit" });
    expect(actionFor({ key: "?" })).toEqual({ type: "help" });
  });

  it("editing keys", () => {
    expect(actionFor({ key: "v" })).toEqual({ type: "tool", tool: "select" });
    expect(actionFor({ key: "Backspace" })).toEqual({ type: "removeVertex" });
    expect(actionFor({ key: "Delete" })).toEqual({ type: "deleteShape" });
    expect(actionFor({ key: "Delete", shiftKey: true })).toEqual({ type: "deleteObject" });
    expect(actionFor({ key: "," })).toEqual({ type: "brushSize", direction: -1 });
    expect(actionFor({ key: "." })).toEqual({ type: "brushSize", direction: 1 });
    expect(actionFor({ key: "h" })).toEqual({ type: "toggleHole" });
    expect(actionFor({ key: "c" })).toEqual({ type: "copyToNext" });
    expect(actionFor({ key: "o" })).toEqual({ type: "toggleHidden" });
    expect(actionFor({ key: "x" })).toEqual({ type: "toggleLock" });
    expect(actionFor({ key: "o", ctrlKey: true })).toEqual({ type: "importDialog" });
  });

  it("T / Shift+T propagate forward / backward; with Ctrl or Alt they are not the workspace's", () => {
    expect(actionFor({ key: "t" })).toEqual({ type: "propagate", direction: "forward" });
    expect(actionFor({ key: "T", shiftKey: true })).toEqual({ type: "propagate", direction: "backward" });
    expect(actionFor({ key: "t", ctrlKey: true })).toBeNull();
    expect(actionFor({ key: "t", altKey: true })).toBeNull();
    expect(BINDINGS.find((b) => b.keys === "T / Shift+T")?.description).toMatch(/^propagate the selected object forward \/ backward/);
  });

  it("Shift + digit relabels by physical key, whatever the layout prints", () => {
    expect(actionFor({ key: "!", code: "Digit1", shiftKey: true })).toEqual({ type: "relabel", index: 0 });
    expect(actionFor({ key: "&", code: "Digit7", shiftKey: true })).toEqual({ type: "relabel", index: 6 });
    expect(actionFor({ key: "1", code: "Digit1" })).toEqual({ type: "label", index: 0 });
  });

  it("text fields keep their keys", () => {
    expect(isTyping({ tagName: "input" })).toBe(true);
    expect(isTyping({ tagName: "TEXTAREA" })).toBe(true);
    expect(isTyping({ tagName: "DIV", isContentEditable: true })).toBe(true);
    expect(isTyping({ tagName: "CANVAS" })).toBe(false);
    expect(isTyping(null)).toBe(false);
  });

  it("the help lists every binding once", () => {
    const keys = BINDINGS.map((b) => b.keys);
    expect(new Set(keys).size).toBe(keys.length);
    expect(BINDINGS.length).toBeGreaterThan(10);
  });
});
