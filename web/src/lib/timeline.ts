// Pure timeline logic: stepping, keyframe jumps, density bins, playback timing,
// and the objects' lanes (where each object's shapes are, and what a click on a
// lane means).

import type { FrameSpan, TimelineTrack } from "./bindings";

export interface Density {
  frame: number;
  shapes: number;
  keyframes: number;
}

/** `current + delta`, clamped to the video. */
export function step(current: number, delta: number, frameCount: number): number {
  if (frameCount <= 0) return 0;
  return Math.min(frameCount - 1, Math.max(0, Math.trunc(current + delta)));
}

/** The next (direction 1) or previous (-1) frame that has a keyframe, or null. */
export function nextKeyframe(frames: Density[], current: number, direction: 1 | -1): number | null {
  let best: number | null = null;
  for (const f of frames) {
    if (f.keyframes <= 0) continue;
    if (direction > 0 && f.frame > current && (best === null || f.frame < best)) best = f.frame;
    if (direction < 0 && f.frame < current && (best === null || f.frame > best)) best = f.frame;
  }
  return best;
}

/** Shapes per bin when `frameCount` frames are drawn in `bins` columns. */
export function densityBins(frames: Density[], frameCount: number, bins: number): number[] {
  const n = Math.max(0, Math.trunc(bins));
  const out = new Array<number>(n).fill(0);
  if (frameCount <= 0 || n === 0) return out;
  for (const f of frames) {
    if (f.frame < 0 || f.frame >= frameCount) continue;
    const b = Math.min(n - 1, Math.floor((f.frame * n) / frameCount));
    out[b] += f.shapes;
  }
  return out;
}

/** The frame under horizontal position `x` of a `width`-wide timeline. */
export function frameAtX(x: number, width: number, frameCount: number): number {
  if (width <= 0 || frameCount <= 0) return 0;
  return step(Math.floor((x / width) * frameCount), 0, frameCount);
}

/** Where frame `frame` starts on a `width`-wide timeline. */
export function xOfFrame(frame: number, width: number, frameCount: number): number {
  if (frameCount <= 0) return 0;
  return (frame / frameCount) * width;
}

/** Which frame playback shows `elapsedMs` after starting at `start`, stopping at the end. */
export function playbackFrame(start: number, elapsedMs: number, fps: number, frameCount: number): number {
  if (!(fps > 0)) return start;
  return step(start, Math.floor((elapsedMs / 1000) * fps), frameCount);
}

/** Height of one object's lane in CSS pixels: thin, so many objects fit under the density bar. */
export const LANE_HEIGHT = 10;

/** Lanes shown at once; more objects scroll inside the timeline, so a video with
 *  50 objects does not push the frame view off the page. */
export const MAX_VISIBLE_LANES = 6;

/** A horizontal run on the timeline, in CSS pixels. */
export interface Bar {
  x: number;
  width: number;
}

/** Where a span's bar lies on a `width`-wide timeline: from the start of its first
 *  frame to the end of its last, at least 1 px wide so that a one-frame span of a
 *  long video still shows. */
export function spanBar(span: FrameSpan, width: number, frameCount: number): Bar {
  const x = xOfFrame(span.first, width, frameCount);
  const end = xOfFrame(span.last + 1, width, frameCount);
  return { x, width: Math.max(1, end - x) };
}

/** Height of the lane area: every lane up to `maxVisible` of them; the rest scroll. */
export function lanesHeight(lanes: number, laneHeight = LANE_HEIGHT, maxVisible = MAX_VISIBLE_LANES): number {
  return Math.min(Math.max(0, lanes), maxVisible) * laneHeight;
}

/** What a click on the lanes hit: an object and the frame under the pointer. */
export interface LaneHit {
  track: TimelineTrack;
  frame: number;
}

/** The lane and frame under (`x`, `y`), measured from the top left of the first lane
 *  (so lanes scrolled out of sight count), on a `width`-wide timeline; null below the
 *  last lane or above the first. */
export function laneAt(
  x: number,
  y: number,
  width: number,
  tracks: TimelineTrack[],
  frameCount: number,
  laneHeight = LANE_HEIGHT,
): LaneHit | null {
  if (laneHeight <= 0) return null;
  // Above the first lane the index is negative: no lane, as below the last.
  const track = tracks[Math.floor(y / laneHeight)];
  if (!track) return null;
  return { track, frame: frameAtX(x, width, frameCount) };
}

/** The frame of `spans` nearest to `frame`: `frame` itself when a span covers it; of
 *  two equally near, the earlier. Null when there are no spans. */
export function nearestFrame(spans: FrameSpan[], frame: number): number | null {
  let best: number | null = null;
  for (const s of spans) {
    const f = Math.min(s.last, Math.max(s.first, frame));
    const d = Math.abs(f - frame);
    if (best === null || d < Math.abs(best - frame) || (d === Math.abs(best - frame) && f < best)) best = f;
  }
  return best;
}

/** Where a click on an object's lane at `frame` goes: there when the object has a shape
 *  on it, else the nearest frame that has one (a click just beside a short span should
 *  land on the object, not on an empty frame); an object without shapes stays at `frame`. */
export function laneSeekFrame(track: Pick<TimelineTrack, "spans">, frame: number): number {
  return nearestFrame(track.spans, frame) ?? frame;
}

/** The lane area's scroll offset that shows lane `index` (selected elsewhere: in the object
 *  list or on the frame) while moving as little as possible; `view` is the visible height. */
export function scrollToLane(scrollTop: number, index: number, view: number, laneHeight = LANE_HEIGHT): number {
  if (index < 0) return scrollTop;
  const top = index * laneHeight;
  if (top < scrollTop) return top;
  return Math.max(scrollTop, top + laneHeight - view);
}
