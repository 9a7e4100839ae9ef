//! The IPC commands: each is one call into the application layer
//! ([`argus_workspace::Workspace`]), plus the events and dialogs that need
//! the window. Payloads are argus-workspace's [`dto`](argus_workspace::dto)
//! types and errors its [`CommandError`].

use argus_workspace::Workspace;
use argus_workspace::dto::{
    AcceptTarget, Accepted, AppInfo, BrushStroke, Diagnostics, DrawnShape, Edited, HistoryState,
    IMPORT_PROGRESS_EVENT, MODEL_PROGRESS_EVENT, PointPx, ProjectDetail, ProjectSummary, SamCache,
    SamCandidate, SamModelChoice, SamModelInfo, SamPreview, SamPrompt, ShapeInfo, Timeline,
    VideoSummary,
};
use argus_workspace::dto::{LabelInfo, LabelsForm, ReviewInfo, ReviewScopeInfo, ReviewVerdict, Reviewed};
use argus_workspace::dto::{ConflictInfo, ConflictKeep, ConflictsSettled, MyInvitation, PersonAdded, ProjectPeople};
use argus_workspace::dto::{
    AccountInfo, Published, REMOTE_PROGRESS_EVENT, RemoteProgress,
    ServerProject, SignInForm, SignedOut, SyncInfo, TeamInfo,
};
use argus_workspace::dto::{
    ExportFormat, ExportOptions, PropagateOptions, PropagateSummary, TrackProgress, TransferProgress,
    TransferSummary,
};
use argus_workspace::export::Cancel;
use argus_workspace::import::ImportOptions;
use argus_workspace::{CommandError, CommandResult, ErrorKind};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime, State};

use crate::frame_server::FrameServerCell;

type Ws<'a> = State<'a, Workspace>;

/// Sends `payload` to the page as the event `name` (a failure is only logged:
/// progress is advisory).
fn emitter<R: Runtime, T: Serialize + Clone>(app: AppHandle<R>, name: &'static str) -> impl Fn(T) + Send + Sync + 'static {
    move |payload: T| {
        if let Err(e) = app.emit(name, payload) {
            tracing::warn!("could not send the {name} event: {e}");
        }
    }
}

#[tauri::command]
pub async fn app_info<R: Runtime>(app: AppHandle<R>, ws: Ws<'_>) -> CommandResult<AppInfo> {
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        renderer: ws.compositor_description(),
        sam_model: ws.sam().model_info().map(|m| m.id),
        sam: ws.sam().model_info(),
        database: ws.store().path().display().to_string(),
        sam_manifest_hint: std::env::var("ARGUS_SAM_MANIFEST")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| ws.startup_sam_manifest()),
        frame_base: app.try_state::<FrameServerCell>().and_then(|cell| cell.base(&ws)),
    })
}

/// The About box and "copy diagnostics": versions, what SAM and the
/// renderer run on, the webview, the log file and its last lines.
#[tauri::command]
pub async fn diagnostics(ws: Ws<'_>) -> CommandResult<Diagnostics> {
    Ok(diagnostics_of(&ws))
}

/// Lines of the log's tail in a diagnostics report.
pub const DIAGNOSTICS_LOG_LINES: usize = 60;

pub fn diagnostics_of(ws: &Workspace) -> Diagnostics {
    let r = ws.runtime_report();
    let webview = match tauri::webview_version() {
        Ok(v) => format!("{} {v}", webview_name()),
        Err(e) => format!("{} (version unknown: {e})", webview_name()),
    };
    Diagnostics {
        version: crate::version_line(),
        ffmpeg: r.ffmpeg,
        onnx_runtime: r.onnx_runtime,
        sam: r.sam,
        adapter: r.adapter,
        renderer: r.renderer,
        webview,
        os: os_line(),
        database: r.database,
        log_file: crate::logging::file().map(|p| p.display().to_string()),
        log_tail: crate::logging::tail(DIAGNOSTICS_LOG_LINES),
    }
}

fn webview_name() -> &'static str {
    if cfg!(target_os = "windows") {
        "WebView2"
    } else if cfg!(target_os = "macos") {
        "WKWebView"
    } else {
        "WebKitGTK"
    }
}

/// `linux x86_64, Debian GNU/Linux 12 (bookworm)`.
fn os_line() -> String {
    let base = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
    let pretty = std::fs::read_to_string("/etc/os-release").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
    });
    match pretty {
        Some(p) => format!("{base}, {p}"),
        None => base,
    }
}

