import { describe, expect, it } from "vitest";
import { timelineTrack } from "./fixtures";
import {
  densityBins,
  frameAtX,
  laneAt,
  laneSeekFrame,
  lanesHeight,
  nearestFrame,
  nextKeyframe,
  playbackFrame,
  scrollToLane,
  spanBar,
  step,
  xOfFrame,
} from "./timeline";

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

describe("object lanes", () => {
  const tracks = [
    timelineTrack("a", 1, [[2, 4], [10, 10]], [2, 10]),
    timelineTrack("b", 2, [[0, 19]], [0]),
    timelineTrack("c", 3, []),
  ];

  it("a span's bar runs from its first frame's start to its last frame's end", () => {
    expect(spanBar({ first: 2, last: 4 }, 200, 20)).toEqual({ x: 20, width: 30 });
    expect(spanBar({ first: 0, last: 19 }, 200, 20)).toEqual({ x: 0, width: 200 });
    const one = spanBar({ first: 10, last: 10 }, 400, 20);
    expect(one.x).toBe(200);
    expect(one.width).toBeCloseTo(20);
  });

  it("a one-frame span of a long video is still a pixel wide", () => {
    expect(spanBar({ first: 5000, last: 5000 }, 800, 100_000)).toEqual({ x: 40, width: 1 });
  });

  it("the lane area grows with the objects up to its cap, then scrolls", () => {
    expect(lanesHeight(0)).toBe(0);
    expect(lanesHeight(2, 10, 6)).toBe(20);
    expect(lanesHeight(6, 10, 6)).toBe(60);
    expect(lanesHeight(50, 10, 6)).toBe(60);
    expect(lanesHeight(50, 8, 4)).toBe(32);
  });

  it("a click hits the lane under it (scrolled lanes included) and the frame under it", () => {
    expect(laneAt(55, 3, 200, tracks, 20, 10)).toEqual({ track: tracks[0], frame: 5 });
    expect(laneAt(55, 10, 200, tracks, 20, 10)).toEqual({ track: tracks[1], frame: 5 });
    expect(laneAt(199, 29.5, 200, tracks, 20, 10)).toEqual({ track: tracks[2], frame: 19 });
    expect(laneAt(0, 0, 200, tracks, 20, 10)?.frame).toBe(0);
  });

  it("a click below the last lane or above the first hits nothing", () => {
    expect(laneAt(55, 30, 200, tracks, 20, 10)).toBeNull();
    expect(laneAt(55, -1, 200, tracks, 20, 10)).toBeNull();
    expect(laneAt(55, 5, 200, [], 20, 10)).toBeNull();
  });

  it("the nearest frame with a shape: the frame itself inside a span, else the closest span end", () => {
    const spans = tracks[0].spans;
    expect(nearestFrame(spans, 3)).toBe(3);
    expect(nearestFrame(spans, 10)).toBe(10);
    expect(nearestFrame(spans, 0)).toBe(2);
    expect(nearestFrame(spans, 6)).toBe(4);
    expect(nearestFrame(spans, 9)).toBe(10);
    expect(nearestFrame(spans, 19)).toBe(10);
    expect(nearestFrame([], 5)).toBeNull();
  });

  it("of two equally near frames, the earlier is taken", () => {
    expect(nearestFrame(tracks[0].spans, 7)).toBe(4);
    expect(nearestFrame([{ first: 9, last: 9 }, { first: 1, last: 1 }], 5)).toBe(1);
  });

  it("a lane click lands on the object: the clicked frame if it has a shape there, else the nearest", () => {
    expect(laneSeekFrame(tracks[0], 3)).toBe(3);
    expect(laneSeekFrame(tracks[0], 8)).toBe(10);
    expect(laneSeekFrame(tracks[1], 13)).toBe(13);
    expect(laneSeekFrame(tracks[2], 13)).toBe(13);
  });

  it("the selected lane is scrolled into sight, moving as little as possible", () => {
    expect(scrollToLane(0, 2, 60, 10)).toBe(0);
    expect(scrollToLane(0, 6, 60, 10)).toBe(10);
    expect(scrollToLane(0, 49, 60, 10)).toBe(440);
    expect(scrollToLane(440, 3, 60, 10)).toBe(30);
    expect(scrollToLane(100, 12, 60, 10)).toBe(100);
    expect(scrollToLane(100, -1, 60, 10)).toBe(100);
  });
});
