// What the workspace does: start-up, projects, import, the SAM model, every
// edit, undo/redo and playback, as functions over the page's state
// (./state.ts) and the typed API (./api.ts), both passed in. The page wires
// them to buttons, the frame view and the keys (./keys.ts); the tests run them
// against a fake API and look at the calls and the state.
//
// A failed command is never thrown away: its message goes to `ws.error`, the
// page's error banner, and the action stops there.

import { errorMessage, type Api } from "./api";
import type {
  AcceptTarget,
  AppInfo,
  BoxPx,
  ConflictInfo,
  ConflictKeep,
  ConflictsSettled,
  DrawnShape,
  Edited,
  ImportProgress,
  LabelsForm,
  ModelProgress,
  PointPx,
  ProjectSummary,
  PropagateDirection,
  RemoteProgress,
  ReviewInfo,
  ReviewVerdict,
  Reviewed,
  SamCache,
  SyncInfo,
  TrackProgress,
  VideoSummary,
} from "./bindings";
import { settledLine } from "./conflicts";
import { toShape, type VertexTool } from "./draw";
import type { Command } from "./keys";
import type { Tool } from "./keymap";
import { cancelRun, resetRun, startRun } from "./run";
import { isEmpty } from "./sam";
import { toggle, type WorkspaceState } from "./state";
import { laneSeekFrame, playbackFrame, step } from "./timeline";
import * as tools from "./tools";
import { propagateBlocked, propagateOptions, trackProgress as keepTrackProgress } from "./track";
import { coversText, scopeOf, verdictBlocked } from "./review";
import { remoteProgressText, videoFile } from "./team";
import type { Size } from "./view";

/** What the actions need of the frame view (its exported functions). */
export interface FrameViewControl {
  hasDraft(): boolean;
  finishDraft(): boolean;
  cancelDraft(): void;
  removeVertex(): void;
  /** Fits the frame into the view (F); `frame` gives the size when it is not yet the view's. */
  fitView(frame?: Size): void;
  oneToOneView(): void;
  zoomBy(factor: number): void;
}

/** While a propagation runs, the timeline is read again at most this often (ms), so the
 *  object's lane grows as the run writes its batches. */
export const TIMELINE_REFRESH_MS = 1000;

/** The time and animation frames, for playback. */
export interface Clock {
  now(): number;
  nextFrame(cb: () => void): number;
  cancelFrame(id: number): void;
}

const browserClock: Clock = {
  now: () => performance.now(),
  nextFrame: (cb) => requestAnimationFrame(() => cb()),
  cancelFrame: (id) => cancelAnimationFrame(id),
};

export interface ActionDeps {
  /** Action-to-paint timings for the benchmarks (./trace.ts). */
  tracer?: { start(kind: string, frame: number): void };
  /** The frame view, once it is mounted. */
  view?: () => FrameViewControl | undefined;
  /** What app_info answered at start (the page shows it to the benchmarks). */
  onAppInfo?: (info: AppInfo) => void;
  /** The browser's by default. */
  clock?: Clock;
}

export type Actions = ReturnType<typeof createActions>;

