import { describe, expect, it } from "vitest";
import { createActions, wantsSamCache, watchSamCache, watchSync, type Clock, type FrameViewControl, type Timers } from "./actions";
import { api as realApi, type Api } from "./api";
import type { AppInfo, Edited, PropagateSummary, ReviewInfo, Reviewed, SamCache, SyncInfo, TrackProgress } from "./bindings";
import { account, conflict, deferred, historyState, openWorkspace, propagateSummary, projectDetail, review, samPreview, shape, syncInfo, timelineTrack, videoSummary } from "./fixtures";
import { initialState, type WorkspaceState } from "./state";
import { chooseTool, flipHole, previewed, samClick, showCandidate } from "./tools";

type Answers = { [K in keyof Api]?: (...args: Parameters<Api[K]>) => Awaited<ReturnType<Api[K]>> | Promise<Awaited<ReturnType<Api[K]>>> };
type Call = [keyof Api, ...unknown[]];

const DEFAULTS: Partial<Record<keyof Api, () => unknown>> = {
  reviews: () => [],
  account: () => ({ server: null, anon_key: null, user: null, kept: null, problem: null }),
};

/** A fake of the typed API: every command is recorded; those without an answer fail the way
 *  the shell fails (a CommandError), which the actions must show as `ws.error`. */
function fakeApi(answers: Answers = {}) {
  const calls: Call[] = [];
  const fake: Record<string, unknown> = {};
  for (const name of Object.keys(realApi) as (keyof Api)[]) {
    fake[name] = async (...args: unknown[]) => {
      calls.push([name, ...args]);
      // A video's reviews are read whenever it opens, and the account at start: none and
      // signed out unless a test says otherwise.
      const answer = (answers[name] ?? DEFAULTS[name]) as ((...a: unknown[]) => unknown) | undefined;
      if (!answer) throw { kind: "internal", message: `unexpected ${name}` };
      return answer(...args);
    };
  }
  return { api: fake as unknown as Api, calls, names: () => calls.map((c) => c[0]) };
}

/** What every edit answers (and the refresh after it). */
const editAnswers = (shapes = [shape("track-new")]): Answers => ({
  frameShapes: () => shapes,
  timeline: () => ({ frame_count: 100, frames: [], tracks: [] }),
});

function edited(track: string | null, undo = 1, summary = "edit"): Edited {
  return { track_id: track, shape: null, history: historyState(undo, 0, summary) };
}

function setup(ws: WorkspaceState, answers: Answers = {}, view?: Partial<FrameViewControl>) {
  const f = fakeApi(answers);
  const traced: [string, number][] = [];
  const info: AppInfo[] = [];
  const actions = createActions(f.api, ws, {
    tracer: { start: (kind, frame) => traced.push([kind, frame]) },
    view: view ? () => view as FrameViewControl : undefined,
    onAppInfo: (i) => info.push(i),
  });
  return { ...f, actions, traced, info };
}

/** A fake frame view: records what the actions ask of it (a fit names the size it was given). */
function view() {
  const called: string[] = [];
  const v: FrameViewControl = {
    hasDraft: () => true,
    finishDraft: () => (called.push("finishDraft"), true),
    cancelDraft: () => void called.push("cancelDraft"),
    removeVertex: () => void called.push("removeVertex"),
    fitView: (size) => void called.push(size ? `fitView ${size.width}x${size.height}` : "fitView"),
    oneToOneView: () => void called.push("oneToOneView"),
    zoomBy: (f) => void called.push(`zoomBy ${f}`),
  };
  return { v, called };
}

/** Lets fire-and-forget commands (the SAM clear, a prediction after a box) settle. */
const settle = () => new Promise((r) => setTimeout(r, 0));

/** The workspace on frame 5 with one SAM click predicted into three candidates, `rank` shown. */
function withPreview(rank = 0) {
  const ws = openWorkspace(5);
  ws.tools = showCandidate(previewed(samClick(ws.tools, 100, 200, true)!, samPreview(5)), rank);
  return ws;
}

const appInfo = (more: Partial<AppInfo> = {}): AppInfo => ({
  version: "1",
  renderer: "cpu",
  sam_model: null,
  sam: null,
  database: "db",
  sam_manifest_hint: null,
  frame_base: null,
  ...more,
});

describe("start-up", () => {
  it("opens the only project and its first video, and loads the model `make run` asks for", async () => {
    const ws = initialState();
    const detail = projectDetail();
    const { actions, calls, info } = setup(ws, {
      listProjects: () => [detail.project],
      openProject: () => detail,
      history: () => historyState(2, 1),
      frameShapes: () => [shape("t1")],
      timeline: () => ({ frame_count: 100, frames: [], tracks: [] }),
      listSamModels: () => [],
      appInfo: () => appInfo({ sam_manifest_hint: "/m/sample.toml", frame_base: "http://127.0.0.1:9/tok/" }),
      loadSamModel: () => ({ id: "sample", provider: "CPU", provider_note: "CUDA: no CUDA provider in this ONNX Runtime" }),
    });
    await actions.start();
    expect(ws.error).toBeNull();
    expect(ws.detail).toEqual(detail);
    expect(ws.video).toEqual(detail.videos[0]);
    expect(ws.history).toEqual(historyState(2, 1));
    expect(ws.shapes).toEqual([shape("t1")]);
    expect(ws.serverBase).toBe("http://127.0.0.1:9/tok/");
    expect(ws.samModel).toBe("sample");
    expect(ws.status).toBe("SAM model sample on CPU");
    // The panel shows where SAM runs and why not on a GPU.
    expect(ws.samInfo).toEqual({ id: "sample", provider: "CPU", provider_note: "CUDA: no CUDA provider in this ONNX Runtime" });
    expect(info).toHaveLength(1);
    expect(calls).toContainEqual(["openProject", "project-1"]);
    expect(calls).toContainEqual(["frameShapes", "video-1", 0]);
    expect(calls).toContainEqual(["loadSamModel", "/m/sample.toml"]);
  });

  it("stays on the start page with several projects, and takes an already loaded model as it is", async () => {
    const ws = initialState();
    const a = projectDetail().project;
    const { actions, names } = setup(ws, {
      listProjects: () => [a, { ...a, id: "project-2" }],
      listSamModels: () => [],
      appInfo: () =>
        appInfo({ sam_model: "mobile_sam", sam: { id: "mobile_sam", provider: "CUDA", provider_note: null }, sam_manifest_hint: "/ignored.toml" }),
    });
    await actions.start();
    expect(ws.detail).toBeNull();
    expect(ws.projects).toHaveLength(2);
    expect(ws.samModel).toBe("mobile_sam");
    expect(ws.samInfo?.provider).toBe("CUDA");
    expect(names()).not.toContain("openProject");
    expect(names()).not.toContain("loadSamModel");
  });

  it("creates a project from the form and opens it", async () => {
    const ws = initialState();
    ws.newName = "  Cars ";
    ws.newLabels = "car, , truck ,";
    const detail = projectDetail(2, []);
    const { actions, calls } = setup(ws, {
      createProject: () => detail.project,
      openProject: () => detail,
      history: () => historyState(0),
    });
    await actions.createProject();
    expect(calls[0]).toEqual(["createProject", "Cars", ["car", "truck"]]);
    expect(ws.newName).toBe("");
    expect(ws.projects).toEqual([detail.project]);
    expect(ws.detail).toEqual(detail);
    expect(ws.video).toBeNull();
  });

  it("a refused project keeps the form and says why", async () => {
    const ws = initialState();
    ws.newName = "Cars";
    const { actions } = setup(ws, {
      createProject: () => Promise.reject({ kind: "invalid", message: "a project named Cars exists" }),
    });
    await actions.createProject();
    expect(ws.error).toBe("a project named Cars exists");
    expect(ws.newName).toBe("Cars");
    expect(ws.detail).toBeNull();
  });
});

