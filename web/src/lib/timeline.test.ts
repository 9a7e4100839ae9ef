import { describe, expect, it } from "vitest";
import { densityBins, frameAtX, nextKeyframe, playbackFrame, step, xOfFrame } from "./timeline";

const frames = [
  { frame: 2, shapes: 1, keyframes: 1 },
  { frame: 3, shapes: 2, keyframes: 0 },
  { frame: 9, shapes: 1, keyframes: 1 },
  { frame: 15, shapes: 3, keyframes: 2 },
];

describe("timeline", () => {
  it("steps are clamped to the video", () => {
    expect(step(5, 1, 20)).toBe(6);
    expect(step(5, 10, 20)).toBe(15);
    expect(step(15, 10, 20)).toBe(19);
    expect(step(3, -10, 20)).toBe(0);
    expect(step(3, 1, 0)).toBe(0);
  });

  it("finds the next and previous keyframe, skipping frames without one", () => {
    expect(nextKeyframe(frames, 2, 1)).toBe(9);
    expect(nextKeyframe(frames, 0, 1)).toBe(2);
    expect(nextKeyframe(frames, 15, 1)).toBeNull();
    expect(nextKeyframe(frames, 9, -1)).toBe(2);
    expect(nextKeyframe(frames, 2, -1)).toBeNull();
  });

  it("bins density", () => {
    expect(densityBins(frames, 20, 4)).toEqual([3, 1, 0, 3]);
    expect(densityBins(frames, 20, 20)[15]).toBe(3);
    expect(densityBins(frames, 0, 4)).toEqual([0, 0, 0, 0]);
    expect(densityBins([{ frame: 99, shapes: 5, keyframes: 0 }], 20, 2)).toEqual([0, 0]);
  });

  it("maps positions to frames and back", () => {
    expect(frameAtX(0, 200, 20)).toBe(0);
    expect(frameAtX(199.9, 200, 20)).toBe(19);
    expect(frameAtX(250, 200, 20)).toBe(19);
    expect(frameAtX(55, 200, 20)).toBe(5);
    expect(xOfFrame(5, 200, 20)).toBe(50);
  });

  it("playback advances with time at the frame rate and stops at the end", () => {
    expect(playbackFrame(0, 0, 25, 100)).toBe(0);
    expect(playbackFrame(0, 1000, 25, 100)).toBe(25);
    expect(playbackFrame(10, 39, 25, 100)).toBe(10);
    expect(playbackFrame(10, 40, 25, 100)).toBe(11);
    expect(playbackFrame(90, 10_000, 25, 100)).toBe(99);
  });
});