/// Something the page wants in the log: its own errors, and requests the
/// content security policy blocked. `level` is `error`, `warn` or `info`;
/// the message is cut to 2,000 characters.
#[tauri::command]
pub fn page_log(level: String, message: String) {
    let message: String = message.chars().take(2000).collect();
    match level.as_str() {
        "error" => tracing::error!(target: "argus::page", "{message}"),
        "warn" => tracing::warn!(target: "argus::page", "{message}"),
        _ => tracing::info!(target: "argus::page", "{message}"),
    }
}

#[tauri::command]
pub async fn list_projects(ws: Ws<'_>) -> CommandResult<Vec<ProjectSummary>> {
    ws.list_projects().await
}

#[tauri::command]
pub async fn create_project(ws: Ws<'_>, name: String, labels: Vec<String>) -> CommandResult<ProjectSummary> {
    ws.create_project(&name, &labels).await
}

#[tauri::command]
pub async fn open_project(ws: Ws<'_>, project_id: String) -> CommandResult<ProjectDetail> {
    ws.open_project(&project_id).await
}

/// Progress goes out as `import-progress` events.
#[tauri::command]
pub async fn import_video<R: Runtime>(app: AppHandle<R>, ws: Ws<'_>, project_id: String, path: String) -> CommandResult<VideoSummary> {
    ws.import_video(&project_id, &path, emitter(app, IMPORT_PROGRESS_EVENT)).await
}

#[tauri::command]
pub async fn frame_shapes(ws: Ws<'_>, video_id: String, frame: u64) -> CommandResult<Vec<ShapeInfo>> {
    ws.frame_shapes(&video_id, frame).await
}

#[tauri::command]
pub async fn timeline(ws: Ws<'_>, video_id: String) -> CommandResult<Timeline> {
    ws.timeline(&video_id).await
}

/// Progress goes out as `model-progress` events.
#[tauri::command]
pub async fn load_sam_model<R: Runtime>(app: AppHandle<R>, ws: Ws<'_>, manifest_path: String) -> CommandResult<SamModelInfo> {
    ws.load_sam_model(&manifest_path, emitter(app, MODEL_PROGRESS_EVENT)).await
}

#[tauri::command]
pub async fn list_sam_models(ws: Ws<'_>) -> CommandResult<Vec<SamModelChoice>> {
    ws.list_sam_models().await
}

/// The system's file dialog for picking videos to import; empty when cancelled.
#[tauri::command]
pub async fn choose_video_files<R: Runtime>(app: AppHandle<R>) -> CommandResult<Vec<String>> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Import videos")
        .add_filter("Videos", &["mp4", "mov", "mkv", "webm", "avi", "m4v", "mpg", "mpeg", "ts", "mts", "wmv", "flv"])
        .add_filter("All files", &["*"])
        .pick_files(move |files| {
            let _ = tx.send(files);
        });
    let files = rx.await.map_err(|_| CommandError::internal("the file dialog closed without an answer"))?;
    Ok(files
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| f.into_path().ok())
        .map(|p| p.display().to_string())
        .collect())
}

#[tauri::command]
pub async fn sam_predict(ws: Ws<'_>, video_id: String, frame: u64, prompt: SamPrompt) -> CommandResult<SamPreview> {
    ws.sam_predict(&video_id, frame, prompt).await
}

#[tauri::command]
pub async fn sam_candidate(ws: Ws<'_>, video_id: String, frame: u64, rank: u32) -> CommandResult<SamCandidate> {
    ws.sam_candidate(&video_id, frame, rank).await
}

#[tauri::command]
pub async fn sam_prefetch(ws: Ws<'_>, video_id: String, frame: u64, start: bool) -> CommandResult<SamCache> {
    ws.sam_prefetch(&video_id, frame, start).await
}

#[tauri::command]
pub async fn sam_clear(ws: Ws<'_>) -> CommandResult<()> {
    ws.sam().clear();
    Ok(())
}

#[tauri::command]
pub async fn sam_accept(ws: Ws<'_>, video_id: String, frame: u64, rank: u32, target: AcceptTarget) -> CommandResult<Accepted> {
    ws.sam_accept(&video_id, frame, rank, &target).await
}

