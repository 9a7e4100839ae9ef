// The SAM prompt being built on one frame: clicks and an optional box.

import type { BoxPx, SamPoint, SamPrompt } from "./bindings";

export function emptyPrompt(): SamPrompt {
  return { points: [], bbox: null };
}

export function isEmpty(p: SamPrompt): boolean {
  return p.points.length === 0 && !p.bbox;
}

export function addPoint(p: SamPrompt, x: number, y: number, positive: boolean): SamPrompt {
  return { ...p, points: [...p.points, { x, y, positive }] };
}

/** Removes the click nearest to (x, y) if it is within `radius` frame pixels. */
export function removeNear(p: SamPrompt, x: number, y: number, radius: number): SamPrompt {
  let best = -1;
  let bestD = radius * radius;
  p.points.forEach((q: SamPoint, i: number) => {
    const d = (q.x - x) ** 2 + (q.y - y) ** 2;
    if (d <= bestD) {
      best = i;
      bestD = d;
    }
  });
  if (best < 0) return p;
  return { ...p, points: p.points.filter((_, i) => i !== best) };
}

/** The box spanned by a drag from a to b (any direction); null when too small. */
export function boxFromDrag(a: { x: number; y: number }, b: { x: number; y: number }, minSize = 2): BoxPx | null {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  const width = Math.abs(a.x - b.x);
  const height = Math.abs(a.y - b.y);
  if (width < minSize || height < minSize) return null;
  return { x, y, width, height };
}

/** The candidate after `rank`, wrapping around. */
export function nextCandidate(rank: number, count: number): number {
  return count <= 0 ? 0 : (rank + 1) % count;
}
