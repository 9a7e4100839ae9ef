// Typed wrappers over the shell's IPC commands (src-tauri/src/commands.rs).
// Payload types are generated from Rust into ./bindings.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  AcceptTarget,
  Accepted,
  AppInfo,
  CommandError,
  HistoryState,
  ImportProgress,
  ProjectDetail,
  ProjectSummary,
  SamModelInfo,
  SamPreview,
  SamPrompt,
  ShapeInfo,
  Timeline,
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
  listProjects: () => invoke<ProjectSummary[]>("list_projects"),
  createProject: (name: string, labels: string[]) => invoke<ProjectSummary>("create_project", { name, labels }),
  openProject: (projectId: string) => invoke<ProjectDetail>("open_project", { projectId }),
  importVideo: (projectId: string, path: string) => invoke<VideoSummary>("import_video", { projectId, path }),
  frameShapes: (videoId: string, frame: number) => invoke<ShapeInfo[]>("frame_shapes", { videoId, frame }),
  timeline: (videoId: string) => invoke<Timeline>("timeline", { videoId }),
  loadSamModel: (manifestPath: string) => invoke<SamModelInfo>("load_sam_model", { manifestPath }),
  samPredict: (videoId: string, frame: number, prompt: SamPrompt) => invoke<SamPreview>("sam_predict", { videoId, frame, prompt }),
  samClear: () => invoke<null>("sam_clear"),
  samAccept: (videoId: string, frame: number, rank: number, target: AcceptTarget) =>
    invoke<Accepted>("sam_accept", { videoId, frame, rank, target }),
  undo: (projectId: string) => invoke<HistoryState>("undo", { projectId }),
  redo: (projectId: string) => invoke<HistoryState>("redo", { projectId }),
  history: (projectId: string) => invoke<HistoryState>("history", { projectId }),
};

export function onImportProgress(handler: (p: ImportProgress) => void): Promise<UnlistenFn> {
  return listen<ImportProgress>("import-progress", (e) => handler(e.payload));
}
