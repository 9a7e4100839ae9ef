import { describe, expect, it } from "vitest";
import { addPoint, boxFromDrag, emptyPrompt, isEmpty, nextCandidate, removeNear } from "./sam";

describe("SAM prompt", () => {
  it("collects positive and negative clicks", () => {
    let p = emptyPrompt();
    expect(isEmpty(p)).toBe(true);
    p = addPoint(p, 10, 20, true);
    p = addPoint(p, 30, 40, false);
    expect(p.points).toEqual([
      { x: 10, y: 20, positive: true },
      { x: 30, y: 40, positive: false },
    ]);
    expect(isEmpty(p)).toBe(false);
  });

  it("removes only the nearest click within the radius", () => {
    let p = addPoint(addPoint(emptyPrompt(), 10, 10, true), 14, 10, true);
    expect(removeNear(p, 13, 10, 3).points).toEqual([{ x: 10, y: 10, positive: true }]);
    expect(removeNear(p, 100, 100, 3)).toBe(p);
    p = removeNear(removeNear(p, 10, 10, 1), 14, 10, 1);
    expect(isEmpty(p)).toBe(true);
  });

  it("normalises dragged boxes and ignores tiny drags", () => {
    expect(boxFromDrag({ x: 50, y: 40 }, { x: 10, y: 20 })).toEqual({ x: 10, y: 20, width: 40, height: 20 });
    expect(boxFromDrag({ x: 5, y: 5 }, { x: 6, y: 50 })).toBeNull();
  });

  it("cycles candidates", () => {
    expect(nextCandidate(0, 3)).toBe(1);
    expect(nextCandidate(2, 3)).toBe(0);
    expect(nextCandidate(0, 0)).toBe(0);
  });
});
