import { describe, expect, it } from "vitest";
import { render } from "svelte/server";
import ObjectList from "../components/ObjectList.svelte";
import Timeline from "../components/Timeline.svelte";
import TrackPanel from "../components/TrackPanel.svelte";
import type { PropagateSummary } from "./bindings";
import { label, openWorkspace, propagateSummary, shape } from "./fixtures";
import {
  deleteBlocked,
  doubtMarks,
  initialTrackForm,
  initialTrackRun,
  limitProblem,
  propagateBlocked,
  propagateOptions,
  propagateTitle,
  shapeBadge,
  trackProgress,
  trackProgressText,
  trackSummaryLines,
  writtenRange,
  type TrackRun,
} from "./track";
import { startRun } from "./run";

const summary = propagateSummary;

/** The workspace on frame 10 with a model loaded and object track-a (a mask keyframe on frames 10
 *  and 30, per the fixtures' timeline) selected: propagation can start either way. */
function ready(frame = 10) {
  const ws = openWorkspace(frame);
  ws.samModel = "sample";
  ws.selectedTrack = "track-a";
  ws.shapes = [shape("track-a", frame)];
  return ws;
}

const doneRun = (s: PropagateSummary): TrackRun => ({ ...initialTrackRun(), phase: "done", videoId: s.videoId, trackId: s.trackId, start: s.start, summary: s });

describe("the propagation form -> PropagateOptions", () => {
  it("no limit by default: up to the next keyframe; the shell's doubt thresholds; flag, do not stop", () => {
    expect(propagateOptions("forward", initialTrackForm())).toEqual({
      direction: "forward",
      maxFrames: null,
      minScore: 0.5,
      maxAreaChange: 0.5,
      maxJump: 0.5,
      stopOnDoubt: false,
    });
  });

  it("a frame limit, backward, stopping at doubtful frames", () => {
    expect(propagateOptions("backward", { limit: 30, stopOnDoubt: true })).toMatchObject({ direction: "backward", maxFrames: 30, stopOnDoubt: true });
    // an empty or half-typed field is no limit
    expect(propagateOptions("forward", { limit: Number.NaN, stopOnDoubt: false }).maxFrames).toBeNull();
  });

  it("the limit is a whole number, 1 or more, or empty", () => {
    expect(limitProblem(null)).toBeNull();
    expect(limitProblem(Number.NaN)).toBeNull();
    expect(limitProblem(1)).toBeNull();
    expect(limitProblem(250)).toBeNull();
    expect(limitProblem(0)).toMatch(/whole number, 1 or more/);
    expect(limitProblem(-3)).toMatch(/whole number/);
    expect(limitProblem(2.5)).toMatch(/whole number/);
  });
});

describe("why the propagate buttons are disabled", () => {
  it("enabled with a model, a selected object with a mask here and room to go", () => {
    const ws = ready();
    expect(propagateBlocked(ws, "forward")).toBeNull();
    expect(propagateBlocked(ws, "backward")).toBeNull();
    expect(propagateTitle(ws, "forward")).toBe(
      "Propagate the selected object's shape forward with SAM, up to the next keyframe or the video's end (T)",
    );
    ws.trackForm.limit = 30;
    expect(propagateTitle(ws, "backward")).toBe(
      "Propagate the selected object's shape backward with SAM, over at most 30 frames, up to the previous keyframe (Shift+T)",
    );
  });

  it("each reason, in the order the user has to fix them", () => {
    const cases: [string, (ws: ReturnType<typeof ready>) => void, RegExp][] = [
      ["no video", (ws) => (ws.video = null), /open a video/],
      ["a run going", (ws) => (ws.track.phase = "running"), /a propagation is running/],
      ["no model", (ws) => (ws.samModel = ""), /load a SAM model/],
      ["nothing selected", (ws) => (ws.selectedTrack = null), /select an object/],
      ["locked", (ws) => (ws.locked = ["track-a"]), /locked; unlock it \(X\)/],
      ["no shape here", (ws) => (ws.shapes = [shape("track-b", 10)]), /no shape on this frame/],
      ["a polyline", (ws) => (ws.shapes = [shape("track-a", 10, { kind: "polyline" })]), /follows a mask, polygon or box; .* is a polyline/],
      ["a bad limit", (ws) => (ws.trackForm.limit = 0), /frame limit/],
    ];
    for (const [what, change, reason] of cases) {
      const ws = ready();
      change(ws);
      expect(propagateBlocked(ws, "forward"), what).toMatch(reason);
      expect(propagateTitle(ws, "forward"), what).toMatch(/^Propagate forward \(T\): /);
    }
    // boxes and polygons are followed as well as masks, and interpolated shapes start a run too
    for (const kind of ["bbox", "polygon"]) {
      const ws = ready();
      ws.shapes = [shape("track-a", 10, { kind, source: "interpolated", keyframe: false })];
      expect(propagateBlocked(ws, "forward")).toBeNull();
    }
  });

  it("nothing before the first frame, after the last, or before the next keyframe of the object", () => {
    expect(propagateBlocked(ready(0), "backward")).toMatch(/first frame/);
    expect(propagateBlocked(ready(0), "forward")).toBeNull();
    expect(propagateBlocked(ready(99), "forward")).toMatch(/last frame/);
    // track-a has keyframes on 10 and 30
    expect(propagateBlocked(ready(29), "forward")).toMatch(/next frame is a keyframe of this object/);
    expect(propagateBlocked(ready(11), "backward")).toMatch(/previous frame is a keyframe/);
    expect(propagateBlocked(ready(29), "backward")).toBeNull();
  });
});