describe("import", () => {
  it("imports a path into the open project and opens the video", async () => {
    const ws = openWorkspace(7);
    ws.importPath = " /v/new.mp4 ";
    const v = videoSummary("video-2", 50);
    const { actions, calls } = setup(ws, { importVideo: () => v, ...editAnswers([]) });
    await actions.importVideo(ws.importPath);
    expect(calls[0]).toEqual(["importVideo", "project-1", "/v/new.mp4"]);
    expect(ws.detail!.videos.map((x) => x.id)).toEqual(["video-1", "video-2"]);
    expect(ws.video).toEqual(v);
    expect(ws.frame).toBe(0);
    expect(ws.importPath).toBe("");
  });

  it("an imported video is shown fitted to the view, whatever the zoom of the one before", async () => {
    const ws = openWorkspace(7);
    const { v, called } = view();
    const small = { ...videoSummary("video-2", 50), width: 640, height: 272 };
    const { actions } = setup(ws, { importVideo: () => small, ...editAnswers([]) }, v);
    await actions.importVideo("/v/small.mp4");
    expect(ws.video).toEqual(small);
    expect(called).toEqual(["fitView 640x272"]);
  });

  it("ignores a blank path, and a failed import is an error", async () => {
    const ws = openWorkspace();
    const { actions, calls } = setup(ws, { importVideo: () => Promise.reject("no such file") });
    await actions.importVideo("   ");
    expect(calls).toEqual([]);
    await actions.importVideo("/missing.mp4");
    expect(ws.error).toBe("no such file");
    expect(ws.detail!.videos).toHaveLength(1);
  });

  it("the file dialog and dropped files import every file", async () => {
    const ws = openWorkspace();
    let n = 0;
    const { actions, calls } = setup(ws, {
      chooseVideoFiles: () => ["/a.mp4", "/b.mp4"],
      importVideo: () => videoSummary(`video-${++n + 1}`),
      ...editAnswers([]),
    });
    await actions.chooseFiles();
    actions.dropped(["/c.mp4"]);
    await settle();
    expect(calls.filter((c) => c[0] === "importVideo").map((c) => c[2])).toEqual(["/a.mp4", "/b.mp4", "/c.mp4"]);
    expect(ws.detail!.videos).toHaveLength(4);
  });

  it("progress events go to the status line; a failure is an error", () => {
    const ws = openWorkspace();
    const { actions } = setup(ws);
    actions.importProgress({ stage: "indexing", path: "/a.mp4" });
    expect(ws.status).toBe("indexing: /a.mp4");
    actions.importProgress({ stage: "done", video: videoSummary("v", 3) });
    expect(ws.status).toBe("imported v.mp4");
    actions.importProgress({ stage: "failed", path: "/a.mp4", message: "not a video" });
    expect(ws.status).toBe("");
    expect(ws.error).toBe("not a video");
  });
});

describe("import of annotations", () => {
  it("reloads the labels (some may be new), the history, the frame's shapes and the timeline", async () => {
    const ws = openWorkspace(20);
    ws.selectedTrack = "track-a";
    const withNew = projectDetail(4);
    const lanes = [timelineTrack("track-i", 7, [[20, 25]])];
    const { actions, calls } = setup(ws, {
      openProject: () => withNew,
      history: () => historyState(1, 0, "import 5 annotations"),
      frameShapes: () => [shape("track-i", 20)],
      timeline: () => ({ frame_count: 100, frames: [{ frame: 20, shapes: 1, keyframes: 1 }], tracks: lanes }),
    });
    await actions.imported({ annotations: 5, tracks: 1 });
    expect(calls.map((c) => c.slice(0, 2))).toEqual([
      ["openProject", "project-1"],
      ["history", "project-1"],
      ["frameShapes", "video-1"],
      ["timeline", "video-1"],
    ]);
    expect(ws.detail!.project.labels).toHaveLength(4);
    expect(ws.video!.id).toBe("video-1");
    expect(ws.frame).toBe(20);
    expect(ws.history).toEqual(historyState(1, 0, "import 5 annotations"));
    expect(ws.revision).toBe(1);
    expect(ws.shapes.map((x) => x.track_id)).toEqual(["track-i"]);
    expect(ws.timeline!.tracks).toEqual(lanes);
    expect(ws.status).toBe("imported 5 annotations in 1 track");
    expect(ws.error).toBeNull();
  });

  it("a failed reload is shown; the rest is still reloaded", async () => {
    const ws = openWorkspace(0);
    const { actions, names } = setup(ws, { history: () => historyState(2), ...editAnswers([]) });
    await actions.imported({ annotations: 1, tracks: 1 });
    expect(ws.error).toBe("unexpected openProject");
    expect(names()).toEqual(["openProject", "history", "frameShapes", "timeline"]);
    expect(ws.history).toEqual(historyState(2));
  });
});

describe("SAM model", () => {
  it("loads the chosen model and refreshes the shipped list", async () => {
    const ws = openWorkspace();
    ws.samManifest = " mobile_sam ";
    ws.modelProgress = { stage: "loading", model: "mobile_sam" };
    const models = [{ id: "mobile_sam", name: "MobileSAM", licence: "Apache-2.0", downloaded: true, download_bytes: null }];
    const { actions, calls } = setup(ws, { loadSamModel: () => ({ id: "mobile_sam", provider: "cuda", provider_note: null }), listSamModels: () => models });
    await actions.loadSam();
    expect(calls.map((c) => c.slice(0, 2))).toEqual([["loadSamModel", "mobile_sam"], ["listSamModels"]]);
    expect(ws.samModel).toBe("mobile_sam");
    expect(ws.status).toBe("SAM model mobile_sam on cuda");
    expect(ws.samModels).toEqual(models);
    expect(ws.modelProgress).toBeNull();
  });

  it("a failed load is an error and ends the progress; nothing to load does nothing", async () => {
    const ws = openWorkspace();
    const { actions, calls } = setup(ws, { loadSamModel: () => Promise.reject({ kind: "io", message: "no weights" }) });
    await actions.loadSam();
    expect(calls).toEqual([]);
    ws.samManifest = "/m.toml";
    ws.modelProgress = { stage: "loading", model: "m" };
    await actions.loadSam();
    expect(ws.error).toBe("no weights");
    expect(ws.samModel).toBe("");
    expect(ws.modelProgress).toBeNull();
  });

  it("model progress: ready ends it, failed is an error", () => {
    const ws = openWorkspace();
    const { actions } = setup(ws);
    const downloading = { stage: "downloading", model: "m", file: "enc.onnx", downloaded: 5, total: 10 } as const;
    actions.modelProgress(downloading);
    expect(ws.modelProgress).toEqual(downloading);
    actions.modelProgress({ stage: "ready", model: { id: "m", provider: "cpu", provider_note: null } });
    expect(ws.modelProgress).toBeNull();
    actions.modelProgress({ stage: "failed", model: "m", message: "checksum" });
    expect(ws.error).toBe("checksum");
  });
});

