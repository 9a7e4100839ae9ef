//! The workspace under test: a real store in a temporary folder, and calls
//! made the way the desktop app's page makes them (a command name and its
//! JSON arguments, camelCase), answered by the workspace directly, without
//! Tauri. Progress events are recorded instead of emitted.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;

use argus_workspace::Workspace;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use argus_testkit::{BOX, VIDEO_FRAMES, VIDEO_H, VIDEO_W};

pub type TestResult = Result<(), libtest_mimic::Failed>;

/// The payloads of one event, in the order they were sent.
pub type Events = Arc<Mutex<Vec<Value>>>;

/// A workspace on its own data folder and runtime.
#[allow(missing_debug_implementations)] // the runtime is not Debug
pub struct TestWs {
    pub ws: Workspace,
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    /// Listeners: an event's name and where its payloads go.
    listeners: Arc<Mutex<Vec<(String, Events)>>>,
}

impl TestWs {
    pub fn new() -> Result<Self, String> {
        Self::with_models(None)
    }

    /// A workspace whose SAM models are taken from `models` (else its own
    /// `models/` folder): the user's model cache, for the real-model trials.
    pub fn with_models(models: Option<argus_sam::download::ModelStore>) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let ws = rt
            .block_on(Workspace::open_with(&dir.path().join("data").join("argus.db"), models, true))
            .map_err(|e| e.message)?;
        Ok(Self {
            ws,
            dir,
            rt,
            listeners: Arc::default(),
        })
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Where the payloads of the events named `name` sent from now on go.
    pub fn listen(&self, name: &str) -> Events {
        let events = Events::default();
        self.listeners.lock().push((name.to_owned(), events.clone()));
        events
    }

    /// A progress callback that sends the event `name` to its listeners.
    fn recorder<T: serde::Serialize>(&self, name: &'static str) -> impl Fn(T) + Send + Sync + 'static {
        let listeners = self.listeners.clone();
        move |payload: T| {
            let v = serde_json::to_value(payload).unwrap_or(Value::Null);
            for (n, events) in listeners.lock().iter() {
                if n == name {
                    events.lock().push(v.clone());
                }
            }
        }
    }

    /// Runs `cmd` with JSON `args`; `Err` is the serialised `CommandError`.
    pub fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        self.rt.block_on(self.dispatch(cmd, &args))
    }

