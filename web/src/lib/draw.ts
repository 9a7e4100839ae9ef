// The shape being drawn by hand, before it is stored: polygon and polyline
// vertices, keypoints, a brush stroke. Pure functions over plain data, so the
// frame view stays a thin layer of pointer events and SVG.

import type { DrawnShape, PointPx } from "./bindings";
import type { Tool } from "./keymap";

/** Tools that collect vertices one click at a time. */
export type VertexTool = "polygon" | "polyline" | "points";

export function isVertexTool(tool: Tool): tool is VertexTool {
  return tool === "polygon" || tool === "polyline" || tool === "points";
}

/** Fewest vertices each vertex tool needs. */
export const MIN_VERTICES: Record<VertexTool, number> = { polygon: 3, polyline: 2, points: 1 };

/** Screen pixels within which a click on the first vertex closes a polygon. */
export const CLOSE_RADIUS_PX = 8;

/** Whether a click at `p` (frame pixels) closes the polygon: it is on the
 *  first vertex, at the current zoom, and there are enough vertices. */
export function closesPolygon(vertices: PointPx[], p: PointPx, zoom: number): boolean {
  if (vertices.length < MIN_VERTICES.polygon) return false;
  const first = vertices[0];
  const r = CLOSE_RADIUS_PX / Math.max(zoom, 1e-6);
  return (first.x - p.x) ** 2 + (first.y - p.y) ** 2 <= r * r;
}

/** Adds a vertex unless it repeats the last one (a double click). */
export function addVertex(vertices: PointPx[], p: PointPx): PointPx[] {
  const last = vertices[vertices.length - 1];
  if (last && Math.abs(last.x - p.x) < 1e-9 && Math.abs(last.y - p.y) < 1e-9) return vertices;
  return [...vertices, { x: p.x, y: p.y }];
}

/** Whether the draft can be finished into a shape. */
export function canFinish(tool: VertexTool, vertices: PointPx[]): boolean {
  return vertices.length >= MIN_VERTICES[tool];
}

/** The shape a finished draft stores. */
export function toShape(tool: VertexTool, vertices: PointPx[]): DrawnShape | null {
  if (!canFinish(tool, vertices)) return null;
  const points = vertices.map((v) => ({ x: v.x, y: v.y }));
  switch (tool) {
    case "polygon":
      return { kind: "polygon", exterior: points, holes: [] };
    case "polyline":
      return { kind: "polyline", points };
    case "points":
      return { kind: "points", points };
  }
}

/** Appends a brush position when it moved at least `spacing` frame pixels
 *  since the last one (so a stroke is a few hundred points, not thousands). */
export function extendStroke(points: PointPx[], p: PointPx, spacing: number): PointPx[] {
  const last = points[points.length - 1];
  if (last && (last.x - p.x) ** 2 + (last.y - p.y) ** 2 < spacing * spacing) return points;
  return [...points, { x: p.x, y: p.y }];
}

export const MIN_BRUSH = 1;
export const MAX_BRUSH = 256;

/** The brush radius after one size step (`,` smaller, `.` larger): about 20% a step. */
export function resizeBrush(radius: number, direction: 1 | -1): number {
  const next = direction > 0 ? Math.max(radius + 1, radius * 1.2) : Math.min(radius - 1, radius / 1.2);
  return Math.round(Math.min(MAX_BRUSH, Math.max(MIN_BRUSH, next)));
}

/** SVG path data for a draft (`closed` for a polygon), in screen pixels. */
export function pathData(points: { x: number; y: number }[], closed: boolean): string {
  if (points.length === 0) return "";
  const d = points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
  return closed ? `${d} Z` : d;
}
