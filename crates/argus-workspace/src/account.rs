//! The team side of the desktop: sign in to an argus-server (or a Supabase
//! project: the same GoTrue contract), publish a local project to a team
//! with its video files, open a server project here (its annotations at
//! once, each video's file when it is wanted), and keep the open project in
//! sync in the background, with where that stands for the status bar.
//!
//! The session is kept in the OS keyring when the user asks to stay signed
//! in, and nowhere else: where there is no keyring, signing in says so and
//! the user can sign in for this run only. `account.json` in the data
//! folder keeps which server was used and whether a session was kept (no
//! secret). One project syncs at a time: the one the page asks about.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use argus_client::{
    Api, Auth, BackgroundSync, KeyringStore, NoStore, Progress, Projects, Scope, SessionStore,
    Syncer, Videos,
};
use argus_core::id::{ProjectId, TeamId, UserId, VideoId};
use argus_core::model::RemoteState;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::Workspace;
use crate::dto::{
    AccountInfo, AccountUser, ProjectSummary, Published, PublishedVideo, RemoteProgress,
    ServerProject, SignInForm, SignedOut, SyncInfo, TeamInfo, VideoSummary,
};
use crate::edit::parse_id;
use crate::error::{CommandError, CommandResult, ErrorKind};

/// How often the open project syncs when nothing asks sooner.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(15);

/// How long "sync now" waits for its round.
const SYNC_WAIT: Duration = Duration::from_secs(120);

/// Refused changes listed in a [`SyncInfo`] (the count is in the list's length up to this).
const REFUSED_SHOWN: usize = 20;

const SETTINGS_FILE: &str = "account.json";

/// Opens the place a kept session lives for a server: the OS keyring
/// unless a test or an embedder says otherwise
/// ([`Workspace::keep_sessions_with`]).
pub type SessionKeeper = Arc<dyn Fn(&str) -> argus_client::Result<Box<dyn SessionStore>> + Send + Sync>;

#[derive(Default)]
pub(crate) struct AccountState {
    conn: Mutex<Option<Arc<Conn>>>,
    /// Whether the settings were read and a kept session picked up (once).
    restored: tokio::sync::Mutex<bool>,
    /// Why a kept session could not be picked up.
    problem: Mutex<Option<String>>,
    sync: Mutex<Option<ProjectSync>>,
    keeper: Mutex<Option<SessionKeeper>>,
}

/// A signed-in server.
pub(crate) struct Conn {
    server: String,
    auth: Arc<Auth>,
    pub(crate) user: UserId,
    refresher: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

struct ProjectSync {
    project: ProjectId,
    bg: BackgroundSync,
}

/// `account.json`: no secret, only what fills the form in again.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Settings {
    server: Option<String>,
    anon_key: Option<String>,
    /// A session was kept (in the keyring) for `server`.
    #[serde(default)]
    keep: bool,
}

/// The server's `/api/v1/teams` rows, as far as the desktop reads them.
#[derive(Deserialize)]
struct TeamRow {
    id: String,
    name: String,
    role: Option<String>,
}

/// The server's `/api/v1/projects` rows, as far as the desktop reads them.
#[derive(Deserialize)]
struct ProjectRow {
    id: String,
    team_id: String,
    name: String,
    role: Option<String>,
}

fn normalise_server(raw: &str) -> CommandResult<String> {
    let s = raw.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| {
            CommandError::invalid(
                "the server address starts with https:// (or http:// for a server on this machine or network), e.g. https://argus.example.com",
            )
        })?;
    if rest.is_empty() || rest.contains(char::is_whitespace) || rest.starts_with('/') {
        return Err(CommandError::invalid(format!("'{}' is not a server address; give it as https://host[:port]", raw.trim())));
    }
    Ok(s.to_owned())
}