describe("SAM", () => {
  it("a click predicts with the prompt so far; the best candidate is shown", async () => {
    const ws = openWorkspace(5);
    const { actions, calls, traced } = setup(ws, { samPredict: () => samPreview(5) });
    await actions.samClick({ x: 100, y: 200 }, true);
    await actions.samClick({ x: 300, y: 50 }, false);
    expect(calls[1]).toEqual([
      "samPredict",
      "video-1",
      5,
      { points: [{ x: 100, y: 200, positive: true }, { x: 300, y: 50, positive: false }], bbox: null },
    ]);
    expect(ws.tools.preview).toEqual(samPreview(5));
    expect(ws.tools.candidate).toBe(0);
    expect(traced).toEqual([["sam", 5], ["sam", 5]]);
  });

  it("clicks of other tools are not SAM points", async () => {
    const ws = openWorkspace(5);
    ws.tools = chooseTool(ws.tools, "polygon");
    const { actions, calls } = setup(ws);
    await actions.samClick({ x: 1, y: 1 }, true);
    expect(calls).toEqual([]);
    expect(ws.tools.prompt.points).toEqual([]);
  });

  it("a box is a SAM prompt with SAM and a bbox shape with the box tool", async () => {
    const b = { x: 10, y: 20, width: 30, height: 40 };
    const sam = openWorkspace(5);
    const s = setup(sam, { samPredict: () => samPreview(5) });
    await s.actions.box(b);
    await settle();
    expect(s.calls).toEqual([["samPredict", "video-1", 5, { points: [], bbox: b }]]);

    const boxed = openWorkspace(5);
    boxed.tools = chooseTool(boxed.tools, "box");
    const d = setup(boxed, { drawShape: () => edited("track-new"), ...editAnswers() });
    await d.actions.box(b);
    expect(d.calls[0]).toEqual(["drawShape", "video-1", 5, { to: "new_track", label_id: "label-0" }, { kind: "bbox", bbox: b }]);
    expect(boxed.selectedTrack).toBe("track-new");
  });

  it("accepting stores the shown candidate as a new object of the current label", async () => {
    const ws = withPreview(1);
    ws.labelIndex = 2;
    const { actions, calls, traced } = setup(ws, {
      samAccept: () => ({ track_id: "track-9", shape: shape("track-9", 5), history: historyState(4, 0, "add mask") }),
      ...editAnswers([shape("track-9", 5)]),
    });
    await actions.run({ type: "accept" });
    expect(calls[0]).toEqual(["samAccept", "video-1", 5, 1, { to: "new_track", label_id: "label-2" }]);
    expect(calls.slice(1).map((c) => c[0]).sort()).toEqual(["frameShapes", "timeline"]);
    expect(ws.history).toEqual(historyState(4, 0, "add mask"));
    expect(ws.selectedTrack).toBe("track-9");
    expect(ws.revision).toBe(1);
    expect(ws.shapes).toEqual([shape("track-9", 5)]);
    expect(ws.tools.preview).toBeNull();
    expect(ws.tools.prompt.points).toEqual([]);
    expect(traced).toEqual([["accept", 5]]);
  });

  it("accepting with a selected object adds to it; a locked one is refused", async () => {
    const ws = withPreview();
    ws.selectedTrack = "track-3";
    const { actions, calls } = setup(ws, {
      samAccept: () => ({ track_id: "track-3", shape: shape("track-3", 5), history: historyState(1) }),
      ...editAnswers(),
    });
    await actions.accept();
    expect(calls[0]).toEqual(["samAccept", "video-1", 5, 0, { to: "track", track_id: "track-3" }]);

    const locked = withPreview();
    locked.selectedTrack = "track-3";
    locked.locked = ["track-3"];
    const l = setup(locked);
    await l.actions.accept();
    expect(l.calls).toEqual([]);
    expect(locked.error).toBe("the selected object is locked; unlock it (X) or select another");
    expect(locked.tools.preview).not.toBeNull();
  });

  it("a project without labels cannot take a new object", async () => {
    const ws = withPreview();
    ws.detail = projectDetail(0);
    const { actions, calls } = setup(ws);
    await actions.accept();
    expect(calls).toEqual([]);
    expect(ws.error).toBe("the project has no label; create one first");
  });

  it("a refused accept keeps the preview and shows the shell's message", async () => {
    const ws = withPreview();
    const { actions } = setup(ws, { samAccept: () => Promise.reject({ kind: "invalid", message: "label takes no masks" }) });
    await actions.accept();
    expect(ws.error).toBe("label takes no masks");
    expect(ws.tools.preview).not.toBeNull();
    expect(ws.history).toEqual(historyState(0));
  });

  it("a candidate without an area is built by the shell when shown", async () => {
    const ws = withPreview();
    const built = { rank: 1, iou: 0.9, area: 777, bbox: null };
    const { actions, calls } = setup(ws, { samCandidate: () => built });
    await actions.run({ type: "candidate", rank: 1 });
    expect(calls).toEqual([["samCandidate", "video-1", 5, 1]]);
    expect(ws.tools.candidate).toBe(1);
    expect(ws.tools.preview!.candidates[1]).toEqual(built);
    await actions.chooseCandidate(0);
    expect(calls).toHaveLength(1);
    expect(ws.tools.candidate).toBe(0);
  });

  it("another frame drops the prompt and clears the shell's preview", async () => {
    const ws = withPreview();
    const { actions, calls } = setup(ws, { samClear: () => null, frameShapes: () => [] });
    await actions.goto(6);
    await settle();
    expect(calls.map((c) => c[0]).sort()).toEqual(["frameShapes", "samClear"]);
    expect(ws.frame).toBe(6);
    expect(ws.tools.preview).toBeNull();
    expect(ws.tools.prompt.points).toEqual([]);
  });
});