    async fn dispatch(&self, cmd: &str, args: &Value) -> Result<Value, Value> {
        let ws = &self.ws;
        let s = |k| arg::<String>(args, k);
        let n = |k| arg::<u64>(args, k);
        match cmd {
            "list_projects" => out(ws.list_projects().await),
            "create_project" => out(ws.create_project(&s("name")?, &arg::<Vec<String>>(args, "labels")?).await),
            "open_project" => out(ws.open_project(&s("projectId")?).await),
            "import_video" => {
                let report = self.recorder(argus_workspace::dto::IMPORT_PROGRESS_EVENT);
                out(ws.import_video(&s("projectId")?, &s("path")?, report).await)
            }
            "frame_shapes" => out(ws.frame_shapes(&s("videoId")?, n("frame")?).await),
            "timeline" => out(ws.timeline(&s("videoId")?).await),
            "load_sam_model" => {
                let report = self.recorder(argus_workspace::dto::MODEL_PROGRESS_EVENT);
                out(ws.load_sam_model(&s("manifestPath")?, report).await)
            }
            "list_sam_models" => out(ws.list_sam_models().await),
            "sam_predict" => out(ws.sam_predict(&s("videoId")?, n("frame")?, arg(args, "prompt")?).await),
            "sam_candidate" => out(ws.sam_candidate(&s("videoId")?, n("frame")?, arg(args, "rank")?).await),
            "sam_prefetch" => out(ws.sam_prefetch(&s("videoId")?, n("frame")?, arg(args, "start")?).await),
            "sam_clear" => {
                ws.sam().clear();
                Ok(Value::Null)
            }
            "sam_accept" => out(ws.sam_accept(&s("videoId")?, n("frame")?, arg(args, "rank")?, &arg(args, "target")?).await),
            "draw_shape" => out(ws.draw_shape(&s("videoId")?, n("frame")?, &arg(args, "target")?, &arg(args, "shape")?).await),
            "brush_stroke" => out(ws.brush_stroke(&s("videoId")?, n("frame")?, &arg(args, "target")?, &arg(args, "stroke")?).await),
            "cut_hole" => out(ws.cut_hole(&s("videoId")?, n("frame")?, &s("trackId")?, &arg::<Vec<_>>(args, "ring")?).await),
            "copy_to_next_frame" => out(ws.copy_to_next_frame(&s("videoId")?, n("frame")?, &s("trackId")?).await),
            "delete_shape" => out(ws.delete_shape(&s("videoId")?, n("frame")?, &s("trackId")?).await),
            "delete_track" => out(ws.delete_track(&s("videoId")?, &s("trackId")?).await),
            "change_label" => out(ws.change_label(&s("videoId")?, n("frame")?, &s("trackId")?, &s("labelId")?).await),
            "set_attribute" => out(ws.set_attribute(&s("videoId")?, n("frame")?, &s("trackId")?, &s("name")?, arg(args, "value")?).await),
            "pick_object" => {
                let hidden = arg::<Option<Vec<String>>>(args, "hidden")?.unwrap_or_default();
                out(ws.pick_object(&s("videoId")?, n("frame")?, arg(args, "x")?, arg(args, "y")?, &hidden).await)
            }
            "reviews" => out(ws.reviews(&s("videoId")?).await),
            "open_review" => out(ws.open_review(&s("videoId")?, &arg(args, "scope")?).await),
            "decide_review" => {
                let comment = arg::<Option<String>>(args, "comment")?;
                out(ws.decide_review(&s("reviewId")?, arg(args, "verdict")?, comment.as_deref()).await)
            }
            "comment_review" => out(ws.comment_review(&s("reviewId")?, &s("body")?, arg(args, "frame")?).await),
            "account" => out(ws.account().await),
            "sign_in" => out(ws.sign_in(&arg(args, "form")?).await),
            "sign_out" => out(ws.sign_out(arg(args, "everywhere")?).await),
            "teams" => out(ws.teams().await),
            "server_projects" => out(ws.server_projects().await),
            "publish_project" => {
                let report = self.recorder(argus_workspace::dto::REMOTE_PROGRESS_EVENT);
                out(ws.publish_project(&s("projectId")?, &s("teamId")?, arg(args, "videos")?, report).await)
            }
            "open_server_project" => {
                let report = self.recorder(argus_workspace::dto::REMOTE_PROGRESS_EVENT);
                out(ws.open_server_project(&s("projectId")?, arg(args, "videos")?, report).await)
            }
            "fetch_video" => {
                let report = self.recorder(argus_workspace::dto::REMOTE_PROGRESS_EVENT);
                out(ws.fetch_video(&s("videoId")?, report).await)
            }
            "sync_status" => out(ws.sync_status(&s("projectId")?, arg(args, "nudge")?).await),
            "sync_now" => out(ws.sync_now(&s("projectId")?).await),
            "project_people" => out(ws.project_people(&s("projectId")?).await),
            "add_person" => out(ws.add_person(&s("projectId")?, &s("email")?, &s("role")?).await),
            "set_person_role" => out(ws.set_person_role(&s("projectId")?, &s("userId")?, &s("role")?).await),
            "remove_person" => out(ws.remove_person(&s("projectId")?, &s("userId")?).await),
            "revoke_invitation" => out(ws.revoke_invitation(&s("projectId")?, &s("invitationId")?).await),
            "my_invitations" => out(ws.my_invitations().await),
            "accept_invitation" => out(ws.accept_invitation(&s("invitationId")?).await),
            "conflicts" => out(ws.conflicts(&s("projectId")?).await),
            "resolve_conflict" => out(ws.resolve_conflict(&s("projectId")?, &s("conflictId")?, arg(args, "keep")?).await),
            "label_schema" => out(ws.label_schema(&s("projectId")?).await),
            "save_labels" => out(ws.save_labels(&s("projectId")?, arg(args, "version")?, &arg::<Vec<_>>(args, "labels")?).await),
            "undo" => out(ws.undo(&s("projectId")?).await),
            "redo" => out(ws.redo(&s("projectId")?).await),
            "history" => out(ws.history(&s("projectId")?).await),
            other => Err(json!({ "kind": "test", "message": format!("no command {other}") })),
        }
    }

    /// `call` that must succeed.
    pub fn ok(&self, cmd: &str, args: Value) -> Result<Value, String> {
        self.call(cmd, args).map_err(|e| format!("{cmd} failed: {e}"))
    }

    /// `call` that must fail; returns the error's `kind` and `message`.
    pub fn err(&self, cmd: &str, args: Value) -> Result<(String, String), String> {
        match self.call(cmd, args) {
            Ok(v) => Err(format!("{cmd} should have failed but returned {v}")),
            Err(e) => Ok((
                e.get("kind").and_then(Value::as_str).unwrap_or("<no kind>").to_owned(),
                e.get("message").and_then(Value::as_str).unwrap_or("<no message>").to_owned(),
            )),
        }
    }
}

/// Argument `key` of a call (a missing optional one reads as null).
fn arg<T: DeserializeOwned>(args: &Value, key: &str) -> Result<T, Value> {
    serde_json::from_value(args.get(key).cloned().unwrap_or(Value::Null))
        .map_err(|e| json!({ "kind": "test", "message": format!("argument {key}: {e}") }))
}

fn out<T: serde::Serialize>(r: argus_workspace::CommandResult<T>) -> Result<Value, Value> {
    match r {
        Ok(v) => serde_json::to_value(v).map_err(|e| json!({ "kind": "test", "message": e.to_string() })),
        Err(e) => Err(serde_json::to_value(e).unwrap_or(Value::Null)),
    }
}
