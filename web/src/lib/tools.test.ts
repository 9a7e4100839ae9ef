import { describe, expect, it } from "vitest";
import type { SamPreview } from "./bindings";
import {
  accepted,
  boxMeaning,
  cancel,
  candidateArrived,
  chooseTool,
  cutsHole,
  cycleCandidate,
  dropPrompt,
  enterAction,
  flipHole,
  hasShellPreview,
  holeDone,
  initialTools,
  needsCandidate,
  previewed,
  previewRank,
  samBox,
  samClick,
  showCandidate,
  toggleHole,
  type ToolState,
} from "./tools";

function preview(frame = 4, revision = 1): SamPreview {
  return {
    video_id: "v",
    frame,
    revision,
    candidates: [
      { rank: 0, iou: 0.9, area: 100, bbox: null },
      { rank: 1, iou: 0.8, area: null, bbox: null },
      { rank: 2, iou: 0.7, area: null, bbox: null },
    ],
  };
}

/** The SAM tool with one click predicted into three candidates, the second shown. */
function pending(): ToolState {
  const s = samClick(initialTools(), 10, 20, true)!;
  return showCandidate(previewed(s, preview()), 1);
}

describe("tool state", () => {
  it("starts on SAM with nothing pending", () => {
    const s = initialTools();
    expect(s.tool).toBe("sam");
    expect(s.holeMode).toBe(false);
    expect(s.prompt).toEqual({ points: [], bbox: null });
    expect(s.preview).toBeNull();
    expect(enterAction(s, false)).toBeNull();
  });

  it("switching tools leaves hole mode but keeps the SAM prompt", () => {
    const s = chooseTool(toggleHole(pending(), true).tools, "brush");
    expect(s.tool).toBe("brush");
    expect(s.holeMode).toBe(false);
    expect(s.prompt.points).toHaveLength(1);
    expect(s.preview).not.toBeNull();
  });

  it("H needs a selection, switches to the polygon tool and toggles", () => {
    const none = toggleHole(initialTools(), false);
    expect(none.tools).toEqual(initialTools());
    expect(none.status).toBe("select the object to cut a hole into first");

    const on = toggleHole(initialTools(), true);
    expect(on.tools.tool).toBe("polygon");
    expect(on.tools.holeMode).toBe(true);
    expect(on.status).toBe("draw the hole's outline; Enter closes it");

    const off = toggleHole(on.tools, true);
    expect(off.tools).toMatchObject({ tool: "polygon", holeMode: false });
    expect(off.status).toBe("");
  });

  it("the hole button flips hole mode; a finished hole ends it", () => {
    const s = flipHole(chooseTool(initialTools(), "polygon"));
    expect(s.holeMode).toBe(true);
    expect(cutsHole(s, "polygon")).toBe(true);
    expect(cutsHole(s, "polyline")).toBe(false);
    expect(cutsHole(holeDone(s), "polygon")).toBe(false);
    expect(flipHole(s).holeMode).toBe(false);
  });

  it("clicks are SAM points only with the SAM tool", () => {
    const s = samClick(samClick(initialTools(), 1, 2, true)!, 3, 4, false)!;
    expect(s.prompt.points).toEqual([
      { x: 1, y: 2, positive: true },
      { x: 3, y: 4, positive: false },
    ]);
    for (const tool of ["select", "brush", "eraser", "polygon", "box", "points", "polyline"] as const) {
      expect(samClick(chooseTool(initialTools(), tool), 1, 2, true)).toBeNull();
    }
  });

  it("a dragged box is a SAM prompt with SAM, a shape with the box tool, else nothing", () => {
    expect(boxMeaning(initialTools())).toBe("samPrompt");
    expect(boxMeaning(chooseTool(initialTools(), "box"))).toBe("shape");
    expect(boxMeaning(chooseTool(initialTools(), "polygon"))).toBeNull();
    const b = { x: 1, y: 2, width: 30, height: 40 };
    const s = samBox(pending(), b);
    expect(s.prompt.bbox).toEqual(b);
    expect(s.prompt.points).toHaveLength(1);
  });

  it("a new prediction shows its best candidate; Tab cycles through them", () => {
    const s = pending();
    expect(s.candidate).toBe(1);
    expect(previewed(s, preview()).candidate).toBe(0);
    expect(cycleCandidate(s)).toBe(2);
    expect(cycleCandidate(showCandidate(s, 2))).toBe(0);
    expect(cycleCandidate(initialTools())).toBeNull();
  });

  it("only candidates without an area are fetched, and a stale one is dropped", () => {
    const s = pending();
    expect(needsCandidate(s, 0)).toBe(false);
    expect(needsCandidate(s, 1)).toBe(true);
    expect(needsCandidate(s, 7)).toBe(false);
    expect(needsCandidate(initialTools(), 1)).toBe(false);

    const c = { rank: 1, iou: 0.8, area: 42, bbox: null };
    const after = candidateArrived(s, s.preview!, 1, c);
    expect(after.preview!.candidates.map((x) => x.area)).toEqual([100, 42, null]);
    const newer = previewed(s, preview(4, 2));
    expect(candidateArrived(newer, s.preview!, 1, c)).toBe(newer);
  });

  it("Enter finishes a draft first, else accepts a preview", () => {
    expect(enterAction(pending(), true)).toBe("finishDraft");
    expect(enterAction(pending(), false)).toBe("accept");
    expect(enterAction(chooseTool(initialTools(), "polygon"), true)).toBe("finishDraft");
    expect(enterAction(chooseTool(initialTools(), "polygon"), false)).toBeNull();
  });

  it("Esc and another frame drop the prompt; only Esc leaves hole mode", () => {
    const holed = flipHole(pending());
    expect(hasShellPreview(holed)).toBe(true);
    const dropped = dropPrompt(holed);
    expect(dropped).toMatchObject({ prompt: { points: [], bbox: null }, preview: null, candidate: 0, holeMode: true });
    expect(hasShellPreview(dropped)).toBe(false);
    expect(cancel(holed)).toMatchObject({ prompt: { points: [], bbox: null }, preview: null, candidate: 0, holeMode: false });
    expect(cancel(holed).tool).toBe("sam");
  });

  it("accepting clears the prompt and the preview", () => {
    const s = accepted(pending());
    expect(s.prompt).toEqual({ points: [], bbox: null });
    expect(s.preview).toBeNull();
    expect(enterAction(s, false)).toBeNull();
  });

  it("the frame URL shows the candidate only on the frame it was predicted on", () => {
    const s = pending();
    expect(previewRank(s, 4)).toBe(1);
    expect(previewRank(s, 5)).toBeNull();
    expect(previewRank(initialTools(), 4)).toBeNull();
  });

  it("transitions do not change the state they are given", () => {
    const s = pending();
    const copy = structuredClone(s);
    chooseTool(s, "box");
    cancel(s);
    samClick(s, 5, 5, true);
    samBox(s, { x: 0, y: 0, width: 5, height: 5 });
    toggleHole(s, true);
    expect(s).toEqual(copy);
  });
});