describe("navigation", () => {
  it("another video is fitted to the view (as F does); another frame or the same video keeps the zoom", async () => {
    const ws = openWorkspace(5);
    const { v, called } = view();
    const { actions } = setup(ws, editAnswers([]), v);
    await actions.goto(40);
    await actions.run({ type: "goto", frame: 41, trace: "step" });
    await actions.openVideo(ws.video!);
    expect(called).toEqual([]);
    const other = { ...videoSummary("video-2", 50), width: 640, height: 272 };
    await actions.openVideo(other);
    expect(called).toEqual(["fitView 640x272"]);
    await actions.goto(3);
    expect(called).toEqual(["fitView 640x272"]);
    await actions.openVideo(videoSummary("video-1"));
    expect(called).toEqual(["fitView 640x272", "fitView 1280x720"]);
  });

  it("a click on an object's lane selects the object and goes to the clicked frame", async () => {
    const ws = openWorkspace(5);
    const { actions, calls } = setup(ws, { frameShapes: () => [shape("track-a", 30)] });
    await actions.seekObject("track-a", 30);
    expect(ws.selectedTrack).toBe("track-a");
    expect(ws.frame).toBe(30);
    expect(calls).toEqual([["frameShapes", "video-1", 30]]);
    expect(ws.shapes).toEqual([shape("track-a", 30)]);
  });

  it("a lane click where the object has no shape goes to its nearest frame that has one", async () => {
    const ws = openWorkspace(5);
    ws.selectedTrack = "track-a";
    const { actions } = setup(ws, { frameShapes: () => [] });
    await actions.seekObject("track-b", 24);
    expect(ws.selectedTrack).toBe("track-b");
    expect(ws.frame).toBe(20);
    await actions.seekObject("track-a", 17);
    expect(ws.selectedTrack).toBe("track-a");
    expect(ws.frame).toBe(10);
    await actions.seekObject("track-a", 90);
    expect(ws.frame).toBe(30);
  });

  it("a lane click on its own frame only selects; an object the timeline lacks gets the clicked frame", async () => {
    const ws = openWorkspace(10);
    const { actions, calls } = setup(ws, { frameShapes: () => [] });
    await actions.seekObject("track-a", 10);
    expect(ws.selectedTrack).toBe("track-a");
    expect(calls).toEqual([]);
    await actions.seekObject("track-new", 60);
    expect(ws.selectedTrack).toBe("track-new");
    expect(ws.frame).toBe(60);
  });

  it("goto clamps to the video and does nothing on the same frame", async () => {
    const ws = openWorkspace(5);
    const { actions, calls } = setup(ws, { frameShapes: () => [shape("a", 99)] });
    await actions.goto(5);
    expect(calls).toEqual([]);
    await actions.goto(500);
    expect(ws.frame).toBe(99);
    expect(calls).toEqual([["frameShapes", "video-1", 99]]);
    expect(ws.shapes).toEqual([shape("a", 99)]);
  });

  it("a step key traces the step for the benchmarks and goes there", async () => {
    const ws = openWorkspace(5);
    const { actions, traced } = setup(ws, { frameShapes: () => [] });
    await actions.run({ type: "goto", frame: 6, trace: "step" });
    await actions.run({ type: "goto", frame: 30 });
    expect(traced).toEqual([["step", 6]]);
    expect(ws.frame).toBe(30);
  });

  it("playback advances with the clock at the video's rate and stops at the end", async () => {
    const ws = openWorkspace(90);
    const frames: (() => void)[] = [];
    let now = 1000;
    const clock: Clock = { now: () => now, nextFrame: (cb) => frames.push(cb), cancelFrame: () => {} };
    const f = fakeApi({ frameShapes: () => [] });
    const actions = createActions(f.api, ws, { clock });
    actions.togglePlay();
    expect(ws.playing).toBe(true);
    now += 100; // 3 frames at 30 fps
    frames.shift()!();
    expect(ws.frame).toBe(93);
    now += 1000;
    frames.shift()!();
    expect(ws.frame).toBe(99);
    expect(ws.playing).toBe(false);
    expect(frames).toHaveLength(0);
  });

  it("pausing cancels the next frame", () => {
    const ws = openWorkspace(0);
    const cancelled: number[] = [];
    const clock: Clock = { now: () => 0, nextFrame: () => 41, cancelFrame: (id) => cancelled.push(id) };
    const actions = createActions(fakeApi().api, ws, { clock });
    actions.run({ type: "togglePlay" });
    actions.run({ type: "togglePlay" });
    expect(ws.playing).toBe(false);
    expect(cancelled).toEqual([41]);
    const noVideo = initialState();
    createActions(fakeApi().api, noVideo, { clock }).togglePlay();
    expect(noVideo.playing).toBe(false);
  });
});