#[tauri::command]
pub async fn draw_shape(ws: Ws<'_>, video_id: String, frame: u64, target: AcceptTarget, shape: DrawnShape) -> CommandResult<Edited> {
    ws.draw_shape(&video_id, frame, &target, &shape).await
}

#[tauri::command]
pub async fn brush_stroke(ws: Ws<'_>, video_id: String, frame: u64, target: AcceptTarget, stroke: BrushStroke) -> CommandResult<Edited> {
    ws.brush_stroke(&video_id, frame, &target, &stroke).await
}

#[tauri::command]
pub async fn cut_hole(ws: Ws<'_>, video_id: String, frame: u64, track_id: String, ring: Vec<PointPx>) -> CommandResult<Edited> {
    ws.cut_hole(&video_id, frame, &track_id, &ring).await
}

#[tauri::command]
pub async fn copy_to_next_frame(ws: Ws<'_>, video_id: String, frame: u64, track_id: String) -> CommandResult<Edited> {
    ws.copy_to_next_frame(&video_id, frame, &track_id).await
}

#[tauri::command]
pub async fn delete_shape(ws: Ws<'_>, video_id: String, frame: u64, track_id: String) -> CommandResult<Edited> {
    ws.delete_shape(&video_id, frame, &track_id).await
}

#[tauri::command]
pub async fn delete_track(ws: Ws<'_>, video_id: String, track_id: String) -> CommandResult<Edited> {
    ws.delete_track(&video_id, &track_id).await
}

#[tauri::command]
pub async fn change_label(ws: Ws<'_>, video_id: String, frame: u64, track_id: String, label_id: String) -> CommandResult<Edited> {
    ws.change_label(&video_id, frame, &track_id, &label_id).await
}

#[tauri::command]
pub async fn set_attribute(ws: Ws<'_>, video_id: String, frame: u64, track_id: String, name: String, value: serde_json::Value) -> CommandResult<Edited> {
    ws.set_attribute(&video_id, frame, &track_id, &name, value).await
}

#[tauri::command]
pub async fn pick_object(ws: Ws<'_>, video_id: String, frame: u64, x: f64, y: f64, hidden: Option<Vec<String>>) -> CommandResult<Option<String>> {
    ws.pick_object(&video_id, frame, x, y, &hidden.unwrap_or_default()).await
}

#[tauri::command]
pub async fn undo(ws: Ws<'_>, project_id: String) -> CommandResult<HistoryState> {
    ws.undo(&project_id).await
}

#[tauri::command]
pub async fn redo(ws: Ws<'_>, project_id: String) -> CommandResult<HistoryState> {
    ws.redo(&project_id).await
}

#[tauri::command]
pub async fn history(ws: Ws<'_>, project_id: String) -> CommandResult<HistoryState> {
    ws.history(&project_id).await
}

#[tauri::command]
pub async fn label_schema(ws: Ws<'_>, project_id: String) -> CommandResult<LabelsForm> {
    ws.label_schema(&project_id).await
}

#[tauri::command]
pub async fn save_labels(ws: Ws<'_>, project_id: String, version: u32, labels: Vec<LabelInfo>) -> CommandResult<LabelsForm> {
    ws.save_labels(&project_id, version, &labels).await
}

#[tauri::command]
pub async fn reviews(ws: Ws<'_>, video_id: String) -> CommandResult<Vec<ReviewInfo>> {
    ws.reviews(&video_id).await
}

#[tauri::command]
pub async fn open_review(ws: Ws<'_>, video_id: String, scope: ReviewScopeInfo) -> CommandResult<Reviewed> {
    ws.open_review(&video_id, &scope).await
}

#[tauri::command]
pub async fn decide_review(ws: Ws<'_>, review_id: String, verdict: ReviewVerdict, comment: Option<String>) -> CommandResult<Reviewed> {
    ws.decide_review(&review_id, verdict, comment.as_deref()).await
}

#[tauri::command]
pub async fn comment_review(ws: Ws<'_>, review_id: String, body: String, frame: Option<u64>) -> CommandResult<Reviewed> {
    ws.comment_review(&review_id, &body, frame).await
}

/// Who is signed in where (a session kept at the last sign-in is picked up
/// on the first call).
#[tauri::command]
pub async fn account(ws: Ws<'_>) -> CommandResult<AccountInfo> {
    ws.account().await
}