describe("a propagation's run", () => {
  it("progress of its own object only; the line shows the frame (from 1), done / total and the doubts", async () => {
    const run = initialTrackRun();
    Object.assign(run, { videoId: "video-1", trackId: "track-a", start: 10 });
    let finish!: (s: PropagateSummary) => void;
    const done = startRun(run, () => new Promise<PropagateSummary>((r) => (finish = r)));
    expect(trackProgressText(run.progress)).toBe("starting: encoding the first frames…");
    trackProgress(run, { videoId: "video-1", trackId: "track-b", frame: 11, done: 1, total: 19, flagged: 0 });
    expect(run.progress).toBeNull();
    trackProgress(run, { videoId: "video-1", trackId: "track-a", frame: 13, done: 3, total: 19, flagged: 1 });
    expect(run.progress?.frame).toBe(13);
    expect(trackProgressText(run.progress)).toBe("frame 14 · 3 / 19 (15%) · 1 doubtful");
    expect(trackProgressText({ ...run.progress!, flagged: 0 })).toBe("frame 14 · 3 / 19 (15%)");
    finish(summary());
    await done;
    expect(run.phase).toBe("done");
    // a late event does not move a finished run
    trackProgress(run, { videoId: "video-1", trackId: "track-a", frame: 20, done: 10, total: 19, flagged: 1 });
    expect(run.progress?.frame).toBe(13);
  });

  it("the summary: frames written (from 1), what it replaced, where it stopped, cancelled, how to undo", () => {
    expect(writtenRange(summary())).toBe("frames 12–30");
    expect(trackSummaryLines(summary())).toEqual([
      "Propagated to 19 frames (frames 12–30) from frame 11.",
      "Ctrl+Z undoes the whole run in one step.",
    ]);
    const back = summary({ start: 40, lastFrame: 31, written: 9, replaced: 1 });
    expect(writtenRange(back)).toBe("frames 32–40");
    expect(trackSummaryLines(back)[0]).toBe("Propagated to 9 frames (frames 32–40) from frame 41, replacing 1 earlier propagated shape.");
    expect(writtenRange(summary({ lastFrame: 11, written: 1 }))).toBe("frame 12");
    const stopped = summary({
      written: 4,
      lastFrame: 14,
      stopped: { frame: 15, reason: "the object was lost (empty mask)" },
      flagged: [{ frame: 12, reason: "low confidence: predicted IoU 0.41 < 0.50" }],
    });
    expect(trackSummaryLines(stopped)).toEqual([
      "Propagated to 4 frames (frames 12–15) from frame 11.",
      "Stopped at frame 16: the object was lost (empty mask).",
      "1 doubtful frame written and flagged: check them.",
      "Ctrl+Z undoes the whole run in one step.",
    ]);
    expect(trackSummaryLines(summary({ written: 7, lastFrame: 17, cancelled: true }))).toContain("Cancelled: what was written so far stays.");
    expect(trackSummaryLines(summary({ written: 0, lastFrame: null, stopped: { frame: 11, reason: "lost" } }))).toEqual([
      "Nothing propagated from frame 11.",
      "Stopped at frame 12: lost.",
    ]);
  });

  it("the timeline marks the last run's doubtful frames on its video, the one it stopped at too", () => {
    const s = summary({ flagged: [{ frame: 12, reason: "a" }], stopped: { frame: 20, reason: "b" } });
    expect(doubtMarks(doneRun(s), "video-1").map((f) => f.frame)).toEqual([12, 20]);
    expect(doubtMarks(doneRun(s), "video-2")).toEqual([]);
    expect(doubtMarks({ ...doneRun(s), phase: "running" }, "video-1")).toEqual([]);
    expect(doubtMarks(initialTrackRun(), "video-1")).toEqual([]);
  });
});