describe("edits", () => {
  it("undo steps the project back, refreshes and drops a selection that is gone", async () => {
    const ws = openWorkspace(5);
    ws.selectedTrack = "track-gone";
    const { actions, calls, traced } = setup(ws, {
      undo: () => historyState(2, 1, "add mask on frame 5"),
      ...editAnswers([shape("track-kept", 5)]),
    });
    await actions.run({ type: "undo" });
    expect(calls[0]).toEqual(["undo", "project-1"]);
    // The step may have been a review's: the reviews are read again too.
    expect(calls.slice(1).map((c) => c[0]).sort()).toEqual(["frameShapes", "reviews", "timeline"]);
    expect(ws.history).toEqual(historyState(2, 1, "add mask on frame 5"));
    expect(ws.status).toBe("undo: add mask on frame 5");
    expect(ws.revision).toBe(1);
    expect(ws.selectedTrack).toBeNull();
    expect(traced).toEqual([["undo", 5]]);
  });

  it("an edit or undo brings the timeline's new lanes", async () => {
    const ws = openWorkspace(5);
    const lanes = [timelineTrack("track-kept", 1, [[5, 9]], [5])];
    const { actions } = setup(ws, {
      undo: () => historyState(2, 1, "add mask on frame 5"),
      frameShapes: () => [shape("track-kept", 5)],
      timeline: () => ({ frame_count: 100, frames: [{ frame: 5, shapes: 1, keyframes: 1 }], tracks: lanes }),
    });
    expect(ws.timeline!.tracks.map((t) => t.track_id)).toEqual(["track-a", "track-b"]);
    await actions.undoRedo("undo");
    expect(ws.timeline!.tracks).toEqual(lanes);
  });

  it("redo keeps a selection that is still there", async () => {
    const ws = openWorkspace(5);
    ws.selectedTrack = "track-kept";
    const { actions, calls } = setup(ws, { redo: () => historyState(3, 0, "again"), ...editAnswers([shape("track-kept", 5)]) });
    await actions.undoRedo("redo");
    expect(calls[0]).toEqual(["redo", "project-1"]);
    expect(ws.status).toBe("redo: again");
    expect(ws.selectedTrack).toBe("track-kept");
  });

  it("a failed undo is shown and changes nothing", async () => {
    const ws = openWorkspace(5);
    const { actions, names } = setup(ws, { undo: () => Promise.reject(new Error("nothing to undo")) });
    await actions.undoRedo("undo");
    expect(ws.error).toBe("nothing to undo");
    expect(ws.history).toEqual(historyState(0));
    expect(ws.revision).toBe(0);
    expect(names()).toEqual(["undo"]);
  });

  it("a finished polygon is a new shape; in hole mode it cuts the selected object", async () => {
    const ring = [{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }];
    const ws = openWorkspace(5);
    ws.tools = chooseTool(ws.tools, "polygon");
    const s = setup(ws, { drawShape: () => edited("track-p"), cutHole: () => edited("track-p", 2), ...editAnswers() });
    await s.actions.finishDraft("polygon", ring);
    expect(s.calls[0]).toEqual(["drawShape", "video-1", 5, { to: "new_track", label_id: "label-0" }, { kind: "polygon", exterior: ring, holes: [] }]);

    ws.tools = flipHole(ws.tools);
    await s.actions.finishDraft("polygon", ring);
    expect(s.calls.filter((c) => c[0] === "cutHole")).toEqual([["cutHole", "video-1", 5, "track-p", ring]]);
    expect(ws.tools.holeMode).toBe(false);
  });

  it("a hole needs a selection; without one the status says so", async () => {
    const ws = openWorkspace(5);
    ws.tools = flipHole(chooseTool(ws.tools, "polygon"));
    const { actions, calls } = setup(ws);
    await actions.finishDraft("polygon", [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 1, y: 1 }]);
    expect(calls).toEqual([]);
    expect(ws.status).toBe("select an object first (click it in the list, or Ctrl+click it)");
    expect(ws.tools.holeMode).toBe(true);
  });

  it("brush strokes paint with the current radius; the eraser needs a selection", async () => {
    const ws = openWorkspace(5);
    ws.brushRadius = 20;
    const points = [{ x: 5, y: 5 }];
    const { actions, calls } = setup(ws, { brushStroke: () => edited("track-b"), ...editAnswers() });
    await actions.brush(points, true);
    expect(calls).toEqual([]);
    expect(ws.status).toBe("select an object first (click it in the list, or Ctrl+click it)");
    await actions.brush(points, false);
    expect(calls[0]).toEqual(["brushStroke", "video-1", 5, { to: "new_track", label_id: "label-0" }, { points, radius: 20, erase: false }]);
    await actions.brush(points, true);
    expect(calls.filter((c) => c[0] === "brushStroke")[1]).toEqual([
      "brushStroke",
      "video-1",
      5,
      { to: "track", track_id: "track-b" },
      { points, radius: 20, erase: true },
    ]);
  });

  it("picking selects what is under the point, passing the hidden objects", async () => {
    const ws = openWorkspace(5);
    ws.hidden = ["track-h"];
    ws.selectedTrack = "track-old";
    const answers = ["track-2", null];
    const { actions, calls } = setup(ws, { pickObject: () => answers.shift()! });
    await actions.pick({ x: 3, y: 4 });
    expect(calls[0]).toEqual(["pickObject", "video-1", 5, 3, 4, ["track-h"]]);
    expect(ws.selectedTrack).toBe("track-2");
    await actions.pick({ x: 900, y: 4 });
    expect(ws.selectedTrack).toBeNull();
  });

  it("deleting: the shape on this frame or the whole object; locked objects are refused", async () => {
    const ws = openWorkspace(5);
    ws.selectedTrack = "track-1";
    const { actions, calls } = setup(ws, {
      deleteShape: () => edited(null, 3),
      deleteTrack: () => edited(null, 4),
      ...editAnswers([]),
    });
    await actions.run({ type: "delete", track: "track-1", wholeObject: false });
    expect(calls[0]).toEqual(["deleteShape", "video-1", 5, "track-1"]);
    expect(ws.selectedTrack).toBeNull();
    expect(ws.history!.undo).toBe(3);
    await actions.deleteShape("track-2", true);
    expect(calls.filter((c) => c[0] === "deleteTrack")).toEqual([["deleteTrack", "video-1", "track-2"]]);

    ws.locked = ["track-3"];
    const before = calls.length;
    await actions.deleteShape("track-3", false);
    expect(calls).toHaveLength(before);
    expect(ws.error).toBe("that object is locked; unlock it (X) first");
  });

  it("copy to the next frame goes there; it needs an unlocked selection", async () => {
    const ws = openWorkspace(5);
    const { actions, calls } = setup(ws, { copyToNextFrame: () => edited("track-1", 6), ...editAnswers() });
    await actions.run({ type: "copyToNext" });
    expect(calls).toEqual([]);
    expect(ws.status).toBe("select an object first (click it in the list, or Ctrl+click it)");
    ws.selectedTrack = "track-1";
    await actions.copyToNext();
    expect(calls[0]).toEqual(["copyToNextFrame", "video-1", 5, "track-1"]);
    expect(ws.frame).toBe(6);
    expect(ws.history!.undo).toBe(6);
    expect(ws.revision).toBe(1);
    ws.locked = ["track-1"];
    await actions.copyToNext();
    expect(ws.error).toBe("the selected object is locked; unlock it (X) first");
  });

  it("relabel and attributes go to the object on this frame, unless it is locked", async () => {
    const ws = openWorkspace(5);
    const { actions, calls } = setup(ws, { changeLabel: () => edited("track-1"), setAttribute: () => edited("track-1"), ...editAnswers() });
    await actions.run({ type: "relabel", track: "track-1", labelId: "label-2" });
    await actions.setAttribute("track-1", "text", "STOP");
    await actions.relabel(null, "label-2");
    expect(calls.filter((c) => c[0] === "changeLabel" || c[0] === "setAttribute")).toEqual([
      ["changeLabel", "video-1", 5, "track-1", "label-2"],
      ["setAttribute", "video-1", 5, "track-1", "text", "STOP"],
    ]);
    expect(ws.revision).toBe(2);
    ws.locked = ["track-1"];
    await actions.setAttribute("track-1", "text", "GO");
    expect(ws.error).toBe("that object is locked; unlock it (X) first");
    expect(calls.filter((c) => c[0] === "setAttribute")).toHaveLength(1);
  });
});

describe("key commands", () => {
  it("Esc drops the draft, hole mode, the SAM prompt (clearing the shell's) and the help", async () => {
    const ws = withPreview();
    ws.tools = flipHole(ws.tools);
    ws.showHelp = true;
    const { v, called } = view();
    const { actions, calls } = setup(ws, { samClear: () => null }, v);
    await actions.run({ type: "cancel" });
    await settle();
    expect(called).toEqual(["cancelDraft"]);
    expect(calls).toEqual([["samClear"]]);
    expect(ws.tools).toMatchObject({ holeMode: false, preview: null, candidate: 0, prompt: { points: [], bbox: null } });
    expect(ws.showHelp).toBe(false);
  });

  it("Esc without a preview does not bother the shell", async () => {
    const ws = openWorkspace();
    const { actions, calls } = setup(ws);
    await actions.cancel();
    await settle();
    expect(calls).toEqual([]);
    expect(ws.error).toBeNull();
  });

  it("drawing and view commands go to the frame view", async () => {
    const ws = openWorkspace();
    const { v, called } = view();
    const { actions } = setup(ws, {}, v);
    for (const c of [{ type: "finishDraft" }, { type: "removeVertex" }, { type: "zoomFit" }, { type: "zoomOneToOne" }, { type: "zoomBy", factor: 0.8 }] as const) {
      await actions.run(c);
    }
    expect(called).toEqual(["finishDraft", "removeVertex", "fitView", "oneToOneView", "zoomBy 0.8"]);
  });

  it("tool, label, brush, hole, hide, lock and help change the state", async () => {
    const ws = openWorkspace();
    const { actions, calls } = setup(ws);
    await actions.run({ type: "toggleHole" });
    expect(ws.status).toBe("select the object to cut a hole into first");
    expect(ws.tools.tool).toBe("sam");
    ws.selectedTrack = "track-1";
    await actions.run({ type: "toggleHole" });
    expect(ws.tools).toMatchObject({ tool: "polygon", holeMode: true });
    await actions.run({ type: "tool", tool: "box" });
    expect(ws.tools).toMatchObject({ tool: "box", holeMode: false });
    await actions.run({ type: "label", index: 2 });
    expect(ws.labelIndex).toBe(2);
    await actions.run({ type: "brushRadius", radius: 14 });
    expect(ws.brushRadius).toBe(14);
    expect(ws.status).toBe("brush radius 14 px");
    await actions.run({ type: "toggleHidden", track: "track-1" });
    await actions.run({ type: "toggleLock", track: "track-1" });
    expect(ws.hidden).toEqual(["track-1"]);
    expect(ws.locked).toEqual(["track-1"]);
    await actions.run({ type: "toggleHidden", track: "track-1" });
    await actions.run({ type: "toggleLock", track: null });
    expect(ws.hidden).toEqual([]);
    expect(ws.locked).toEqual(["track-1"]);
    await actions.run({ type: "help" });
    expect(ws.showHelp).toBe(true);
    await actions.run({ type: "none" });
    expect(calls).toEqual([]);
  });

  it("Ctrl+O opens the file dialog", async () => {
    const ws = openWorkspace();
    const { actions, calls } = setup(ws, { chooseVideoFiles: () => [] });
    await actions.run({ type: "importDialog" });
    expect(calls).toEqual([["chooseVideoFiles"]]);
  });
});

