// Everything the workspace page shows, as one plain object. The page makes it
// reactive (`$state(initialState())`) and hands it to the actions
// (./actions.ts), which change it in place; the tests hand them a plain one.

import type {
  AccountInfo,
  HistoryState,
  ModelProgress,
  ProjectDetail,
  ProjectSummary,
  ReviewInfo,
  SamCache,
  SamModelChoice,
  SamModelInfo,
  ShapeInfo,
  SyncInfo,
  Timeline,
  VideoSummary,
} from "./bindings";
import { frameUrl } from "./frame";
import { initialTools, previewRank, type ToolState } from "./tools";
import { initialTrackForm, initialTrackRun, type TrackForm, type TrackRun } from "./track";
import { initialReviewForm, type ReviewForm } from "./review";

export interface WorkspaceState {
  /** The error banner's message. */
  error: string | null;
  /** The status line under the side panel (what the last action did or needs). */
  status: string;
  /** The start page's projects. */
  projects: ProjectSummary[];
  /** The open project; null on the start page. */
  detail: ProjectDetail | null;
  video: VideoSummary | null;
  frame: number;
  /** The shapes on `frame`, for the object list. */
  shapes: ShapeInfo[];
  timeline: Timeline | null;
  history: HistoryState | null;
  tools: ToolState;
  /** The label a new object gets. */
  labelIndex: number;
  selectedTrack: string | null;
  /** Increases with every edit: part of the frame URL, so the view refetches the frame. */
  revision: number;
  showHelp: boolean;
  playing: boolean;
  /** The start page's new-project form. */
  newName: string;
  newLabels: string;
  /** The import field's video path. */
  importPath: string;
  /** The SAM manifest to load (a shipped model's id or a path). */
  samManifest: string;
  /** The loaded SAM model's id; empty when none is. */
  samModel: string;
  /** The loaded model with its execution provider and, on the CPU, why not a GPU. */
  samInfo: SamModelInfo | null;
  samModels: SamModelChoice[];
  modelProgress: ModelProgress | null;
  /** Brush and eraser radius in frame pixels. */
  brushRadius: number;
  /** Objects hidden from the frame view, and objects locked against edits (track ids). */
  hidden: string[];
  locked: string[];
  /** SAM readiness of the frames around this one, while the SAM tool is in use. */
  samCache: SamCache | null;
  /** The loopback frame server's base URL (from app_info), when it runs. */
  serverBase: string | null;
  /** Which way frames come: the loopback server when there is one (fast), else `frame://`. */
  transport: "http" | "scheme";
  /** The propagation form, and the propagation running or the last one (./track.ts). */
  trackForm: TrackForm;
  track: TrackRun;
  /** The open video's reviews (./review.ts), the review form, and the review shown open. */
  reviews: ReviewInfo[];
  reviewForm: ReviewForm;
  reviewOpen: string | null;
  /** Who is signed in to the team's server (null until asked), and the open project's sync. */
  account: AccountInfo | null;
  sync: SyncInfo | null;
}

export function initialState(): WorkspaceState {
  return {
    error: null,
    status: "",
    projects: [],
    detail: null,
    video: null,
    frame: 0,
    shapes: [],
    timeline: null,
    history: null,
    tools: initialTools(),
    labelIndex: 0,
    selectedTrack: null,
    revision: 0,
    showHelp: false,
    playing: false,
    newName: "",
    newLabels: "person, car",
    importPath: "",
    samManifest: "",
    samModel: "",
    samInfo: null,
    samModels: [],
    modelProgress: null,
    brushRadius: 12,
    hidden: [],
    locked: [],
    samCache: null,
    serverBase: null,
    transport: "http",
    trackForm: initialTrackForm(),
    track: initialTrackRun(),
    reviews: [],
    reviewForm: initialReviewForm(),
    reviewOpen: null,
    account: null,
    sync: null,
  };
}

/** Adds `id` to the list or removes it (hide / lock); no selection leaves it as it is. */
export function toggle(list: string[], id: string | null): string[] {
  if (!id) return list;
  return list.includes(id) ? list.filter((x) => x !== id) : [...list, id];
}

/** Where frames come from: the loopback frame server when it runs (unless the `frame://`
 *  scheme was asked for, as the benchmarks do to compare the two), else the scheme. */
export function frameBase(ws: WorkspaceState, schemeUrl: string): string {
  return ws.transport === "http" && ws.serverBase ? ws.serverBase : schemeUrl;
}

/** The frame view's URL: the frame with the selection outlined and hidden objects left out;
 *  new whenever an edit changed what it shows. The SAM preview is not in it (see `previewUrl`). */
export function viewUrl(ws: WorkspaceState, base: string): string {
  if (!ws.video) return "";
  return frameUrl(base, {
    videoId: ws.video.id,
    frame: ws.frame,
    selectedTrack: ws.selectedTrack,
    hidden: ws.hidden,
    revision: ws.revision,
    ahead: true,
  });
}

/** The SAM preview's layer, drawn over the frame: the shown candidate of the prediction
 *  pending on this frame, new with every prediction; "" when there is none. */
export function previewUrl(ws: WorkspaceState, base: string): string {
  const rank = previewRank(ws.tools, ws.frame);
  if (!ws.video || rank === null) return "";
  return frameUrl(base, {
    videoId: ws.video.id,
    frame: ws.frame,
    preview: rank,
    revision: ws.tools.preview?.revision ?? 0,
    layer: true,
  });
}