describe("derived and propagated shapes in the object list", () => {
  it("a badge says how the shape came to be; keyframes drawn or from SAM have none", () => {
    expect(shapeBadge({ source: "propagated", score: 0.934 })).toMatchObject({ text: "propagated 0.93" });
    expect(shapeBadge({ source: "propagated", score: 0.934 })?.title).toMatch(/predicted IoU is 0\.93/);
    expect(shapeBadge({ source: "propagated", score: null })?.text).toBe("propagated");
    expect(shapeBadge({ source: "interpolated", score: null })?.text).toBe("interpolated");
    expect(shapeBadge({ source: "interpolated", score: null })?.title).toMatch(/not stored/);
    for (const source of ["manual", "sam", "imported"]) expect(shapeBadge({ source, score: 0.9 })).toBeNull();
  });

  it("an interpolated shape cannot be deleted on its own (it is not stored), others can", () => {
    expect(deleteBlocked({ source: "interpolated" })).toMatch(/delete one of those keyframes/);
    expect(deleteBlocked({ source: "propagated" })).toBeNull();
  });

  it("rendered: the badge with the score, and delete disabled with the reason for an interpolated shape", () => {
    const shapes = [
      shape("track-a", 5, { source: "propagated", keyframe: false, score: 0.87 }),
      shape("track-b", 5, { source: "interpolated", keyframe: false }),
      shape("track-c", 5),
    ];
    const html = render(ObjectList, {
      props: {
        shapes, labels: [label(0)], selected: null, hidden: [], locked: [],
        onselect: () => {}, onhide: () => {}, onlock: () => {}, onrelabel: () => {}, ondelete: () => {}, onattribute: () => {},
      },
    }).body;
    expect(html).toMatch(/data-source="propagated"[\s\S]*data-testid="shape-badge"[^>]*>propagated 0\.87</);
    expect(html).toMatch(/data-source="interpolated"[\s\S]*data-testid="shape-badge"[^>]*>interpolated</);
    expect(html.match(/data-testid="shape-badge"/g)).toHaveLength(2);
    expect(html).toMatch(/<button title="interpolated between this object's keyframes[^"]*" disabled/);
    expect(html.match(/<button title="delete on this frame \(Delete\)"/g)).toHaveLength(2);
  });
});

describe("TrackPanel and the timeline (rendered)", () => {
  const panel = (ws: ReturnType<typeof ready>) =>
    render(TrackPanel, {
      props: { ws, form: ws.trackForm, run: ws.track, onpropagate: () => {}, oncancel: () => {}, onreview: () => {}, ondismiss: () => {} },
    }).body;

  it("the buttons carry their reason when disabled", () => {
    const ws = ready();
    ws.samModel = "";
    const html = panel(ws);
    expect(html).toMatch(/data-testid="propagate-forward"[^>]*disabled[^>]*title="Propagate forward \(T\): load a SAM model first/);
    const ok = panel(ready());
    expect(ok).toMatch(/<button data-testid="propagate-forward" title="Propagate the selected object's shape forward/);
  });

  it("while it runs: the progress with the frame and Cancel; the buttons are disabled", () => {
    const ws = ready();
    Object.assign(ws.track, { phase: "running", videoId: "video-1", trackId: "track-a", start: 10 });
    ws.track.progress = { videoId: "video-1", trackId: "track-a", frame: 14, done: 4, total: 16, flagged: 2 };
    const html = panel(ws);
    expect(html).toContain('data-testid="track-progress"');
    expect(html).toContain('data-done="4"');
    expect(html).toContain('data-total="16"');
    expect(html).toContain('data-frame="14"');
    expect(html).toContain('data-flagged="2"');
    expect(html).toContain("width: 25.0%");
    expect(html).toContain("frame 15 · 4 / 16 (25%) · 2 doubtful");
    expect(html).toMatch(/data-testid="track-cancel"[^>]*>Cancel</);
    expect(html).toMatch(/data-testid="propagate-backward"[^>]*disabled[^>]*title="[^"]*a propagation is running/);
  });

  it("after: the summary, and the doubtful frames as buttons that go there", () => {
    const ws = ready();
    Object.assign(ws.track, doneRun(summary({ flagged: [{ frame: 12, reason: "the area changed by 60% in one frame" }], stopped: { frame: 25, reason: "lost" }, lastFrame: 24, written: 14 })));
    const html = panel(ws);
    expect(html).toMatch(/data-testid="track-summary"[^>]*data-written="14"/);
    expect(html).toContain('data-stopped="25"');
    expect(html).toContain("Propagated to 14 frames (frames 12–25) from frame 11.");
    expect(html).toMatch(/data-testid="track-flag" data-frame="25"[^>]*>frame 26<\/button> lost \(stopped\)/);
    expect(html).toMatch(/data-testid="track-flag" data-frame="12"[^>]*>frame 13<\/button> the area changed by 60% in one frame/);
    expect(html).not.toContain("track-progress");
    Object.assign(ws.track, { phase: "failed", summary: null, error: "no SAM model is loaded" });
    expect(panel(ws)).toMatch(/data-testid="track-error"[^>]*>no SAM model is loaded</);
  });

  it("the timeline marks the flagged frames, with the reason", () => {
    const ws = ready();
    const html = render(Timeline, {
      props: { timeline: ws.timeline!, frame: 10, selected: null, flags: [{ frame: 12, reason: "jumped" }], onseek: () => {}, onlane: () => {} },
    }).body;
    expect(html).toMatch(/data-testid="timeline-flag" data-frame="12"[^>]*><title>frame 13: jumped<\/title>/);
  });
});