describe("propagation", () => {
  /** A run's summary, with one doubtful frame. */
  const summary = (more: Partial<PropagateSummary> = {}) =>
    propagateSummary({ flagged: [{ frame: 17, reason: "low confidence: predicted IoU 0.42 < 0.50" }], ...more });
  const progress = (frame: number, more: Partial<TrackProgress> = {}): TrackProgress => ({
    videoId: "video-1",
    trackId: "track-a",
    frame,
    done: frame - 10,
    total: 19,
    flagged: 0,
    ...more,
  });

  /** The workspace on frame 10, a model loaded, track-a (a mask here) selected; a clock set by hand. */
  function ready(answers: Answers) {
    const ws = openWorkspace(10);
    ws.samModel = "sample";
    ws.selectedTrack = "track-a";
    ws.shapes = [shape("track-a", 10)];
    let now = 0;
    const clock: Clock = { now: () => now, nextFrame: () => 0, cancelFrame: () => {} };
    const f = fakeApi(answers);
    const actions = createActions(f.api, ws, { clock });
    return { ws, ...f, actions, tick: (ms: number) => (now += ms) };
  }

  it("runs with the form's options, shows progress, then the summary; history, frame and timeline read again", async () => {
    const d = deferred<PropagateSummary>();
    const lane = { frame_count: 100, frames: [], tracks: [timelineTrack("track-a", 1, [[10, 20]], [10])] };
    const { ws, actions, calls, names, tick } = ready({
      propagateTrack: () => d.promise,
      timeline: () => lane,
      history: () => historyState(4, 0, "propagate #1 forward from frame 10"),
      frameShapes: () => [shape("track-a", 10)],
    });
    ws.trackForm = { limit: 30, stopOnDoubt: true };
    const revision = ws.revision;
    const run = actions.run({ type: "propagate", direction: "forward" });
    expect(ws.track).toMatchObject({ phase: "running", direction: "forward", videoId: "video-1", trackId: "track-a", start: 10 });
    expect(calls).toEqual([
      ["propagateTrack", "video-1", "track-a", 10, { direction: "forward", maxFrames: 30, minScore: 0.5, maxAreaChange: 0.5, maxJump: 0.5, stopOnDoubt: true }],
    ]);
    // a second run is refused while one goes, with the reason
    await actions.propagate("backward");
    expect(ws.status).toMatch(/a propagation is running/);
    expect(names().filter((n) => n === "propagateTrack")).toHaveLength(1);

    // progress: kept; the timeline is read again at most once a second, so the lane grows
    actions.trackProgress(progress(11));
    expect(ws.track.progress?.frame).toBe(11);
    expect(names()).not.toContain("timeline");
    tick(1200);
    actions.trackProgress(progress(12));
    actions.trackProgress(progress(13));
    await settle();
    expect(names().filter((n) => n === "timeline")).toHaveLength(1);
    expect(ws.timeline).toEqual(lane);
    // another object's events are not this run's
    actions.trackProgress(progress(40, { trackId: "track-b" }));
    expect(ws.track.progress?.frame).toBe(13);

    d.resolve(summary());
    await run;
    expect(ws.track).toMatchObject({ phase: "done", summary: summary() });
    expect(ws.history).toEqual(historyState(4, 0, "propagate #1 forward from frame 10"));
    expect(ws.revision).toBe(revision + 1);
    expect(ws.frame).toBe(10);
    expect(calls).toContainEqual(["frameShapes", "video-1", 10]);
    expect(ws.status).toBe("propagated 19 frames");
    expect(ws.error).toBeNull();

    // a doubtful frame of the summary: its object selected, that frame shown
    ws.selectedTrack = null;
    await actions.reviewFrame(17);
    expect(ws.frame).toBe(17);
    expect(ws.selectedTrack).toBe("track-a");
    actions.dismissPropagation();
    expect(ws.track.phase).toBe("idle");
  });

  it("a doubtful frame of a run on another video opens that video first", async () => {
    const { ws, actions } = ready(editAnswers([shape("track-a", 17)]));
    const other = videoSummary("video-2");
    ws.detail = projectDetail(3, [ws.video!, other]);
    Object.assign(ws.track, { phase: "done", videoId: "video-2", trackId: "track-a", start: 10, summary: summary({ videoId: "video-2" }) });
    await actions.reviewFrame(17);
    expect(ws.video?.id).toBe("video-2");
    expect(ws.frame).toBe(17);
    expect(ws.selectedTrack).toBe("track-a");
  });

  it("Cancel asks the shell once; the run ends with what it wrote, and the history still follows", async () => {
    const d = deferred<PropagateSummary>();
    const { ws, actions, names } = ready({
      propagateTrack: () => d.promise,
      cancelPropagation: () => true,
      history: () => historyState(3),
      ...editAnswers([shape("track-a", 10)]),
    });
    const run = actions.propagate("forward");
    const first = actions.cancelPropagation();
    expect(ws.track.cancelling).toBe(true);
    await actions.cancelPropagation();
    await first;
    expect(names().filter((n) => n === "cancelPropagation")).toHaveLength(1);
    d.resolve(summary({ written: 6, lastFrame: 16, cancelled: true, flagged: [] }));
    await run;
    expect(ws.track).toMatchObject({ phase: "done", cancelling: false, summary: { cancelled: true, written: 6 } });
    expect(ws.status).toBe("propagated 6 frames (cancelled)");
    expect(ws.history).toEqual(historyState(3));
  });

  it("a failure is shown in the panel, and what was written before it is in the history", async () => {
    const message = "frame 14 could not be decoded to track on it (propagation stopped there; 3 frame(s) before it were written and undo as one step)";
    const { ws, actions, names } = ready({
      propagateTrack: () => Promise.reject({ kind: "media", message }),
      history: () => historyState(5),
      ...editAnswers([shape("track-a", 10)]),
    });
    await actions.propagate("forward");
    expect(ws.track).toMatchObject({ phase: "failed", error: message, summary: null });
    expect(ws.history).toEqual(historyState(5));
    expect(names()).toContain("timeline");
  });

  it("when it cannot start, T says why in the status line and asks the shell nothing", async () => {
    const { ws, actions, calls } = ready({});
    ws.samModel = "";
    await actions.run({ type: "propagate", direction: "forward" });
    expect(ws.status).toMatch(/load a SAM model first/);
    ws.samModel = "sample";
    ws.frame = 0;
    ws.shapes = [shape("track-a", 0)];
    await actions.run({ type: "propagate", direction: "backward" });
    expect(ws.status).toMatch(/first frame/);
    expect(calls).toEqual([]);
    expect(ws.track.phase).toBe("idle");
  });
});