#[tauri::command]
pub async fn sign_in(ws: Ws<'_>, form: SignInForm) -> CommandResult<AccountInfo> {
    ws.sign_in(&form).await
}

#[tauri::command]
pub async fn sign_out(ws: Ws<'_>, everywhere: bool) -> CommandResult<SignedOut> {
    ws.sign_out(everywhere).await
}

#[tauri::command]
pub async fn teams(ws: Ws<'_>) -> CommandResult<Vec<TeamInfo>> {
    ws.teams().await
}

#[tauri::command]
pub async fn server_projects(ws: Ws<'_>) -> CommandResult<Vec<ServerProject>> {
    ws.server_projects().await
}

/// The publish or download that is running (one at a time).
#[derive(Debug, Default)]
pub struct RemoteCell(pub TransferCell);

const REMOTE_BUSY: &str = "a publish or download is already running; wait for it to finish";

/// Publishes a local project to a team, with its video files when
/// `videos`; upload progress goes out as `remote-progress` events.
#[tauri::command]
pub async fn publish_project<R: Runtime>(
    app: AppHandle<R>,
    ws: Ws<'_>,
    runs: State<'_, RemoteCell>,
    project_id: String,
    team_id: String,
    videos: bool,
) -> CommandResult<Published> {
    let _running = runs.0.begin_or(REMOTE_BUSY)?;
    ws.publish_project(&project_id, &team_id, videos, emitter::<R, RemoteProgress>(app, REMOTE_PROGRESS_EVENT)).await
}

/// Brings a server project onto this machine (every video's file too when
/// `videos`); download progress goes out as `remote-progress` events.
#[tauri::command]
pub async fn open_server_project<R: Runtime>(
    app: AppHandle<R>,
    ws: Ws<'_>,
    runs: State<'_, RemoteCell>,
    project_id: String,
    videos: bool,
) -> CommandResult<ProjectSummary> {
    let _running = runs.0.begin_or(REMOTE_BUSY)?;
    ws.open_server_project(&project_id, videos, emitter::<R, RemoteProgress>(app, REMOTE_PROGRESS_EVENT)).await
}

/// Downloads a video's file from the server; progress goes out as
/// `remote-progress` events.
#[tauri::command]
pub async fn fetch_video<R: Runtime>(app: AppHandle<R>, ws: Ws<'_>, runs: State<'_, RemoteCell>, video_id: String) -> CommandResult<VideoSummary> {
    let _running = runs.0.begin_or(REMOTE_BUSY)?;
    ws.fetch_video(&video_id, emitter::<R, RemoteProgress>(app, REMOTE_PROGRESS_EVENT)).await
}

#[tauri::command]
pub async fn sync_status(ws: Ws<'_>, project_id: String, nudge: bool) -> CommandResult<SyncInfo> {
    ws.sync_status(&project_id, nudge).await
}

#[tauri::command]
pub async fn project_people(ws: Ws<'_>, project_id: String) -> CommandResult<ProjectPeople> {
    ws.project_people(&project_id).await
}

#[tauri::command]
pub async fn add_person(ws: Ws<'_>, project_id: String, email: String, role: String) -> CommandResult<PersonAdded> {
    ws.add_person(&project_id, &email, &role).await
}

#[tauri::command]
pub async fn set_person_role(ws: Ws<'_>, project_id: String, user_id: String, role: String) -> CommandResult<ProjectPeople> {
    ws.set_person_role(&project_id, &user_id, &role).await
}

#[tauri::command]
pub async fn remove_person(ws: Ws<'_>, project_id: String, user_id: String) -> CommandResult<ProjectPeople> {
    ws.remove_person(&project_id, &user_id).await
}

#[tauri::command]
pub async fn revoke_invitation(ws: Ws<'_>, project_id: String, invitation_id: String) -> CommandResult<ProjectPeople> {
    ws.revoke_invitation(&project_id, &invitation_id).await
}

#[tauri::command]
pub async fn my_invitations(ws: Ws<'_>) -> CommandResult<Vec<MyInvitation>> {
    ws.my_invitations().await
}

#[tauri::command]
pub async fn accept_invitation(ws: Ws<'_>, invitation_id: String) -> CommandResult<Vec<MyInvitation>> {
    ws.accept_invitation(&invitation_id).await
}

#[tauri::command]
pub async fn conflicts(ws: Ws<'_>, project_id: String) -> CommandResult<Vec<ConflictInfo>> {
    ws.conflicts(&project_id).await
}

