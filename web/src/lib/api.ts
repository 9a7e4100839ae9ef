// Typed wrappers over the shell's IPC commands (src-tauri/src/commands.rs).
// Payload types are generated from Rust into ./bindings.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AccountInfo,
  AcceptTarget,
  Accepted,
  AppInfo,
  BrushStroke,
  CommandError,
  ConflictInfo,
  ConflictKeep,
  ConflictsSettled,
  Diagnostics,
  DrawnShape,
  Edited,
  ExportFormat,
  ExportOptions,
  HistoryState,
  ImportOptions,
  ImportProgress,
  LabelInfo,
  LabelsForm,
  ModelProgress,
  MyInvitation,
  PersonAdded,
  PointPx,
  ProjectDetail,
  ProjectPeople,
  ProjectSummary,
  Published,
  RemoteProgress,
  SamCache,
  SamCandidate,
  SamModelChoice,
  SamModelInfo,
  SamPreview,
  SamPrompt,
  ServerProject,
  ShapeInfo,
  SignInForm,
  SignedOut,
  SyncInfo,
  TeamInfo,
  Timeline,
  TransferProgress,
  TransferSummary,
  PropagateOptions,
  PropagateSummary,
  ReviewInfo,
  ReviewScopeInfo,
  ReviewVerdict,
  Reviewed,
  TrackProgress,
  VideoSummary,
} from "./bindings";

/** A readable message for anything a command or the page threw. */
export function errorMessage(e: unknown): string {
  if (e && typeof e === "object" && "message" in e && typeof (e as CommandError).message === "string") {
    return (e as CommandError).message;
  }
  if (typeof e === "string") return e;
  return String(e);
}

