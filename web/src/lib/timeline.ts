// Pure timeline logic: stepping, keyframe jumps, density bins and playback timing.

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