describe("SAM readiness", () => {
  /** Timers run by hand: `fire()` runs the due one. */
  function manualTimers() {
    const pending = new Map<number, { cb: () => void; ms: number }>();
    let next = 1;
    const timers: Timers = {
      set: (cb, ms) => (pending.set(next, { cb, ms }), next++),
      clear: (id) => void pending.delete(id),
    };
    const fire = async () => {
      const [id, t] = [...pending.entries()][0];
      pending.delete(id);
      t.cb();
      await settle();
      return t.ms;
    };
    return { timers, pending, fire };
  }

  it("runs with the SAM tool, a model and a video, while not playing", () => {
    const ws = openWorkspace();
    expect(wantsSamCache(ws)).toBe(false); // no model
    ws.samModel = "sample";
    expect(wantsSamCache(ws)).toBe(true);
    ws.playing = true;
    expect(wantsSamCache(ws)).toBe(false);
    ws.playing = false;
    ws.tools = chooseTool(ws.tools, "brush");
    expect(wantsSamCache(ws)).toBe(false);
  });

  it("starts pre-encoding once settled on a frame, then polls until the neighbours are ready", async () => {
    const answers: SamCache[] = [
      { first: 3, ready: [true, false, false] },
      { first: 3, ready: [true, true, true] },
    ];
    const asked: unknown[][] = [];
    const seen: SamCache[] = [];
    const t = manualTimers();
    watchSamCache({ samPrefetch: async (...a) => (asked.push(a), answers.shift()!) }, "video-1", 4, (c) => seen.push(c), t.timers);
    expect(asked).toEqual([]);
    expect(await t.fire()).toBe(250);
    expect(asked).toEqual([["video-1", 4, true]]);
    expect(await t.fire()).toBe(400);
    expect(asked[1]).toEqual(["video-1", 4, false]);
    expect(seen.map((c) => c.ready.every(Boolean))).toEqual([false, true]);
    expect(t.pending.size).toBe(0);
  });

  it("stopping cancels the wait; an answer after the stop is dropped; failures are quiet", async () => {
    const t = manualTimers();
    const stop = watchSamCache({ samPrefetch: async () => ({ first: 0, ready: [false] }) }, "v", 0, () => {}, t.timers);
    stop();
    expect(t.pending.size).toBe(0);

    const seen: SamCache[] = [];
    const late = manualTimers();
    let release: (c: SamCache) => void = () => {};
    const stopLate = watchSamCache(
      { samPrefetch: () => new Promise<SamCache>((r) => (release = r)) },
      "v",
      0,
      (c) => seen.push(c),
      late.timers,
    );
    await late.fire();
    stopLate();
    release({ first: 0, ready: [false] });
    await settle();
    expect(seen).toEqual([]);
    expect(late.pending.size).toBe(0);

    const failing = manualTimers();
    watchSamCache({ samPrefetch: () => Promise.reject(new Error("no model")) }, "v", 0, () => {}, failing.timers);
    await failing.fire();
    expect(failing.pending.size).toBe(0);
  });
});

describe("review", () => {
  const reviewed = (reviews: ReviewInfo[], id: string, undo = 1): Reviewed => ({ review_id: id, reviews, history: historyState(undo, 0, "review step") });

  it("opening a video reads its reviews; another video closes the open one", async () => {
    const ws = openWorkspace();
    ws.video = null;
    ws.reviewOpen = "old";
    const { actions, calls } = setup(ws, { ...editAnswers([]), reviews: () => [review("r1")] });
    await actions.openVideo(videoSummary("video-1"));
    expect(calls.find((c) => c[0] === "reviews")).toEqual(["reviews", "video-1"]);
    expect(ws.reviews.map((r) => r.id)).toEqual(["r1"]);
    expect(ws.reviewOpen).toBeNull();
  });

  it("request review sends the form's scope, or says why not without a call", async () => {
    const ws = openWorkspace(7);
    const { actions, calls } = setup(ws, { openReview: () => reviewed([review("r1", { scope: { scope: "frames", start: 7, end: 9 } })], "r1") });
    ws.reviewForm.scope = "object";
    await actions.openReview();
    expect(calls).toEqual([]);
    expect(ws.status).toContain("Select an object");
    // Frame 7 on screen is "frame 8" in the form, which counts from 1 as the timeline does.
    ws.reviewForm = { ...ws.reviewForm, scope: "frames", end: 10 };
    await actions.openReview();
    expect(calls).toEqual([["openReview", "video-1", { scope: "frames", start: 7, end: 9 }]]);
    expect(ws.reviewOpen).toBe("r1");
    expect(ws.history).toEqual(historyState(1, 0, "review step"));
    expect(ws.reviews).toHaveLength(1);
  });

  it("reject sends the comment and clears it; without one nothing is sent", async () => {
    const ws = openWorkspace();
    const r = review("r1", { covers: "car #1" });
    ws.reviews = [r];
    const { actions, calls } = setup(ws, { decideReview: () => reviewed([{ ...r, state: "rejected" }], "r1", 2) });
    await actions.decideReview(r, "reject");
    expect(calls).toEqual([]);
    expect(ws.status).toBe("Say what to fix in the comment first.");
    ws.reviewForm.comment = "  the wheel is missing ";
    await actions.decideReview(r, "reject");
    expect(calls).toEqual([["decideReview", "r1", "reject", "the wheel is missing"]]);
    expect(ws.reviewForm.comment).toBe("");
    expect(ws.reviews[0].state).toBe("rejected");
    expect(ws.status).toBe("rejected: car #1");
  });

  it("a comment is pinned to the frame on screen unless unpinned; show goes to what the review covers", async () => {
    const ws = openWorkspace(12);
    const r = review("r1", { scope: { scope: "track", track_id: "track-a" }, first_frame: 10 });
    const { actions, calls } = setup(ws, { commentReview: () => reviewed([r], "r1"), frameShapes: () => [] });
    ws.reviewForm.comment = "here";
    await actions.commentReview(r);
    ws.reviewForm = { ...ws.reviewForm, comment: "anywhere", pin: false };
    await actions.commentReview(r);
    expect(calls).toEqual([
      ["commentReview", "r1", "here", 12],
      ["commentReview", "r1", "anywhere", null],
    ]);
    await actions.showReview(r);
    expect(ws.frame).toBe(10);
    expect(ws.selectedTrack).toBe("track-a");
    expect(ws.reviewOpen).toBe("r1");
  });
});