export function createActions(api: Api, ws: WorkspaceState, deps: ActionDeps = {}) {
  const clock = deps.clock ?? browserClock;
  const view = () => deps.view?.();
  const trace = (kind: string, frame: number) => deps.tracer?.start(kind, frame);
  let playTimer: number | undefined;
  /** When the timeline was last read during a propagation. */
  let timelineReadAt = -Infinity;

  function fail(e: unknown) {
    ws.error = errorMessage(e);
  }

  /** Runs a command; a failure becomes the banner's message and `undefined`. */
  async function guard<T>(work: () => Promise<T>): Promise<T | undefined> {
    try {
      return await work();
    } catch (e) {
      fail(e);
      return undefined;
    }
  }

  /** Stores a tool transition field by field, so only what changed is new to the page. */
  function setTools(next: tools.ToolState) {
    Object.assign(ws.tools, next);
  }

  /** Loads the project list (opening the only project, as on the first run with the sample),
   *  the shipped SAM models and the app's info (the model `make run` asks for is loaded). */
  function start(): Promise<unknown> {
    return Promise.all([
      guard(async () => {
        ws.projects = await api.listProjects();
        if (ws.projects.length === 1) await openProject(ws.projects[0].id);
      }),
      guard(async () => {
        ws.samModels = await api.listSamModels();
      }),
      guard(async () => {
        ws.account = await api.account();
      }),
      guard(async () => {
        const info = await api.appInfo();
        deps.onAppInfo?.(info);
        ws.serverBase = info.frame_base ?? null;
        if (info.sam_model) {
          ws.samModel = info.sam_model;
          ws.samInfo = info.sam ?? null;
        }
        else if (info.sam_manifest_hint) {
          ws.samManifest = info.sam_manifest_hint;
          await loadSam();
        }
      }),
    ]);
  }

  /** The start page's form: labels are comma-separated. */
  async function createProject() {
    const labels = ws.newLabels.split(",").map((s) => s.trim()).filter(Boolean);
    const p = await guard(() => api.createProject(ws.newName.trim(), labels));
    if (p) {
      ws.newName = "";
      ws.projects = [...ws.projects, p];
      await openProject(p.id);
    }
  }

  async function openProject(id: string) {
    const d = await guard(() => api.openProject(id));
    if (!d) return;
    ws.detail = d;
    ws.history = (await guard(() => api.history(id))) ?? null;
    if (d.videos.length > 0) await openVideo(d.videos[0]);
  }

  /** Back to the start page. */
  function closeProject() {
    ws.detail = null;
    ws.video = null;
  }

  async function importVideo(path: string) {
    const d = ws.detail;
    if (!d || !path.trim()) return;
    const v = await guard(() => api.importVideo(d.project.id, path.trim()));
    if (v) {
      ws.detail = { ...ws.detail!, videos: [...ws.detail!.videos, v] };
      ws.importPath = "";
      await openVideo(v);
    }
  }

  /** The file dialog; the chosen videos are imported one after the other. */
  async function chooseFiles() {
    const files = await guard(() => api.chooseVideoFiles());
    for (const f of files ?? []) await importVideo(f);
  }

  async function openVideo(v: VideoSummary) {
    if (!v.here) {
      // A video of a project from the server: its file comes when it is first opened.
      const got = await fetchVideo(v);
      if (!got) return;
      v = got;
    }
    const another = ws.video?.id !== v.id;
    ws.video = v;
    ws.frame = 0;
    ws.selectedTrack = null;
    // The zoom and pan were fitted to the video shown before; kept, they would leave a
    // smaller video in a corner of the view. Another video is fitted as F does (the first
    // one is fitted by the view when it appears); the same video again keeps the zoom.
    if (another) view()?.fitView({ width: v.width, height: v.height });
    resetPrompt();
    if (another) ws.reviewOpen = null;
    await Promise.all([refresh(), loadReviews()]);
  }

  /** Downloads a video's file from the team's server; the project's list gets the video as it is now. */
  async function fetchVideo(v: VideoSummary): Promise<VideoSummary | undefined> {
    const note = videoFile(v);
    if (v.server !== "processing" && v.server !== "ready") {
      fail(`'${v.name}' cannot be opened: ${note.note}`);
      return undefined;
    }
    ws.status = `downloading ${v.name}…`;
    const got = await guard(() => api.fetchVideo(v.id));
    if (!got) {
      ws.status = "";
      return undefined;
    }
    ws.status = `downloaded ${got.name}`;
    if (ws.detail) ws.detail = { ...ws.detail, videos: ws.detail.videos.map((x) => (x.id === got.id ? got : x)) };
    return got;
  }

  /** Progress of a publish or download, in the status line. */
  function remoteProgress(p: RemoteProgress) {
    ws.status = remoteProgressText(p);
  }

  /** After an edit: asks for a sync round now, when the project is on a server and someone is
   *  signed in (else the edit waits in the outbox, and the badge says so at the next poll). */
  async function nudgeSync() {
    const id = ws.detail?.project.id;
    if (!id || !ws.sync?.on_server || !ws.account?.user) return;
    try {
      const s = await api.syncStatus(id, true);
      if (ws.detail?.project.id === id) ws.sync = s;
    } catch {
      // the badge is best effort; the next poll says how it stands
    }
  }

  /** A project from the server is on this machine now: list it and open it. */
  async function serverProjectOpened(p: ProjectSummary) {
    if (!ws.projects.some((x) => x.id === p.id)) ws.projects = [...ws.projects, p];
    await openProject(p.id);
  }

  /** Reads the open video's reviews again (another video, an undo or redo). */
  async function loadReviews() {
    const v = ws.video;
    if (!v) return;
    const r = await guard(() => api.reviews(v.id));
    if (r && ws.video?.id === v.id) ws.reviews = r;
  }

  /** What a review step answered: the video's reviews, the history, and the step in the status line. */
  function reviewed(r: Reviewed, what: string) {
    ws.reviews = r.reviews;
    ws.history = r.history;
    ws.reviewOpen = r.review_id;
    ws.status = what;
  }

  /** Opens a review of what the review form says: the video, the selected object, or frames. */
  async function openReview() {
    const v = ws.video;
    if (!v) return;
    const s = scopeOf(ws.reviewForm, ws.selectedTrack, ws.frame, v.frame_count);
    if ("blocked" in s) {
      ws.status = s.blocked;
      return;
    }
    const r = await guard(() => api.openReview(v.id, s.scope));
    if (r) reviewed(r, "opened a review");
  }

  /** Approves, rejects (with the form's comment, which then clears) or reopens a review. */
  async function decideReview(review: ReviewInfo, verdict: ReviewVerdict) {
    const comment = ws.reviewForm.comment.trim();
    const blocked = verdictBlocked(review, verdict, comment);
    if (blocked) {
      ws.status = blocked;
      return;
    }
    const r = await guard(() => api.decideReview(review.id, verdict, verdict === "reopen" ? null : comment || null));
    if (r) {
      if (verdict !== "reopen") ws.reviewForm.comment = "";
      reviewed(r, `${verdict === "approve" ? "approved" : verdict === "reject" ? "rejected" : "reopened"}: ${coversText(review)}`);
    }
  }

  /** Adds the form's comment to a review's thread, pinned to the frame on screen if asked. */
  async function commentReview(review: ReviewInfo) {
    const body = ws.reviewForm.comment.trim();
    if (!body) {
      ws.status = "Write the comment first.";
      return;
    }
    const r = await guard(() => api.commentReview(review.id, body, ws.reviewForm.pin ? ws.frame : null));
    if (r) {
      ws.reviewForm.comment = "";
      reviewed(r, "commented");
    }
  }

  /** Shows what a review covers: its first frame, with its object selected for an object's review. */
  async function showReview(review: ReviewInfo) {
    ws.reviewOpen = review.id;
    if (review.scope.scope === "track") ws.selectedTrack = review.scope.track_id;
    await goto(review.first_frame);
  }

  /** Reloads the frame's shapes and the timeline (after an edit). */
  async function refresh() {
    const v = ws.video;
    if (!v) return;
    const [s, t] = await Promise.all([guard(() => api.frameShapes(v.id, ws.frame)), guard(() => api.timeline(v.id))]);
    ws.shapes = s ?? [];
    ws.timeline = t ?? null;
  }

  /** After an import of annotations (one undo step, perhaps new labels): the project's labels,
   *  the history, and the frame's shapes and timeline are read again; the frame is redrawn. */
  async function imported(summary: { annotations: number; tracks: number }) {
    const d = ws.detail;
    if (!d) return;
    const fresh = await guard(() => api.openProject(d.project.id));
    // Still the same project open: keep the open video (a new object anywhere may be on it).
    if (fresh && ws.detail?.project.id === fresh.project.id) {
      ws.detail = { ...ws.detail, project: fresh.project, videos: fresh.videos };
      if (ws.labelIndex >= fresh.project.labels.length) ws.labelIndex = 0;
    }
    ws.history = (await guard(() => api.history(d.project.id))) ?? ws.history;
    ws.revision++;
    ws.status = `imported ${summary.annotations} annotation${summary.annotations === 1 ? "" : "s"} in ${summary.tracks} track${summary.tracks === 1 ? "" : "s"}`;
    await refresh();
  }

  /** After the label editor saved: the open project's labels (the toolbar's palette and number
   *  keys, the object list's attributes) are the saved ones, the current label stays the one it
   *  was where it is still there, and the frame and timeline are drawn again in the new colours. */
  async function labelsSaved(form: LabelsForm) {
    const d = ws.detail;
    if (!d || d.project.id !== form.project_id) return;
    const current = d.project.labels[ws.labelIndex]?.id;
    const project = { ...d.project, labels: form.labels };
    ws.detail = { ...d, project };
    ws.projects = ws.projects.map((p) => (p.id === project.id ? { ...p, labels: form.labels } : p));
    ws.labelIndex = Math.max(0, form.labels.findIndex((l) => l.id === current));
    ws.revision++;
    ws.status = `labels saved (${form.labels.length} label${form.labels.length === 1 ? "" : "s"})`;
    await refresh();
  }

  /** Drops the SAM prompt (or applies another transition that does) and clears the shell's preview. */
  function resetPrompt(to: (s: tools.ToolState) => tools.ToolState = tools.dropPrompt) {
    const shellHasOne = tools.hasShellPreview(ws.tools);
    setTools(to(ws.tools));
    if (shellHasOne) guard(() => api.samClear());
  }

  /** Frame `f`, clamped to the video; the SAM prompt belongs to the frame it was made on. */
  async function goto(f: number) {
    const v = ws.video;
    if (!v) return;
    const next = step(f, 0, v.frame_count);
    if (next === ws.frame) return;
    ws.frame = next;
    resetPrompt();
    ws.shapes = (await guard(() => api.frameShapes(v.id, next))) ?? [];
  }

  /** A click on an object's timeline lane at `frame`: selects the object (the selection the
   *  object list and the frame view show) and goes to `frame`, or to the nearest frame
   *  where the object has a shape, so the selected object is on the frame shown. */
  async function seekObject(trackId: string, frame: number) {
    const track = ws.timeline?.tracks.find((t) => t.track_id === trackId);
    ws.selectedTrack = trackId;
    await goto(track ? laneSeekFrame(track, frame) : frame);
  }

  async function runSam() {
    const v = ws.video;
    if (!v || isEmpty(ws.tools.prompt)) return;
    trace("sam", ws.frame);
    const p = await guard(() => api.samPredict(v.id, ws.frame, ws.tools.prompt));
    if (p) setTools(tools.previewed(ws.tools, p));
  }

  /** A click on the frame: a SAM point (positive unless Shift) with the SAM tool. */
  function samClick(p: { x: number; y: number }, positive: boolean): Promise<void> | undefined {
    const next = tools.samClick(ws.tools, p.x, p.y, positive);
    if (!next) return;
    setTools(next);
    return runSam();
  }

  /** A dragged box: the SAM box prompt, or a bbox shape with the box tool. */
  async function box(b: BoxPx) {
    const meaning = tools.boxMeaning(ws.tools);
    if (meaning === "samPrompt") {
      setTools(tools.samBox(ws.tools, b));
      runSam();
    } else if (meaning === "shape") {
      await drawShape({ kind: "bbox", bbox: b });
    }
  }

  /** Shows SAM candidate `rank`; the shell builds its mask on first view, then its area is known. */
  async function chooseCandidate(rank: number) {
    setTools(tools.showCandidate(ws.tools, rank));
    const v = ws.video;
    const p = ws.tools.preview;
    if (!v || !p || !tools.needsCandidate(ws.tools, rank)) return;
    const c = await guard(() => api.samCandidate(v.id, p.frame, rank));
    if (c) setTools(tools.candidateArrived(ws.tools, p, rank, c));
  }

  /** Where a new shape goes: the selected object, or a new one with the current label. */
  function editTarget(): AcceptTarget | null {
    const track = ws.selectedTrack;
    if (track) {
      if (ws.locked.includes(track)) {
        ws.error = "the selected object is locked; unlock it (X) or select another";
        return null;
      }
      return { to: "track", track_id: track };
    }
    const label = ws.detail?.project.labels[ws.labelIndex];
    if (!label) {
      ws.error = "the project has no label; create one first";
      return null;
    }
    return { to: "new_track", label_id: label.id };
  }

  /** Takes in the result of an edit: history, selection, a repaint. */
  async function edited(e: Edited | undefined, select = true) {
    if (!e) return;
    ws.history = e.history;
    if (select) ws.selectedTrack = e.track_id;
    ws.revision++;
    await refresh();
  }

  /** The selected object, unless it is locked (then says why). */
  function editableSelection(): string | null {
    const track = ws.selectedTrack;
    if (!track) {
      ws.status = "select an object first (click it in the list, or Ctrl+click it)";
      return null;
    }
    if (ws.locked.includes(track)) {
      ws.error = "the selected object is locked; unlock it (X) first";
      return null;
    }
    return track;
  }

  /** Stores the shown SAM candidate (Enter). */
  async function accept() {
    const v = ws.video;
    if (!v || !ws.detail || !ws.tools.preview) return;
    const target = editTarget();
    if (!target) return;
    trace("accept", ws.frame);
    const a = await guard(() => api.samAccept(v.id, ws.frame, ws.tools.candidate, target));
    if (a) {
      setTools(tools.accepted(ws.tools));
      await edited({ track_id: a.track_id, shape: a.shape, history: a.history });
    }
  }

  async function drawShape(shape: DrawnShape) {
    const v = ws.video;
    if (!v) return;
    const target = editTarget();
    if (!target) return;
    await edited(await guard(() => api.drawShape(v.id, ws.frame, target, shape)));
  }

  /** A finished polygon, polyline or points; in hole mode the polygon cuts a hole into the selected object. */
  async function finishDraft(t: VertexTool, vertices: PointPx[]) {
    const v = ws.video;
    if (!v) return;
    if (tools.cutsHole(ws.tools, t)) {
      const track = editableSelection();
      if (!track) return;
      setTools(tools.holeDone(ws.tools));
      await edited(await guard(() => api.cutHole(v.id, ws.frame, track, vertices)));
      return;
    }
    const shape = toShape(t, vertices);
    if (shape) await drawShape(shape);
  }

  /** A brush stroke paints onto the edit target; an eraser stroke needs the selected object. */
  async function brush(points: PointPx[], erase: boolean) {
    const v = ws.video;
    if (!v) return;
    let target: AcceptTarget | null;
    if (erase) {
      const track = editableSelection();
      target = track ? { to: "track", track_id: track } : null;
    } else {
      target = editTarget();
    }
    if (!target) return;
    const stroke = { points, radius: ws.brushRadius, erase };
    await edited(await guard(() => api.brushStroke(v.id, ws.frame, target, stroke)));
  }

  /** Selects the object under a point (select tool, Ctrl+click); hidden objects are not picked. */
  async function pick(p: { x: number; y: number }) {
    const v = ws.video;
    if (!v) return;
    const t = await guard(() => api.pickObject(v.id, ws.frame, p.x, p.y, ws.hidden));
    if (t !== undefined) ws.selectedTrack = t;
  }

  /** Copies the selected object's shape to the next frame and goes there. */
  async function copyToNext() {
    const track = editableSelection();
    const v = ws.video;
    if (!v || !track) return;
    const e = await guard(() => api.copyToNextFrame(v.id, ws.frame, track));
    if (e) {
      ws.history = e.history;
      ws.revision++;
      await goto(ws.frame + 1);
      await refresh();
    }
  }

  /** Deletes `track`'s shape on this frame, or the whole object. */
  async function deleteShape(track: string | null, wholeObject: boolean) {
    const v = ws.video;
    if (!v || !track) return;
    if (ws.locked.includes(track)) {
      ws.error = "that object is locked; unlock it (X) first";
      return;
    }
    const e = await guard(() => (wholeObject ? api.deleteTrack(v.id, track) : api.deleteShape(v.id, ws.frame, track)));
    if (e) {
      if (ws.selectedTrack === track) ws.selectedTrack = null;
      await edited(e, false);
    }
  }

  async function relabel(track: string | null, labelId: string) {
    const v = ws.video;
    if (!v || !track) return;
    if (ws.locked.includes(track)) {
      ws.error = "that object is locked; unlock it (X) first";
      return;
    }
    await edited(await guard(() => api.changeLabel(v.id, ws.frame, track, labelId)));
  }

  async function setAttribute(track: string, name: string, value: boolean | number | string) {
    const v = ws.video;
    if (!v) return;
    if (ws.locked.includes(track)) {
      ws.error = "that object is locked; unlock it (X) first";
      return;
    }
    await edited(await guard(() => api.setAttribute(v.id, ws.frame, track, name, value)));
  }

  /** Undo or redo the project's last step; the selection goes if its object did. */
  async function undoRedo(which: "undo" | "redo") {
    const d = ws.detail;
    if (!d) return;
    trace(which, ws.frame);
    const h = await guard(() => (which === "undo" ? api.undo(d.project.id) : api.redo(d.project.id)));
    if (h) {
      ws.history = h;
      ws.status = `${which}: ${h.summary}`;
      ws.revision++;
      await Promise.all([refresh(), loadReviews()]);
      // The step may have removed the selected object: only keep a selection that is still here.
      if (ws.selectedTrack && !ws.shapes.some((s) => s.track_id === ws.selectedTrack)) ws.selectedTrack = null;
    }
  }

  /** Loads the SAM model `ws.samManifest` names (a shipped model's id or a manifest path). */
  async function loadSam() {
    const manifest = ws.samManifest.trim();
    if (!manifest) return;
    const m = await guard(() => api.loadSamModel(manifest));
    ws.modelProgress = null;
    if (m) {
      ws.samModel = m.id;
      ws.samInfo = m;
      ws.status = `SAM model ${m.id} on ${m.provider}`;
      ws.samModels = (await guard(() => api.listSamModels())) ?? ws.samModels;
    }
  }

  /** The shell's model-progress events: download and load progress; a failure is an error. */
  function modelProgress(p: ModelProgress) {
    ws.modelProgress = p.stage === "ready" ? null : p;
    if (p.stage === "failed") ws.error = p.message;
  }

  /** The shell's import-progress events, shown in the status line; a failure is an error. */
  function importProgress(p: ImportProgress) {
    ws.status = p.stage === "done" ? `imported ${p.video.name}` : p.stage === "failed" ? "" : `${p.stage}: ${p.path}`;
    if (p.stage === "failed") ws.error = p.message;
  }

  /** Files dropped on the window are imported. */
  function dropped(paths: string[]) {
    for (const path of paths) importVideo(path);
  }

  /** Plays from the current frame at the video's rate (frames are skipped to keep time), to the end. */
  function togglePlay() {
    if (!ws.video) return;
    ws.playing = !ws.playing;
    if (ws.playing) {
      const start = ws.frame;
      const t0 = clock.now();
      const fps = ws.video.fps_num / Math.max(1, ws.video.fps_den);
      const tick = () => {
        if (!ws.playing || !ws.video) return;
        const f = playbackFrame(start, clock.now() - t0, fps, ws.video.frame_count);
        if (f !== ws.frame) goto(f);
        if (f >= ws.video.frame_count - 1) ws.playing = false;
        else playTimer = clock.nextFrame(tick);
      };
      playTimer = clock.nextFrame(tick);
    } else if (playTimer !== undefined) {
      clock.cancelFrame(playTimer);
    }
  }

  function chooseTool(t: Tool) {
    setTools(tools.chooseTool(ws.tools, t));
  }

  function flipHole() {
    setTools(tools.flipHole(ws.tools));
  }

  /** Esc: drops the draft, hole mode, the SAM prompt and the help. */
  function cancel() {
    view()?.cancelDraft();
    resetPrompt(tools.cancel);
    ws.showHelp = false;
  }

  /** Propagates the selected object's shape on this frame `direction` with SAM (./track.ts):
   *  progress comes as `track-progress` events (`trackProgress`); what the run wrote, all of it
   *  or up to Cancel or a failure, is one undo step, so afterwards the history, the frame and
   *  the timeline are read again. When it cannot start, the status line says why. */
  async function propagate(direction: PropagateDirection) {
    const why = propagateBlocked(ws, direction);
    const v = ws.video;
    const d = ws.detail;
    const track = ws.selectedTrack;
    if (why || !v || !d || !track) {
      ws.status = why ?? "";
      return;
    }
    const frame = ws.frame;
    Object.assign(ws.track, { direction, videoId: v.id, trackId: track, start: frame });
    const options = propagateOptions(direction, ws.trackForm);
    timelineReadAt = clock.now();
    const s = await startRun(ws.track, () => api.propagateTrack(v.id, track, frame, options));
    if (s) ws.status = `propagated ${s.written} frame${s.written === 1 ? "" : "s"}${s.cancelled ? " (cancelled)" : ""}`;
    // Another project may have been opened meanwhile: its history is not this run's.
    if (ws.detail?.project.id === d.project.id) ws.history = (await guard(() => api.history(d.project.id))) ?? ws.history;
    ws.revision++;
    await refresh();
  }

  /** Cancel: the run stops after the frame it is on; what it wrote stays. */
  function cancelPropagation() {
    return cancelRun(ws.track, () => api.cancelPropagation());
  }

  /** The shell's track-progress events: the run's progress; the timeline now and then. */
  function trackProgress(p: TrackProgress) {
    keepTrackProgress(ws.track, p);
    const v = ws.video;
    if (ws.track.phase !== "running" || !v || v.id !== p.videoId || clock.now() - timelineReadAt < TIMELINE_REFRESH_MS) return;
    timelineReadAt = clock.now();
    guard(async () => {
      const t = await api.timeline(v.id);
      if (ws.video?.id === v.id) ws.timeline = t;
    });
  }

  /** A doubtful frame of the last run, from its summary: the run's object there (on the run's
   *  video, opened first when another one is open now). */
  async function reviewFrame(frame: number) {
    const run = ws.track;
    if (!run.videoId) return;
    await showObject(run.videoId, run.trackId, frame);
  }

  /** Object `trackId` on `frame` of video `videoId`: the video (opened first when another one is
   *  open), then the frame, with the object selected. */
  async function showObject(videoId: string, trackId: string, frame: number) {
    if (ws.video?.id !== videoId) {
      const v = ws.detail?.videos.find((x) => x.id === videoId);
      if (!v) {
        ws.status = "that video is not in the open project";
        return;
      }
      await openVideo(v);
      // Its file could not be brought here: the banner says why.
      if (ws.video?.id !== videoId) return;
    }
    ws.selectedTrack = trackId;
    await goto(frame);
  }

  /** A sync conflict's Show (the Team dialog): its object on its frame; one of an object deleted
   *  since has nothing to show. */
  async function showConflict(c: ConflictInfo) {
    if (!c.video_id) {
      ws.status = `${c.object} was deleted since: there is nothing to show`;
      return;
    }
    await showObject(c.video_id, c.track_id, c.frame);
  }

  /** A sync conflict settled in the Team dialog: the undo history is the one it answered. Putting
   *  the other version back is an edit: the frame and the timeline are read again and the frame
   *  redrawn (the page asks for a sync round after every edit, as `revision` counts them). Keeping
   *  the current one changes no shape: only the sync is asked again, so the badge's count follows. */
  async function conflictSettled(c: ConflictInfo, keep: ConflictKeep, r: ConflictsSettled) {
    ws.history = r.history;
    ws.status = settledLine(c, keep);
    if (keep === "other") {
      ws.revision++;
      await refresh();
    } else {
      await nudgeSync();
    }
  }

  /** Closes the last run's summary (and the timeline's marks of its doubtful frames). */
  function dismissPropagation() {
    if (ws.track.phase !== "running") resetRun(ws.track);
  }

  /** Runs a key's command (./keys.ts). */
  async function run(c: Command): Promise<void> {
    switch (c.type) {
      case "none":
        return;
      case "goto":
        if (c.trace) trace(c.trace, c.frame);
        return goto(c.frame);
      case "togglePlay":
        return togglePlay();
      case "zoomFit":
        view()?.fitView();
        return;
      case "zoomOneToOne":
        view()?.oneToOneView();
        return;
      case "zoomBy":
        view()?.zoomBy(c.factor);
        return;
      case "undo":
      case "redo":
        return undoRedo(c.type);
      case "finishDraft":
        view()?.finishDraft();
        return;
      case "accept":
        return accept();
      case "cancel":
        return cancel();
      case "removeVertex":
        view()?.removeVertex();
        return;
      case "brushRadius":
        ws.brushRadius = c.radius;
        ws.status = `brush radius ${c.radius} px`;
        return;
      case "toggleHole": {
        const r = tools.toggleHole(ws.tools, Boolean(ws.selectedTrack));
        setTools(r.tools);
        ws.status = r.status;
        return;
      }
      case "copyToNext":
        return copyToNext();
      case "delete":
        return deleteShape(c.track, c.wholeObject);
      case "relabel":
        return relabel(c.track, c.labelId);
      case "toggleHidden":
        ws.hidden = toggle(ws.hidden, c.track);
        return;
      case "toggleLock":
        ws.locked = toggle(ws.locked, c.track);
        return;
      case "importDialog":
        return chooseFiles();
      case "propagate":
        return propagate(c.direction);
      case "candidate":
        return chooseCandidate(c.rank);
      case "tool":
        return chooseTool(c.tool);
      case "label":
        ws.labelIndex = c.index;
        return;
      case "help":
        ws.showHelp = !ws.showHelp;
        return;
    }
  }

  return {
    fail,
    start,
    createProject,
    openProject,
    closeProject,
    importVideo,
    chooseFiles,
    openVideo,
    refresh,
    imported,
    labelsSaved,
    goto,
    seekObject,
    samClick,
    box,
    chooseCandidate,
    accept,
    finishDraft,
    brush,
    pick,
    copyToNext,
    deleteShape,
    relabel,
    setAttribute,
    undoRedo,
    loadSam,
    modelProgress,
    importProgress,
    dropped,
    togglePlay,
    chooseTool,
    flipHole,
    cancel,
    propagate,
    cancelPropagation,
    trackProgress,
    reviewFrame,
    showObject,
    showConflict,
    conflictSettled,
    dismissPropagation,
    openReview,
    decideReview,
    commentReview,
    showReview,
    fetchVideo,
    nudgeSync,
    remoteProgress,
    serverProjectOpened,
    run,
  };
}

