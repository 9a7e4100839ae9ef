// Test data for the workspace's tests (keys, actions, state): a project with
// labels, a video, shapes and SAM predictions shaped like the shell's answers.
// Only the tests import it.

import type { AccountInfo, ConflictInfo, HistoryState, LabelInfo, LabelsForm, ProjectDetail, PropagateSummary, ReviewInfo, SamPreview, ShapeInfo, SyncInfo, TimelineTrack, VideoSummary } from "./bindings";
import { initialState, type WorkspaceState } from "./state";
import type { MyInvitation, PersonInfo, ProjectPeople } from "./bindings";
import type { Api } from "./api";

export function label(i: number): LabelInfo {
  return { id: `label-${i}`, name: `label ${i}`, colour: "#ff0000", hotkey: i + 1, kinds: ["mask"], attributes: [] };
}

export function videoSummary(id = "video-1", frameCount = 100): VideoSummary {
  return { id, project_id: "project-1", name: `${id}.mp4`, width: 1280, height: 720, frame_count: frameCount, fps_num: 30, fps_den: 1, codec: "h264", here: true, server: "local" };
}

export function projectDetail(labels = 3, videos: VideoSummary[] = [videoSummary()]): ProjectDetail {
  return {
    project: { id: "project-1", name: "Sample", labels: Array.from({ length: labels }, (_, i) => label(i)) },
    videos,
  };
}

/** A shape of `trackId` on `frame`: a SAM mask keyframe unless `more` says otherwise. */
export function shape(trackId: string, frame = 0, more: Partial<ShapeInfo> = {}): ShapeInfo {
  return {
    id: `shape-${trackId}-${frame}`,
    track_id: trackId,
    track_number: 1,
    label_id: "label-0",
    label_name: "label 0",
    colour: "#ff0000",
    frame,
    kind: "mask",
    keyframe: true,
    source: "sam",
    bbox: null,
    area: 10,
    score: null,
    attributes: {},
    ...more,
  };
}

/** An object's timeline lane: `spans` as [first, last] pairs (inclusive). */
export function timelineTrack(trackId: string, trackNumber: number, spans: [number, number][], keyframes: number[] = []): TimelineTrack {
  return {
    track_id: trackId,
    track_number: trackNumber,
    label_name: "label 0",
    colour: "#ff0000",
    spans: spans.map(([first, last]) => ({ first, last })),
    keyframes,
  };
}

export function historyState(undo: number, redo = 0, summary = ""): HistoryState {
  return { summary, undo, redo };
}

export function samPreview(frame: number, revision = 1): SamPreview {
  return {
    video_id: "video-1",
    frame,
    revision,
    candidates: [
      { rank: 0, iou: 0.95, area: 1200, bbox: null },
      { rank: 1, iou: 0.9, area: null, bbox: null },
      { rank: 2, iou: 0.8, area: null, bbox: null },
    ],
  };
}

/** What propagate_track answers: object track-a of video-1 propagated from frame 10 to 29. */
export function propagateSummary(more: Partial<PropagateSummary> = {}): PropagateSummary {
  return {
    videoId: "video-1",
    trackId: "track-a",
    start: 10,
    written: 19,
    replaced: 0,
    lastFrame: 29,
    flagged: [],
    stopped: null,
    cancelled: false,
    model: "sample",
    ...more,
  };
}

/** The workspace with the project and its video open at `frame`. */
export function openWorkspace(frame = 0): WorkspaceState {
  const ws = initialState();
  ws.detail = projectDetail();
  ws.video = ws.detail.videos[0];
  ws.frame = frame;
  ws.history = historyState(0);
  ws.timeline = {
    frame_count: 100,
    frames: [
      { frame: 10, shapes: 1, keyframes: 1 },
      { frame: 20, shapes: 1, keyframes: 0 },
      { frame: 30, shapes: 2, keyframes: 1 },
    ],
    tracks: [timelineTrack("track-a", 1, [[10, 10], [30, 30]], [10, 30]), timelineTrack("track-b", 2, [[20, 20], [30, 30]])],
  };
  return ws;
}

/** A promise and its settling functions, to hold a command open while the test looks at the run. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** A review of the whole video, pending, without comments. */
export function review(id: string, more: Partial<ReviewInfo> = {}): ReviewInfo {
  return {
    id,
    video_id: "video-1",
    scope: { scope: "video" },
    covers: "the whole video",
    first_frame: 0,
    state: "pending",
    reviewer: null,
    comment: null,
    created_at: 1,
    updated_at: 1,
    comments: [],
    ...more,
  };
}

/** The clock the sync fixtures' times are read against. */
export const SYNC_NOW = 1_800_000_000_000;

/** A signed-in account (the team panel's payload). */
export function account(more: Partial<AccountInfo> = {}): AccountInfo {
  return {
    server: "https://argus.example.com",
    anon_key: null,
    user: { id: "u-1", email: "ada@example.com" },
    kept: "in the system keyring",
    problem: null,
    ...more,
  };
}

/** A project's sync state: on the server, synced 30 s before SYNC_NOW, nothing waiting. */
export function syncInfo(more: Partial<SyncInfo> = {}): SyncInfo {
  return {
    project_id: "project-1",
    on_server: true,
    signed_in: true,
    active: true,
    online: true,
    pending: 0,
    last_sync_ms: SYNC_NOW - 30_000,
    last_error: null,
    conflicts: 0,
    refused: [],
    ...more,
  };
}

