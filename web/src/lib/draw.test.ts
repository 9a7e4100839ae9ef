import { describe, expect, it } from "vitest";
import { addVertex, canFinish, closesPolygon, extendStroke, isVertexTool, pathData, resizeBrush, toShape } from "./draw";

const sq = [
  { x: 0, y: 0 },
  { x: 10, y: 0 },
  { x: 10, y: 10 },
];

describe("drawing drafts", () => {
  it("knows which tools collect vertices", () => {
    expect(isVertexTool("polygon")).toBe(true);
    expect(isVertexTool("points")).toBe(true);
    expect(isVertexTool("box")).toBe(false);
    expect(isVertexTool("brush")).toBe(false);
  });

  it("closes a polygon only on its first vertex, scaled by zoom, with 3+ vertices", () => {
    expect(closesPolygon(sq, { x: 1, y: 1 }, 1)).toBe(true);
    expect(closesPolygon(sq, { x: 9, y: 9 }, 1)).toBe(false);
    // At 4x zoom the 8 px screen radius is 2 frame px.
    expect(closesPolygon(sq, { x: 3, y: 0 }, 4)).toBe(false);
    expect(closesPolygon(sq, { x: 1.5, y: 0 }, 4)).toBe(true);
    expect(closesPolygon(sq.slice(0, 2), { x: 0, y: 0 }, 1)).toBe(false);
  });

  it("ignores the repeated vertex of a double click", () => {
    const v = addVertex(sq, { x: 10, y: 10 });
    expect(v).toHaveLength(3);
    expect(addVertex(v, { x: 0, y: 10 })).toHaveLength(4);
  });

  it("turns drafts into shapes only when they have enough vertices", () => {
    expect(canFinish("polygon", sq.slice(0, 2))).toBe(false);
    expect(toShape("polygon", sq.slice(0, 2))).toBeNull();
    expect(toShape("polygon", sq)).toEqual({ kind: "polygon", exterior: sq, holes: [] });
    expect(toShape("polyline", sq.slice(0, 2))).toEqual({ kind: "polyline", points: sq.slice(0, 2) });
    expect(toShape("points", sq.slice(0, 1))).toEqual({ kind: "points", points: sq.slice(0, 1) });
    expect(toShape("points", [])).toBeNull();
  });

  it("thins brush strokes by spacing", () => {
    let s = extendStroke([], { x: 0, y: 0 }, 2);
    s = extendStroke(s, { x: 1, y: 0 }, 2);
    expect(s).toHaveLength(1);
    s = extendStroke(s, { x: 2, y: 0 }, 2);
    expect(s).toHaveLength(2);
  });

  it("resizes the brush in steps within bounds", () => {
    expect(resizeBrush(10, 1)).toBe(12);
    expect(resizeBrush(10, -1)).toBe(8);
    expect(resizeBrush(1, -1)).toBe(1);
    expect(resizeBrush(256, 1)).toBe(256);
    expect(resizeBrush(2, 1)).toBe(3);
  });

  it("writes SVG paths", () => {
    expect(pathData([], true)).toBe("");
    expect(pathData(sq, true)).toBe("M0.0 0.0 L10.0 0.0 L10.0 10.0 Z");
    expect(pathData(sq.slice(0, 2), false)).toBe("M0.0 0.0 L10.0 0.0");
  });
});