/** Timers for the SAM readiness poll (the browser's by default). */
export interface Timers {
  set(cb: () => void, ms: number): number;
  clear(id: number): void;
}

const browserTimers: Timers = {
  set: (cb, ms) => window.setTimeout(cb, ms),
  clear: (id) => clearTimeout(id),
};

/** Whether the SAM readiness indicator runs: SAM tool, a model, a video, not playing. */
export function wantsSamCache(ws: WorkspaceState): boolean {
  return ws.tools.tool === "sam" && Boolean(ws.samModel) && Boolean(ws.video) && !ws.playing;
}

/** SAM readiness of the frames around `frame`: once the user has settled on the frame
 *  (250 ms), asks the shell to pre-encode its neighbours, then polls every 400 ms until
 *  they are all ready. Returns the function that stops it (another frame, another tool). */
export function watchSamCache(
  api: Pick<Api, "samPrefetch">,
  videoId: string,
  frame: number,
  onCache: (c: SamCache) => void,
  timers: Timers = browserTimers,
): () => void {
  let stop = false;
  let timer: number | undefined;
  const poll = async (start: boolean) => {
    try {
      const c = await api.samPrefetch(videoId, frame, start);
      if (stop) return;
      onCache(c);
      if (c.ready.some((r) => !r)) timer = timers.set(() => poll(false), 400);
    } catch {
      // the indicator is best effort; SAM itself reports errors on click
    }
  };
  timer = timers.set(() => poll(true), 250);
  return () => {
    stop = true;
    if (timer !== undefined) timers.clear(timer);
  };
}

/** Follows the open project's sync: asks where it stands now and every `everyMs` after,
 *  until stopped (another project, the start page). */
export function watchSync(
  api: Pick<Api, "syncStatus">,
  projectId: string,
  onSync: (s: SyncInfo) => void,
  timers: Timers = browserTimers,
  everyMs = 5000,
): () => void {
  let stop = false;
  let timer: number | undefined;
  const poll = async () => {
    try {
      const s = await api.syncStatus(projectId, false);
      if (!stop) onSync(s);
    } catch {
      // the badge is best effort; "Sync now" reports errors
    }
    if (!stop) timer = timers.set(poll, everyMs);
  };
  void poll();
  return () => {
    stop = true;
    if (timer !== undefined) timers.clear(timer);
  };
}