export const api = {
  appInfo: () => invoke<AppInfo>("app_info"),
  diagnostics: () => invoke<Diagnostics>("diagnostics"),
  pageLog: (level: "error" | "warn" | "info", message: string) => invoke<null>("page_log", { level, message }),
  listProjects: () => invoke<ProjectSummary[]>("list_projects"),
  createProject: (name: string, labels: string[]) => invoke<ProjectSummary>("create_project", { name, labels }),
  openProject: (projectId: string) => invoke<ProjectDetail>("open_project", { projectId }),
  importVideo: (projectId: string, path: string) => invoke<VideoSummary>("import_video", { projectId, path }),
  frameShapes: (videoId: string, frame: number) => invoke<ShapeInfo[]>("frame_shapes", { videoId, frame }),
  timeline: (videoId: string) => invoke<Timeline>("timeline", { videoId }),
  loadSamModel: (manifestPath: string) => invoke<SamModelInfo>("load_sam_model", { manifestPath }),
  samPredict: (videoId: string, frame: number, prompt: SamPrompt) => invoke<SamPreview>("sam_predict", { videoId, frame, prompt }),
  samCandidate: (videoId: string, frame: number, rank: number) => invoke<SamCandidate>("sam_candidate", { videoId, frame, rank }),
  samPrefetch: (videoId: string, frame: number, start: boolean) => invoke<SamCache>("sam_prefetch", { videoId, frame, start }),
  samClear: () => invoke<null>("sam_clear"),
  samAccept: (videoId: string, frame: number, rank: number, target: AcceptTarget) =>
    invoke<Accepted>("sam_accept", { videoId, frame, rank, target }),
  drawShape: (videoId: string, frame: number, target: AcceptTarget, shape: DrawnShape) =>
    invoke<Edited>("draw_shape", { videoId, frame, target, shape }),
  brushStroke: (videoId: string, frame: number, target: AcceptTarget, stroke: BrushStroke) =>
    invoke<Edited>("brush_stroke", { videoId, frame, target, stroke }),
  cutHole: (videoId: string, frame: number, trackId: string, ring: PointPx[]) =>
    invoke<Edited>("cut_hole", { videoId, frame, trackId, ring }),
  copyToNextFrame: (videoId: string, frame: number, trackId: string) =>
    invoke<Edited>("copy_to_next_frame", { videoId, frame, trackId }),
  deleteShape: (videoId: string, frame: number, trackId: string) => invoke<Edited>("delete_shape", { videoId, frame, trackId }),
  deleteTrack: (videoId: string, trackId: string) => invoke<Edited>("delete_track", { videoId, trackId }),
  changeLabel: (videoId: string, frame: number, trackId: string, labelId: string) =>
    invoke<Edited>("change_label", { videoId, frame, trackId, labelId }),
  setAttribute: (videoId: string, frame: number, trackId: string, name: string, value: boolean | number | string) =>
    invoke<Edited>("set_attribute", { videoId, frame, trackId, name, value }),
  pickObject: (videoId: string, frame: number, x: number, y: number, hidden: string[]) =>
    invoke<string | null>("pick_object", { videoId, frame, x, y, hidden }),
  listSamModels: () => invoke<SamModelChoice[]>("list_sam_models"),
  chooseVideoFiles: () => invoke<string[]>("choose_video_files"),
  undo: (projectId: string) => invoke<HistoryState>("undo", { projectId }),
  redo: (projectId: string) => invoke<HistoryState>("redo", { projectId }),
  history: (projectId: string) => invoke<HistoryState>("history", { projectId }),
  exportProject: (projectId: string, out: string, options: ExportOptions) =>
    invoke<TransferSummary>("export_project", { projectId, out, options }),
  importAnnotations: (projectId: string, path: string, options: ImportOptions) =>
    invoke<TransferSummary>("import_annotations", { projectId, path, options }),
  /** Stops the running export or import (its command then fails as cancelled); false when none runs. */
  cancelTransfer: () => invoke<boolean>("cancel_transfer"),
  defaultExportFolder: (projectName: string, format: ExportFormat) =>
    invoke<string>("default_export_folder", { projectName, format }),
  /** The system's folder dialog; null when cancelled. */
  chooseExportFolder: (start: string | null) => invoke<string | null>("choose_export_folder", { start }),
  /** The system's file dialog for a dataset; null when cancelled. */
  chooseImportFile: () => invoke<string | null>("choose_import_file"),
  /** Propagates the object's shape on `frame` with the loaded SAM model; progress as `track-progress` events. */
  propagateTrack: (videoId: string, trackId: string, frame: number, options: PropagateOptions) =>
    invoke<PropagateSummary>("propagate_track", { videoId, trackId, frame, options }),
  /** The video's reviews, oldest first, with their threads. */
  reviews: (videoId: string) => invoke<ReviewInfo[]>("reviews", { videoId }),
  /** Opens a pending review of the video, an object or frames (one undo step). */
  openReview: (videoId: string, scope: ReviewScopeInfo) => invoke<Reviewed>("open_review", { videoId, scope }),
  /** Approve, reject (the comment says what to fix) or reopen (one undo step). */
  decideReview: (reviewId: string, verdict: ReviewVerdict, comment: string | null) =>
    invoke<Reviewed>("decide_review", { reviewId, verdict, comment }),
  /** Adds a comment to the review's thread, pinned to `frame` if given (one undo step). */
  commentReview: (reviewId: string, body: string, frame: number | null) => invoke<Reviewed>("comment_review", { reviewId, body, frame }),
  /** Stops the running propagation (what it wrote stays, one undo step); false when none runs. */
  cancelPropagation: () => invoke<boolean>("cancel_propagation"),
  /** Who is signed in where (a session kept at the last sign-in is picked up). */
  account: () => invoke<AccountInfo>("account"),
  signIn: (form: SignInForm) => invoke<AccountInfo>("sign_in", { form }),
  signOut: (everywhere: boolean) => invoke<SignedOut>("sign_out", { everywhere }),
  teams: () => invoke<TeamInfo[]>("teams"),
  serverProjects: () => invoke<ServerProject[]>("server_projects"),
  /** Puts the project on the server in the team (with its video files); progress as `remote-progress` events. */
  publishProject: (projectId: string, teamId: string, videos: boolean) =>
    invoke<Published>("publish_project", { projectId, teamId, videos }),
  /** Brings a server project onto this machine (every video file too with `videos`). */
  openServerProject: (projectId: string, videos: boolean) => invoke<ProjectSummary>("open_server_project", { projectId, videos }),
  /** Downloads a video's file from the server; progress as `remote-progress` events. */
  fetchVideo: (videoId: string) => invoke<VideoSummary>("fetch_video", { videoId }),
  /** Where the project's sync stands; `nudge` asks for a round now (after an edit). */
  syncStatus: (projectId: string, nudge: boolean) => invoke<SyncInfo>("sync_status", { projectId, nudge }),
  /** Runs a sync round now and answers when it is done. */
  syncNow: (projectId: string) => invoke<SyncInfo>("sync_now", { projectId }),
  /** The project's open sync conflicts (a shape edited here and elsewhere before they synced), oldest first. */
  conflicts: (projectId: string) => invoke<ConflictInfo[]>("conflicts", { projectId }),
  /** Settles a conflict: keep the current version, or put the other back (a new edit, one undo step); answers those left and the history. */
  resolveConflict: (projectId: string, conflictId: string, keep: ConflictKeep) =>
    invoke<ConflictsSettled>("resolve_conflict", { projectId, conflictId, keep }),
  /** Who works on the server project: its members and, for its leads, the open invitations. */
  projectPeople: (projectId: string) => invoke<ProjectPeople>("project_people", { projectId }),
  /** Adds `email` as `role` (annotator, reviewer, lead): at once with an account, else the server mails an invitation. */
  addPerson: (projectId: string, email: string, role: string) => invoke<PersonAdded>("add_person", { projectId, email, role }),
  /** Gives a member of the server project another role. */
  setPersonRole: (projectId: string, userId: string, role: string) => invoke<ProjectPeople>("set_person_role", { projectId, userId, role }),
  /** Takes a member off the server project (their work stays). */
  removePerson: (projectId: string, userId: string) => invoke<ProjectPeople>("remove_person", { projectId, userId }),
  /** Withdraws an invitation to the server project not accepted yet. */
  revokeInvitation: (projectId: string, invitationId: string) => invoke<ProjectPeople>("revoke_invitation", { projectId, invitationId }),
  /** The open invitations sent to the signed-in user's address. */
  myInvitations: () => invoke<MyInvitation[]>("my_invitations"),
  /** Accepts an invitation (its project is then on the server's list); answers the invitations left. */
  acceptInvitation: (invitationId: string) => invoke<MyInvitation[]>("accept_invitation", { invitationId }),
  /** The project's labels for the label editor: the schema version to save against, what the
   *  project's objects use of each label, and whether this user may edit them. */
  labelSchema: (projectId: string) => invoke<LabelsForm>("label_schema", { projectId }),
  /** Saves the edited labels as the schema's next version (a label with an empty id is new; hotkeys
   *  are ignored); refused as a conflict when `version` is not the current one, or when it takes away
   *  what objects use. Answers the form as it is after the save. */
  saveLabels: (projectId: string, version: number, labels: LabelInfo[]) =>
    invoke<LabelsForm>("save_labels", { projectId, version, labels }),
};

/** The typed API as a type: the workspace's actions take one, so tests can pass a fake. */
export type Api = typeof api;

export function onImportProgress(handler: (p: ImportProgress) => void): Promise<UnlistenFn> {
  return listen<ImportProgress>("import-progress", (e) => handler(e.payload));
}

export function onTransferProgress(handler: (p: TransferProgress) => void): Promise<UnlistenFn> {
  return listen<TransferProgress>("transfer-progress", (e) => handler(e.payload));
}

export function onTrackProgress(handler: (p: TrackProgress) => void): Promise<UnlistenFn> {
  return listen<TrackProgress>("track-progress", (e) => handler(e.payload));
}

export function onModelProgress(handler: (p: ModelProgress) => void): Promise<UnlistenFn> {
  return listen<ModelProgress>("model-progress", (e) => handler(e.payload));
}

export function onRemoteProgress(handler: (p: RemoteProgress) => void): Promise<UnlistenFn> {
  return listen<RemoteProgress>("remote-progress", (e) => handler(e.payload));
}