describe("team", () => {
  const sync = (pending: number): SyncInfo => syncInfo({ pending });

  it("start reads who is signed in", async () => {
    const ws = initialState();
    const signedIn = { server: "https://s", anon_key: null, user: { id: "u", email: "a@b.c" }, kept: "in the system keyring", problem: null };
    const { actions } = setup(ws, { listProjects: () => [], listSamModels: () => [], appInfo: () => ({}) as AppInfo, account: () => signedIn });
    await actions.start();
    expect(ws.account).toEqual(signedIn);
    expect(ws.error).toBeNull();
  });

  it("opening a video whose file is on the server downloads it first, then opens it", async () => {
    const ws = openWorkspace();
    const remote = { ...videoSummary("video-2"), here: false, server: "ready" };
    ws.detail = projectDetail(3, [videoSummary("video-1"), remote]);
    const { actions, calls } = setup(ws, { ...editAnswers([]), fetchVideo: () => ({ ...remote, here: true }) });
    await actions.openVideo(remote);
    expect(calls[0]).toEqual(["fetchVideo", "video-2"]);
    expect(ws.video?.id).toBe("video-2");
    expect(ws.video?.here).toBe(true);
    expect(ws.detail!.videos.map((v) => v.here)).toEqual([true, true]);
    expect(ws.status).toBe("downloaded video-2.mp4");
  });

  it("a download that fails, or a file the server does not have, leaves the open video and says why", async () => {
    const ws = openWorkspace();
    const before = ws.video;
    const failing = { ...videoSummary("video-2"), here: false, server: "ready" };
    const { actions, calls } = setup(ws, { fetchVideo: () => Promise.reject({ kind: "sign_in", message: "sign in to your team's server first" }) });
    await actions.openVideo(failing);
    expect(ws.error).toBe("sign in to your team's server first");
    expect(ws.video).toBe(before);
    ws.error = null;
    await actions.openVideo({ ...failing, server: "local" });
    expect(calls.filter((c) => c[0] === "fetchVideo")).toHaveLength(1);
    expect(ws.error).toBe("'video-2.mp4' cannot be opened: its file is not on this machine");
  });

  it("a project brought from the server joins the list and opens", async () => {
    const ws = initialState();
    const d = projectDetail(1, []);
    const { actions, calls } = setup(ws, { openProject: () => d, history: () => historyState(0) });
    await actions.serverProjectOpened(d.project);
    expect(ws.projects.map((p) => p.id)).toEqual(["project-1"]);
    expect(calls[0]).toEqual(["openProject", "project-1"]);
    expect(ws.detail).toEqual(d);
  });

  it("an edit nudges the sync only for a project on a server with someone signed in", async () => {
    const ws = openWorkspace();
    const { actions, calls } = setup(ws, { syncStatus: () => sync(0) });
    await actions.nudgeSync();
    expect(calls).toEqual([]);
    ws.sync = sync(3);
    await actions.nudgeSync();
    expect(calls).toEqual([]); // signed out: the change waits
    ws.account = account();
    await actions.nudgeSync();
    expect(calls).toEqual([["syncStatus", "project-1", true]]);
    expect(ws.sync?.pending).toBe(0);
    ws.sync = { ...sync(1), on_server: false };
    await actions.nudgeSync();
    expect(calls).toHaveLength(1);
  });

  it("a conflict's Show goes to its object on its frame, opening its video first; a deleted one says so", async () => {
    const ws = openWorkspace(0);
    ws.detail = projectDetail(3, [ws.video!, videoSummary("video-2")]);
    const { actions, calls } = setup(ws, editAnswers([shape("track-a", 3)]));
    await actions.showConflict(conflict());
    expect(ws.video?.id).toBe("video-1");
    expect(ws.frame).toBe(3);
    expect(ws.selectedTrack).toBe("track-a");
    expect(calls).toEqual([["frameShapes", "video-1", 3]]);

    await actions.showConflict(conflict({ video_id: "video-2", track_id: "track-b", frame: 7 }));
    expect(ws.video?.id).toBe("video-2");
    expect(ws.frame).toBe(7);
    expect(ws.selectedTrack).toBe("track-b");

    calls.length = 0;
    await actions.showConflict(conflict({ object: "a deleted object", video_id: null }));
    expect(calls).toEqual([]);
    expect(ws.status).toBe("a deleted object was deleted since: there is nothing to show");
    expect(ws.error).toBeNull();
  });

  it("a restored conflict is an edit: the history answered, the frame redrawn and read again", async () => {
    const ws = openWorkspace(3);
    ws.sync = syncInfo({ conflicts: 1 });
    ws.account = account();
    const revision = ws.revision;
    const { actions, names } = setup(ws, editAnswers([shape("track-a", 3)]));
    await actions.conflictSettled(conflict(), "other", { conflicts: [], history: historyState(4, 0, "set shape on frame 3") });
    expect(ws.history).toEqual(historyState(4, 0, "set shape on frame 3"));
    expect(ws.revision).toBe(revision + 1); // the page's sync nudge follows the edit counter
    expect(names().sort()).toEqual(["frameShapes", "timeline"]);
    expect(ws.shapes).toEqual([shape("track-a", 3)]);
    expect(ws.status).toBe("car #3 on frame 4: restored yours (a bbox); Undo takes it back");
  });

  it("keeping the current version changes no shape: only the sync is asked again, for the badge's count", async () => {
    const ws = openWorkspace(3);
    ws.sync = syncInfo({ conflicts: 1 });
    ws.account = account();
    const revision = ws.revision;
    const { actions, calls } = setup(ws, { syncStatus: () => syncInfo({ conflicts: 0 }) });
    await actions.conflictSettled(conflict(), "current", { conflicts: [], history: historyState(2) });
    expect(ws.history).toEqual(historyState(2));
    expect(ws.revision).toBe(revision);
    expect(calls).toEqual([["syncStatus", "project-1", true]]);
    expect(ws.sync?.conflicts).toBe(0);
    expect(ws.status).toBe("car #3 on frame 4: kept the current version");
  });

  it("watchSync asks at once and every 5 s until stopped; failures are quiet", async () => {
    const pending = new Map<number, () => void>();
    let next = 1;
    const timers: Timers = { set: (cb) => (pending.set(next, cb), next++), clear: (id) => void pending.delete(id) };
    const asked: unknown[][] = [];
    const seen: number[] = [];
    const answers = [sync(2), sync(0)];
    const stop = watchSync({ syncStatus: async (...a) => (asked.push(a), answers.shift()!) }, "project-1", (s) => seen.push(s.pending), timers);
    await settle();
    expect(asked).toEqual([["project-1", false]]);
    expect(pending.size).toBe(1);
    const [id, cb] = [...pending.entries()][0];
    pending.delete(id);
    cb();
    await settle();
    expect(seen).toEqual([2, 0]);
    stop();
    expect(pending.size).toBe(0);

    const quiet = watchSync({ syncStatus: () => Promise.reject(new Error("offline")) }, "p", () => seen.push(-1), timers);
    await settle();
    expect(seen).toEqual([2, 0]);
    expect(pending.size).toBe(1);
    quiet();
    expect(pending.size).toBe(0);
  });
});