/// Passes on a progress report only when its video, its stage or its whole
/// percentage changed (or it is the last): an upload or download reports
/// every chunk, and each report is an event the page has to handle.
fn throttled(progress: impl Fn(RemoteProgress) + Send + Sync + 'static) -> impl Fn(RemoteProgress) + Send + Sync + 'static {
    let last: Mutex<Option<(String, String, u64)>> = Mutex::new(None);
    move |p: RemoteProgress| {
        let pct = (p.done.min(p.total) * 100).checked_div(p.total).unwrap_or(0);
        let key = (p.video.clone(), p.stage.clone(), pct);
        {
            let mut l = last.lock();
            if l.as_ref() == Some(&key) && p.done < p.total {
                return;
            }
            *l = Some(key);
        }
        progress(p);
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Workspace {
    /// Keep sessions with `keeper` instead of the OS keyring (tests, or an
    /// embedder with its own secret store).
    pub fn keep_sessions_with(&self, keeper: SessionKeeper) {
        *self.inner.account.keeper.lock() = Some(keeper);
    }

    fn settings_path(&self) -> PathBuf {
        self.data_dir().join(SETTINGS_FILE)
    }

    fn settings(&self) -> Settings {
        match std::fs::read(self.settings_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!("{} is unreadable ({e}); starting signed out", self.settings_path().display());
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    fn save_settings(&self, s: &Settings) -> CommandResult<()> {
        let path = self.settings_path();
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(s).map_err(|e| CommandError::internal(e.to_string()))?;
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| CommandError::internal(format!("could not save {}: {e}", path.display())))
    }

    /// Where a kept session for `server` lives.
    async fn session_store(&self, server: &str, keep: bool) -> CommandResult<Box<dyn SessionStore>> {
        if !keep {
            return Ok(Box::new(NoStore));
        }
        let keeper = self.inner.account.keeper.lock().clone();
        let server = server.to_owned();
        // The keyring answers over D-Bus (or the OS's own IPC): off the async threads.
        let opened = tokio::task::spawn_blocking(move || match keeper {
            Some(k) => k(&server),
            None => KeyringStore::open(&server).map(|s| Box::new(s) as Box<dyn SessionStore>),
        })
        .await?;
        opened.map_err(|e| match e {
            argus_client::Error::KeyringUnavailable(why) => CommandError::new(
                ErrorKind::SignIn,
                format!(
                    "this machine has no usable system keyring to keep you signed in ({why}); untick \"Keep me signed in\" to sign in for this session only"
                ),
            ),
            other => other.into(),
        })
    }

    fn conn(&self) -> Option<Arc<Conn>> {
        self.inner.account.conn.lock().clone()
    }

    /// The signed-in user's role in `project` as the server has it (the
    /// server decides what they may do; the local store knows no roles).
    /// `None`: signed out, not on the server, or no answer within 3 s.
    pub(crate) async fn server_role(&self, project: ProjectId) -> Option<argus_core::model::Role> {
        self.restore().await;
        let conn = self.conn()?;
        let api = Self::api(&conn).ok()?;
        let row = tokio::time::timeout(Duration::from_secs(3), api.get::<ProjectRow>(&format!("/api/v1/projects/{project}"))).await.ok()?.ok()?;
        row.role?.parse().ok()
    }

    /// The signed-in server (a kept session picked up first), or what to do.
    pub(crate) async fn signed_in(&self) -> CommandResult<Arc<Conn>> {
        self.restore().await;
        self.conn().ok_or_else(|| CommandError::new(ErrorKind::SignIn, "sign in to your team's server first (Team, then Sign in)"))
    }

    fn connect(auth: Arc<Auth>, server: String, user: &argus_client::User) -> CommandResult<Arc<Conn>> {
        let id: UserId = user.id.parse().map_err(|_| {
            CommandError::new(ErrorKind::Server, format!("{server} gave a user id that is not a UUID ({}); is it an argus-server or Supabase Auth?", user.id))
        })?;
        let refresher = auth.spawn_refresher();
        Ok(Arc::new(Conn { server, auth, user: id, refresher }))
    }

    /// Picks up the session kept at the last sign-in, once per run.
    async fn restore(&self) {
        let mut done = self.inner.account.restored.lock().await;
        if *done {
            return;
        }
        *done = true;
        let s = self.settings();
        let Some(server) = s.server.clone().filter(|_| s.keep) else { return };
        let picked = async {
            let store = self.session_store(&server, true).await?;
            let auth = Arc::new(Auth::new(&server, s.anon_key.clone(), store)?);
            match auth.user().await {
                Some(user) => Self::connect(auth, server.clone(), &user).map(Some),
                None => Ok(None),
            }
        }
        .await;
        match picked {
            Ok(Some(conn)) => {
                tracing::info!("signed in to {} (kept session)", conn.server);
                *self.inner.account.conn.lock() = Some(conn);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("the kept session for {server} could not be picked up: {}", e.message);
                *self.inner.account.problem.lock() = Some(format!("you are signed out: {}", e.message));
            }
        }
    }

    async fn account_info(&self) -> AccountInfo {
        let s = self.settings();
        let conn = self.conn();
        let user = match &conn {
            Some(c) => c.auth.user().await.map(|u| AccountUser { id: u.id, email: u.email }),
            None => None,
        };
        AccountInfo {
            server: s.server,
            anon_key: s.anon_key,
            kept: conn.filter(|_| user.is_some()).map(|c| c.auth.storage()),
            user,
            problem: self.inner.account.problem.lock().clone(),
        }
    }

    /// Who is signed in where (picking up a kept session on the first call).
    pub async fn account(&self) -> CommandResult<AccountInfo> {
        self.restore().await;
        Ok(self.account_info().await)
    }

    /// Signs in with e-mail and password; the session goes to the keyring
    /// when `keep`, else it lasts this run.
    pub async fn sign_in(&self, form: &SignInForm) -> CommandResult<AccountInfo> {
        self.restore().await;
        let server = normalise_server(&form.server)?;
        let email = form.email.trim();
        if email.is_empty() || !email.contains('@') {
            return Err(CommandError::invalid("give the e-mail address you signed up with"));
        }
        if form.password.is_empty() {
            return Err(CommandError::invalid("give your password"));
        }
        let anon_key = form.anon_key.as_deref().map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned);
        let store = self.session_store(&server, form.keep).await?;
        let auth = Arc::new(Auth::new(&server, anon_key.clone(), store)?);
        let user = auth.sign_in(email, &form.password).await.map_err(|e| match e {
            argus_client::Error::Http { status: 400 | 401 | 403 | 422, message, .. } => {
                CommandError::new(ErrorKind::SignIn, format!("{server} refused the sign-in: {message}"))
            }
            argus_client::Error::Http { status: 404, .. } => CommandError::new(
                ErrorKind::SignIn,
                format!("{server} has no sign-in at /auth/v1; is this the address of an argus-server or a Supabase project?"),
            ),
            other => other.into(),
        })?;
        let conn = Self::connect(auth, server.clone(), &user)?;
        self.stop_sync();
        *self.inner.account.conn.lock() = Some(conn);
        *self.inner.account.problem.lock() = None;
        self.save_settings(&Settings { server: Some(server.clone()), anon_key, keep: form.keep })?;
        tracing::info!("signed in to {server} as {}", user.email.as_deref().unwrap_or(&user.id));
        Ok(self.account_info().await)
    }

    /// Ends the session (on every device with `everywhere`) and forgets it
    /// here; the server's address stays for the next sign-in.
    pub async fn sign_out(&self, everywhere: bool) -> CommandResult<SignedOut> {
        self.restore().await;
        let conn = self.conn().ok_or_else(|| CommandError::new(ErrorKind::NothingToDo, "you are not signed in"))?;
        self.stop_sync();
        let told = conn.auth.sign_out(if everywhere { Scope::Global } else { Scope::Local }).await?;
        *self.inner.account.conn.lock() = None;
        let mut s = self.settings();
        s.keep = false;
        self.save_settings(&s)?;
        tracing::info!("signed out of {}{}", conn.server, if told { "" } else { " (the server could not be told)" });
        Ok(SignedOut { account: self.account_info().await, server_told: told })
    }

    pub(crate) fn api(conn: &Conn) -> CommandResult<Api> {
        Ok(Api::new(&conn.server, conn.auth.clone())?)
    }

    fn syncer(&self, conn: &Conn) -> CommandResult<Syncer> {
        Ok(Syncer::new(Self::api(conn)?, self.shared_store()).as_user(conn.user))
    }

    fn projects_client(&self, conn: &Conn) -> CommandResult<Projects> {
        Ok(Projects::new(Self::api(conn)?, self.shared_store(), self.syncer(conn)?))
    }

    /// The teams the signed-in user is in (where a project can be published).
    pub async fn teams(&self) -> CommandResult<Vec<TeamInfo>> {
        let conn = self.signed_in().await?;
        let rows: Vec<TeamRow> = Self::api(&conn)?.get("/api/v1/teams").await?;
        Ok(rows.into_iter().map(|t| TeamInfo { id: t.id, name: t.name, role: t.role }).collect())
    }

    /// The server's projects the signed-in user can see, with whether each
    /// is on this machine.
    pub async fn server_projects(&self) -> CommandResult<Vec<ServerProject>> {
        let conn = self.signed_in().await?;
        let api = Self::api(&conn)?;
        let teams: Vec<TeamRow> = api.get("/api/v1/teams").await?;
        let rows: Vec<ProjectRow> = api.get("/api/v1/projects").await?;
        let mut out = Vec::with_capacity(rows.len());
        for p in rows {
            let here = match p.id.parse::<ProjectId>() {
                Ok(id) => self.store().project(id).await.is_ok(),
                Err(_) => false,
            };
            let team = teams.iter().find(|t| t.id == p.team_id).map_or_else(|| "another team".to_owned(), |t| t.name.clone());
            out.push(ServerProject { id: p.id, name: p.name, team_id: p.team_id, team, role: p.role, here });
        }
        Ok(out)
    }

    /// Where a project's video files go when they come from the server.
    fn videos_dir(&self, project: ProjectId) -> PathBuf {
        self.data_dir().join("videos").join(project.to_string())
    }

    /// Puts a local project on the server in `team` (keeping its id), sends
    /// its schema and annotations, and uploads its video files unless
    /// `videos` is false; then keeps it in sync.
    pub async fn publish_project(
        &self,
        project_id: &str,
        team_id: &str,
        videos: bool,
        progress: impl Fn(RemoteProgress) + Send + Sync + 'static,
    ) -> CommandResult<Published> {
        let project: ProjectId = parse_id("project", project_id)?;
        let team = team_id.trim();
        if team.parse::<TeamId>().is_err() {
            return Err(CommandError::invalid("choose the team to publish the project to"));
        }
        let conn = self.signed_in().await?;
        self.store().project(project).await?;
        // One sync at a time per project: the push syncs it itself.
        self.stop_sync_of(project);
        let progress = throttled(progress);
        let client = self.projects_client(&conn)?.on_upload_progress(move |video, p| {
            let (stage, done, total) = match p {
                Progress::Hashing { done, total } => ("hashing", *done, *total),
                Progress::Sending { done, total, .. } => ("sending", *done, *total),
                Progress::Completing => ("completing", 1, 1),
            };
            progress(RemoteProgress { video: video.to_owned(), stage: stage.into(), done, total });
        });
        let pushed = if videos { client.push(team, project).await } else { client.push_annotations(team, project).await };
        let pushed = pushed.map_err(|e| match e {
            argus_client::Error::Http { status: 403, message, .. } => CommandError::new(
                ErrorKind::Server,
                format!("the server refused to publish the project into that team ({message}); a team owner or admin publishes projects"),
            ),
            other => other.into(),
        })?;
        self.ensure_sync(&conn, project);
        Ok(Published {
            created: pushed.created,
            pushed: pushed.sync.pushed,
            videos: pushed
                .videos
                .into_iter()
                .map(|v| PublishedVideo { id: v.id.to_string(), name: v.name, outcome: v.outcome.into(), reason: v.reason })
                .collect(),
            sync: self.sync_info(project, self.on_server(project).await?).await?,
        })
    }

    /// Brings a server project onto this machine (its schema, videos'
    /// records and annotations; with `videos`, every video's file too, else
    /// each when it is fetched) and keeps it in sync.
    pub async fn open_server_project(
        &self,
        project_id: &str,
        videos: bool,
        progress: impl Fn(RemoteProgress) + Send + Sync + 'static,
    ) -> CommandResult<ProjectSummary> {
        let project: ProjectId = parse_id("project", project_id)?;
        let conn = self.signed_in().await?;
        self.stop_sync_of(project);
        let client = self.projects_client(&conn)?;
        let cloned = client.clone_project(project, &Videos::None, &self.videos_dir(project)).await?;
        tracing::info!("opened server project {project}: {} change(s), {} video(s)", cloned.sync.pulled, cloned.videos.len());
        let progress = Arc::new(throttled(progress));
        if videos {
            for (id, state) in &cloned.videos {
                if matches!(state, RemoteState::Processing | RemoteState::Ready) {
                    let p = progress.clone();
                    self.fetch_with(&conn, *id, move |r| p(r)).await?;
                }
            }
        }
        self.ensure_sync(&conn, project);
        let p = self.store().project(project).await?;
        Ok(ProjectSummary::new(&p, &self.store().schema(project).await?))
    }

    /// Downloads a video's file from the server (resuming an interrupted
    /// download, checked against the video's SHA-256) into the data folder.
    pub async fn fetch_video(
        &self,
        video_id: &str,
        progress: impl Fn(RemoteProgress) + Send + Sync + 'static,
    ) -> CommandResult<VideoSummary> {
        let id: VideoId = parse_id("video", video_id)?;
        let conn = self.signed_in().await?;
        self.fetch_with(&conn, id, throttled(progress)).await?;
        Ok(VideoSummary::from(&self.store().video(id).await?))
    }

    async fn fetch_with(&self, conn: &Conn, id: VideoId, progress: impl Fn(RemoteProgress) + Send + Sync + 'static) -> CommandResult<PathBuf> {
        let v = self.store().video(id).await?;
        let name = v.name.clone();
        let client = self
            .projects_client(conn)?
            .on_fetch_progress(move |done, total| progress(RemoteProgress { video: name.clone(), stage: "downloading".into(), done, total }));
        let states = client.refresh_states(v.project_id).await?;
        match states.iter().find(|(vid, _)| *vid == id).map(|(_, s)| s) {
            Some(RemoteState::Processing | RemoteState::Ready) => {}
            Some(RemoteState::Uploading) => {
                return Err(CommandError::new(ErrorKind::Conflict, format!("'{}' is still being uploaded to the server; try again when it is done", v.name)));
            }
            Some(RemoteState::Failed { reason }) => {
                return Err(CommandError::new(ErrorKind::Server, format!("the server could not process '{}' ({reason}); whoever has the file publishes it again", v.name)));
            }
            _ => {
                return Err(CommandError::not_found(format!(
                    "'{}' was never uploaded to the server; whoever imported it publishes the project with its video files",
                    v.name
                )));
            }
        }
        Ok(client.fetch_video(id, &self.videos_dir(v.project_id)).await?)
    }

    /// Where the project's sync stands; starts its background sync when
    /// signed in and the project is on the server. `nudge` asks for a round
    /// now (after an edit) without waiting for it.
    pub async fn sync_status(&self, project_id: &str, nudge: bool) -> CommandResult<SyncInfo> {
        self.restore().await;
        let project: ProjectId = parse_id("project", project_id)?;
        self.store().project(project).await?;
        let on_server = self.on_server(project).await?;
        if on_server && let Some(conn) = self.conn() {
            self.ensure_sync(&conn, project);
            if nudge && let Some(ps) = self.inner.account.sync.lock().as_ref() {
                ps.bg.sync_now();
            }
        }
        self.sync_info(project, on_server).await
    }

    /// Runs a sync round for the project now and answers when it is done.
    pub async fn sync_now(&self, project_id: &str) -> CommandResult<SyncInfo> {
        let project: ProjectId = parse_id("project", project_id)?;
        let conn = self.signed_in().await?;
        self.store().project(project).await?;
        if !self.on_server(project).await? {
            return Err(CommandError::invalid("this project is not on a server yet: publish it to a team first"));
        }
        self.ensure_sync(&conn, project);
        let (mut rx, before) = {
            let guard = self.inner.account.sync.lock();
            let ps = guard.as_ref().ok_or_else(|| CommandError::internal("the project's sync stopped"))?;
            let rx = ps.bg.subscribe();
            let before = rx.borrow().rounds;
            ps.bg.sync_now();
            (rx, before)
        };
        // A round that was already running may miss the latest edits: wait for
        // one that leaves nothing pending, or for the next one.
        let waited = tokio::time::timeout(SYNC_WAIT, async {
            loop {
                if rx.changed().await.is_err() {
                    return;
                }
                let st = rx.borrow().clone();
                if st.rounds > before && (st.pending == 0 || st.last_error.is_some() || st.rounds > before + 1) {
                    return;
                }
            }
        })
        .await;
        let mut info = self.sync_info(project, true).await?;
        if waited.is_err() && info.last_error.is_none() {
            info.last_error = Some(format!("the sync did not finish within {} s; it goes on in the background", SYNC_WAIT.as_secs()));
        }
        Ok(info)
    }

    async fn on_server(&self, project: ProjectId) -> CommandResult<bool> {
        Ok(self.store().pull_cursor(project).await?.is_some())
    }

    fn ensure_sync(&self, conn: &Conn, project: ProjectId) {
        let mut slot = self.inner.account.sync.lock();
        if slot.as_ref().is_some_and(|ps| ps.project == project) {
            return;
        }
        match self.syncer(conn) {
            Ok(syncer) => *slot = Some(ProjectSync { project, bg: BackgroundSync::spawn(syncer, project, SYNC_INTERVAL) }),
            Err(e) => tracing::warn!("could not start syncing project {project}: {}", e.message),
        }
    }

    fn stop_sync(&self) {
        self.inner.account.sync.lock().take();
    }

    fn stop_sync_of(&self, project: ProjectId) {
        let mut slot = self.inner.account.sync.lock();
        if slot.as_ref().is_some_and(|ps| ps.project == project) {
            slot.take();
        }
    }

    async fn sync_info(&self, project: ProjectId, on_server: bool) -> CommandResult<SyncInfo> {
        let store = self.store();
        let status = self.inner.account.sync.lock().as_ref().filter(|ps| ps.project == project).map(|ps| ps.bg.status());
        let signed_in = match self.conn() {
            Some(c) => c.auth.user().await.is_some() && status.as_ref().is_none_or(|s| s.signed_in),
            None => false,
        };
        let refused = store.rejected_changes(project).await?;
        let st = status.clone().unwrap_or_default();
        Ok(SyncInfo {
            project_id: project.to_string(),
            on_server,
            signed_in,
            active: status.is_some(),
            online: st.online,
            pending: store.pending_count(project).await?,
            last_sync_ms: st.last_sync_ms.filter(|&t| t <= now_ms()),
            last_error: st.last_error,
            conflicts: store.conflicts(project).await?.len(),
            refused: refused.into_iter().take(REFUSED_SHOWN).map(|(_, why)| why).collect(),
        })
    }
}