/** Local time `hour`:`minute` on `day` January 2027 (the 15th, the day CONFLICT_NOW is on, unless
 *  said otherwise): the conflicts' times read the same in any time zone. */
export function localTime(hour: number, minute: number, day = 15): number {
  return new Date(2027, 0, day, hour, minute).getTime();
}

/** The clock the conflict fixtures' times are read against: 18:00 local time on 2027-01-15. */
export const CONFLICT_NOW = localTime(18, 0);

/** A sync conflict of car #3 on frame index 3 (frame 4 on screen) of video-1: another device's
 *  mask (14:02) is current, your bbox (13:58) is kept aside. */
export function conflict(more: Partial<ConflictInfo> = {}): ConflictInfo {
  return {
    id: "9b2f6c1e-0000-4000-8000-00000000c0f1",
    object: "car #3",
    track_id: "track-a",
    video_id: "video-1",
    frame: 3,
    current: { what: "a mask", at_ms: localTime(14, 2), here: false },
    other: { what: "a bbox", at_ms: localTime(13, 58), here: true },
    ...more,
  };
}

/** The label editor's form of project-1 at version 3: "car" (used by 4 objects drawn as masks
 *  and polygons, with a per-frame yes/no, a choice and a number attribute) and "person" (unused). */
export function labelsForm(more: Partial<LabelsForm> = {}): LabelsForm {
  const none = { options: [], min: null, max: null, step: null };
  return {
    project_id: "project-1",
    version: 3,
    labels: [
      {
        id: "label-car",
        name: "car",
        colour: "#f2a43c",
        hotkey: 1,
        kinds: ["mask", "polygon", "bbox"],
        attributes: [
          { name: "occluded", kind: "bool", ...none, per_frame: true, default: false },
          { name: "paint", kind: "enum", ...none, options: ["red", "blue"], per_frame: false, default: "red" },
          { name: "speed", kind: "number", ...none, min: 0, max: 100, step: 1, per_frame: true, default: 0 },
        ],
      },
      { id: "label-person", name: "person", colour: "#3c8cf2", hotkey: 2, kinds: ["mask", "polygon"], attributes: [] },
    ],
    usage: [{ label_id: "label-car", objects: 4, kinds: ["mask", "polygon"] }],
    read_only: null,
    ...more,
  };
}

/** A member of project-1: Bob, an annotator, unless `more` says otherwise. */
export function person(more: Partial<PersonInfo> = {}): PersonInfo {
  return { user_id: "u-2", email: "bob@example.com", display_name: "bob@example.com", role: "annotator", you: false, team_owner: false, ...more };
}

/** Who works on project-1, as a lead sees it: Ada (you, lead) and Bob (annotator), one open invitation. */
export function people(more: Partial<ProjectPeople> = {}): ProjectPeople {
  return {
    project_id: "project-1",
    members: [person({ user_id: "u-1", email: "ada@example.com", display_name: "Ada", role: "lead", you: true }), person()],
    invitations: [{ id: "9b2f6c1e-0000-4000-8000-000000000001", email: "cy@example.com", role: "reviewer", expires_at: "2027-06-14T10:00:00Z" }],
    can_manage: true,
    ...more,
  };
}

/** An invitation sent to the signed-in user: to Street, as reviewer, until 2027-06-14 (after SYNC_NOW). */
export function myInvitation(more: Partial<MyInvitation> = {}): MyInvitation {
  return {
    id: "9b2f6c1e-0000-4000-8000-000000000002",
    team: "team of boss@example.com",
    project: "Street",
    project_id: "project-2",
    role: "reviewer",
    invited_by: "boss@example.com",
    expires_at: "2027-06-14T10:00:00Z",
    ...more,
  };
}

/** A fake of the API: each call is recorded; `answers` says what each command answers (a function
 *  that throws fails the command with what it threw; a command without an answer fails). */
export function recordingApi(answers: Partial<Record<keyof Api, (...args: never[]) => unknown>>) {
  const calls: [string, ...unknown[]][] = [];
  const fake = new Proxy({} as Record<string, unknown>, {
    get: (_, name: string) =>
      async (...args: unknown[]) => {
        calls.push([name, ...args]);
        const answer = answers[name as keyof Api] as ((...a: unknown[]) => unknown) | undefined;
        if (!answer) throw { kind: "internal", message: `no answer for ${name}` };
        return answer(...args);
      },
  });
  return { api: fake as unknown as Api, calls, names: () => calls.map((c) => c[0]) };
}

/** An answer that fails the command with a CommandError of `kind`. */
export const fails = (kind: string, message: string) => () => {
  throw { kind, message };
};

/** The Team dialog's props for a rendered test: the Street project open, every callback a no-op. */
export function teamDialogProps(account: AccountInfo | null, sync: SyncInfo | null, project = true) {
  return {
    account,
    project: project ? { id: "project-1", name: "Street", labels: [] } : null,
    sync,
    onaccount: () => {},
    onsync: () => {},
    onpublished: () => {},
    onopened: () => {},
    onshowconflict: () => {},
    onconflictsettled: () => {},
    onclose: () => {},
  };
}