#[tauri::command]
pub async fn resolve_conflict(ws: Ws<'_>, project_id: String, conflict_id: String, keep: ConflictKeep) -> CommandResult<ConflictsSettled> {
    ws.resolve_conflict(&project_id, &conflict_id, keep).await
}

#[tauri::command]
pub async fn sync_now(ws: Ws<'_>, project_id: String) -> CommandResult<SyncInfo> {
    ws.sync_now(&project_id).await
}

/// The event name of export and import progress ([`TransferProgress`]).
pub const TRANSFER_PROGRESS_EVENT: &str = "transfer-progress";

/// The export or import that is running (one at a time), as app state: its
/// [`Cancel`] is what `cancel_transfer` sets.
#[derive(Debug, Default)]
pub struct TransferCell(std::sync::Mutex<Option<Cancel>>);

/// A running transfer's hold on the [`TransferCell`]; dropped when the
/// transfer ends, or when its command's future is dropped.
struct Running<'a> {
    cell: &'a TransferCell,
    cancel: Cancel,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        *self.cell.lock() = None;
    }
}

impl TransferCell {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Cancel>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a transfer; refused while another runs.
    fn begin(&self) -> CommandResult<Running<'_>> {
        self.begin_or("an export or import is already running; wait for it to finish or cancel it")
    }

    /// Starts a run; refused with `busy` while another runs.
    fn begin_or(&self, busy: &str) -> CommandResult<Running<'_>> {
        let mut current = self.lock();
        if current.is_some() {
            return Err(CommandError::new(ErrorKind::Conflict, busy));
        }
        let cancel = Cancel::new();
        *current = Some(cancel.clone());
        Ok(Running { cell: self, cancel })
    }

    /// Cancels the running transfer; false when none runs.
    pub fn cancel(&self) -> bool {
        match self.lock().as_ref() {
            Some(c) => {
                c.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether a transfer is running.
    pub fn is_running(&self) -> bool {
        self.lock().is_some()
    }
}

/// Exports the project into the folder `out`; progress goes out as
/// `transfer-progress` events, and `cancel_transfer` stops it (what was
/// written so far stays, incomplete).
#[tauri::command]
pub async fn export_project<R: Runtime>(
    app: AppHandle<R>,
    ws: Ws<'_>,
    transfers: State<'_, TransferCell>,
    project_id: String,
    out: String,
    options: ExportOptions,
) -> CommandResult<TransferSummary> {
    let out = out.trim();
    if out.is_empty() {
        return Err(CommandError::invalid("choose the folder to export into"));
    }
    let running = transfers.begin()?;
    let progress = emitter::<R, TransferProgress>(app, TRANSFER_PROGRESS_EVENT);
    let result = ws.export_project(&project_id, std::path::Path::new(out), &options, progress, &running.cancel).await;
    match &result {
        Ok(s) => tracing::info!("exported {} images, {} annotations, {} tracks to {}", s.images, s.annotations, s.tracks, s.path),
        Err(e) => tracing::warn!("export to {out} stopped: {}", e.message),
    }
    result
}

/// Imports a dataset's annotations into the project as one undo step;
/// progress goes out as `transfer-progress` events, and `cancel_transfer`
/// stops it (then nothing is imported).
#[tauri::command]
pub async fn import_annotations<R: Runtime>(
    app: AppHandle<R>,
    ws: Ws<'_>,
    transfers: State<'_, TransferCell>,
    project_id: String,
    path: String,
    options: ImportOptions,
) -> CommandResult<TransferSummary> {
    let path = path.trim();
    if path.is_empty() {
        return Err(CommandError::invalid("choose the dataset file or folder to import"));
    }
    let running = transfers.begin()?;
    let progress = emitter::<R, TransferProgress>(app, TRANSFER_PROGRESS_EVENT);
    let result = ws.import_annotations(&project_id, std::path::Path::new(path), &options, progress, &running.cancel).await;
    match &result {
        Ok(s) => tracing::info!("imported {} annotations, {} tracks from {} ({} left out)", s.annotations, s.tracks, s.path, s.skipped.len()),
        Err(e) => tracing::warn!("import of {path} stopped: {}", e.message),
    }
    result
}

/// The event name of propagation progress ([`TrackProgress`]).
pub const TRACK_PROGRESS_EVENT: &str = "track-progress";

/// The propagation run that is running (one at a time), for `cancel_propagation`.
#[derive(Debug, Default)]
pub struct PropagationCell(pub TransferCell);

/// Propagates an object's shape on `frame` forward or backward with the
/// loaded SAM model (see `argus_workspace::track`); progress goes out as
/// `track-progress` events, and `cancel_propagation` stops it (what was
/// written stays, and undoes in one step with the rest of the run).
#[tauri::command]
pub async fn propagate_track<R: Runtime>(
    app: AppHandle<R>,
    ws: Ws<'_>,
    runs: State<'_, PropagationCell>,
    video_id: String,
    track_id: String,
    frame: u64,
    options: PropagateOptions,
) -> CommandResult<PropagateSummary> {
    let running = runs.0.begin_or("a propagation is already running; wait for it to finish or cancel it")?;
    let progress = emitter::<R, TrackProgress>(app, TRACK_PROGRESS_EVENT);
    let result = ws.propagate(&video_id, &track_id, frame, &options, &progress, &running.cancel).await;
    match &result {
        Ok(s) => tracing::info!(
            "propagated object {} from frame {}: {} frame(s), {} flagged{}",
            s.track_id,
            s.start,
            s.written,
            s.flagged.len(),
            if s.cancelled { ", cancelled" } else { "" }
        ),
        Err(e) => tracing::warn!("propagation from frame {frame} stopped: {}", e.message),
    }
    result
}

/// Cancels the running propagation; false when none runs.
#[tauri::command]
pub fn cancel_propagation(runs: State<'_, PropagationCell>) -> bool {
    runs.0.cancel()
}

/// Cancels the running export or import; false when none runs.
#[tauri::command]
pub fn cancel_transfer(transfers: State<'_, TransferCell>) -> bool {
    transfers.cancel()
}

/// Where an export goes unless the user says otherwise: a folder
/// `<project>-<format>` in the user's Documents (or home) folder, with `-2`,
/// `-3`... when that one already exists.
#[tauri::command]
pub fn default_export_folder(project_name: String, format: ExportFormat) -> String {
    let dirs = directories::UserDirs::new();
    let base = dirs
        .as_ref()
        .map(|d| d.document_dir().filter(|p| p.is_dir()).unwrap_or(d.home_dir()).to_path_buf())
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    unused_folder(&base, &argus_workspace::export::default_folder(&project_name, format))
}

/// `base/name`, or `base/name-2`, `-3`... when it exists.
pub fn unused_folder(base: &std::path::Path, name: &std::path::Path) -> String {
    let first = base.join(name);
    let mut path = first.clone();
    let mut i = 2;
    while path.exists() && i < 1000 {
        path = base.join(format!("{}-{i}", name.display()));
        i += 1;
    }
    path.display().to_string()
}

/// The system's folder dialog for an export's destination, starting at
/// `start` (or its parent, while it does not exist yet); null when cancelled.
#[tauri::command]
pub async fn choose_export_folder<R: Runtime>(app: AppHandle<R>, start: Option<String>) -> CommandResult<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut dialog = app.dialog().file().set_title("Export into folder");
    if let Some(dir) = start.as_deref().map(std::path::Path::new).and_then(|p| p.ancestors().find(|a| a.is_dir())) {
        dialog = dialog.set_directory(dir);
    }
    dialog.pick_folder(move |folder| {
        let _ = tx.send(folder);
    });
    let folder = rx.await.map_err(|_| CommandError::internal("the folder dialog closed without an answer"))?;
    Ok(folder.and_then(|f| f.into_path().ok()).map(|p| p.display().to_string()))
}

/// The system's file dialog for a dataset to import (COCO JSON, CVAT XML,
/// YOLO's data.yaml, MOT's gt.txt, Argus JSON Lines); null when cancelled.
#[tauri::command]
pub async fn choose_import_file<R: Runtime>(app: AppHandle<R>) -> CommandResult<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Import annotations")
        .add_filter("Datasets", &["json", "xml", "yaml", "yml", "txt", "jsonl"])
        .add_filter("All files", &["*"])
        .pick_file(move |file| {
            let _ = tx.send(file);
        });
    let file = rx.await.map_err(|_| CommandError::internal("the file dialog closed without an answer"))?;
    Ok(file.and_then(|f| f.into_path().ok()).map(|p| p.display().to_string()))
}
