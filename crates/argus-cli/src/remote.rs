//! Commands that talk to an argus-server (argus-client does the work).

use std::{path::PathBuf, sync::Arc};

use anyhow::{Result, anyhow};
use argus_client::{
    Api, Auth, EncryptedFileStore, KeyringStore, NoStore, Progress, Projects, Scope, SessionStore, StaticToken, SyncReport, Syncer, UploadOptions, Uploader,
    Videos,
};
use argus_core::id::{ProjectId, VideoId};
use argus_store::Store;
use serde_json::json;

use crate::output::Out;

/// Where the server is and who we are there.
#[derive(Debug, clap::Args)]
pub struct Remote {
    /// The server's base URL, e.g. https://argus.example.com.
    #[arg(long, env = "ARGUS_SERVER")]
    pub server: String,
    /// An access token to use instead of the signed-in session (a service
    /// key, or a session managed elsewhere).
    #[arg(long, env = "ARGUS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The project's public (anon) key, where the server sits behind a
    /// gateway that asks for one (Supabase).
    #[arg(long, env = "ARGUS_ANON_KEY", hide_env_values = true)]
    pub anon_key: Option<String>,
    /// Keep the session in this file, encrypted with the passphrase in
    /// $ARGUS_SESSION_PASSPHRASE, instead of the system keyring.
    #[arg(long, env = "ARGUS_SESSION_FILE")]
    pub session_file: Option<PathBuf>,
    /// Keep no session: sign in for this command only.
    #[arg(long)]
    pub no_session_store: bool,
}

impl Remote {
    fn session_store(&self) -> Result<Box<dyn SessionStore>> {
        if self.no_session_store {
            return Ok(Box::new(NoStore));
        }
        if let Some(path) = &self.session_file {
            let pass = std::env::var("ARGUS_SESSION_PASSPHRASE")
                .map_err(|_| anyhow!("--session-file needs the passphrase in ARGUS_SESSION_PASSPHRASE (8 characters or more)"))?;
            return Ok(Box::new(EncryptedFileStore::new(path, &pass)?));
        }
        Ok(Box::new(KeyringStore::open(&self.server)?))
    }

    pub(crate) fn auth(&self) -> Result<Arc<Auth>> {
        Ok(Arc::new(Auth::new(&self.server, self.anon_key.clone(), self.session_store()?)?))
    }

    /// A syncer for `store`: as the signed-in user, whose id replaces this
    /// machine's local user in what is pushed.
    async fn syncer(&self, store: Arc<Store>) -> Result<Syncer> {
        if self.token.is_some() {
            return Ok(Syncer::new(self.api()?, store));
        }
        let auth = self.auth()?;
        let user = auth.user().await.ok_or_else(|| anyhow!("not signed in to {}: run `argus-cli login` first", self.server))?;
        let id: argus_core::id::UserId = user.id.parse().map_err(|_| anyhow!("the server gave a user id that is not a UUID"))?;
        Ok(Syncer::new(Api::new(&self.server, auth)?, store).as_user(id))
    }

    /// Whole-project operations as the signed-in user.
    async fn projects(&self, store: Arc<Store>) -> Result<Projects> {
        let syncer = self.syncer(store.clone()).await?;
        Ok(Projects::new(self.api()?, store, syncer))
    }

    fn api(&self) -> Result<Api> {
        match &self.token {
            Some(t) => Ok(Api::new(&self.server, Arc::new(StaticToken(Some(t.clone()))))?),
            None => Ok(Api::new(&self.server, self.auth()?)?),
        }
    }
}

/// `login`: signs in with e-mail and password (the password from
/// $ARGUS_PASSWORD, else the first line of standard input).
pub async fn login(out: Out, remote: &Remote, email: &str) -> Result<()> {
    let password = match std::env::var("ARGUS_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let auth = remote.auth()?;
    let user = auth.sign_in(email, &password).await?;
    out.one(&json!({"event": "signed_in", "user": user.id, "email": user.email, "session": auth.storage()}), || {
        format!("signed in as {} ({}); the session is kept {}", user.email.clone().unwrap_or_default(), user.id, auth.storage())
    })
}

/// `logout`: ends the session on the server and forgets it here.
pub async fn logout(out: Out, remote: &Remote, everywhere: bool) -> Result<()> {
    let auth = remote.auth()?;
    let told = auth.sign_out(if everywhere { Scope::Global } else { Scope::Local }).await?;
    out.one(&json!({"event": "signed_out", "server_told": told}), || {
        if told { "signed out".into() } else { "signed out here; the server could not be reached, so the session ends when it expires".into() }
    })
}

fn report_json(r: &SyncReport) -> serde_json::Value {
    json!({"event": "synced", "pushed": r.pushed, "duplicates": r.duplicates, "stale": r.stale,
           "refused": r.refused.iter().map(|(id, why)| json!({"change": id, "reason": why})).collect::<Vec<_>>(),
           "pulled": r.pulled, "conflicts": r.conflicts,
           "skipped": r.skipped.iter().map(|(id, why)| json!({"change": id, "reason": why})).collect::<Vec<_>>()})
}

/// `sync`: pushes the project's pending changes and pulls everyone else's.
pub async fn sync(store: Arc<Store>, out: Out, remote: &Remote, project: &str, batch: u32, page: u32) -> Result<()> {
    let project: ProjectId = project.parse().map_err(|_| anyhow!("--project must be the project's id (a UUID)"))?;
    if !(1..=5000).contains(&batch) || !(1..=5000).contains(&page) {
        return Err(anyhow!("--batch and --page must be between 1 and 5000"));
    }
    let mut syncer = remote.syncer(store).await?;
    syncer.batch = batch;
    syncer.page = page;
    let r = syncer.sync(project).await?;
    out.one(&report_json(&r), || {
        format!(
            "synced: {} change(s) sent, {} received, {} conflict(s), {} refused{}",
            r.pushed,
            r.pulled,
            r.conflicts,
            r.refused.len(),
            r.refused.iter().map(|(_, why)| format!("\n  refused: {why}")).collect::<String>()
        )
    })
}

/// `push`: puts a local project on the server (in `team`, keeping its id),
/// syncs it, and uploads its video files unless `videos` is false.
pub async fn push(store: Arc<Store>, out: Out, remote: &Remote, team: &str, project: &str, videos: bool) -> Result<()> {
    let local = store.find_project(project).await?;
    let projects = remote.projects(store.clone()).await?;
    let done = if videos { projects.push(team, local.id).await? } else { projects.push_annotations(team, local.id).await? };
    let skipped: Vec<String> =
        done.videos.iter().filter(|v| v.outcome == "skipped").map(|v| format!("{}: {}", v.name, v.reason.as_deref().unwrap_or(""))).collect();
    let mut j = report_json(&done.sync);
    j["created"] = json!(done.created);
    j["videos"] = json!(done.videos);
    out.one(&j, || {
        let uploaded = done.videos.iter().filter(|v| v.outcome == "uploaded").count();
        let mut s = format!("pushed '{}' ({}): {} change(s) sent, {uploaded} video file(s) uploaded", local.name, local.id, done.sync.pushed);
        if !skipped.is_empty() {
            s.push_str(&format!("; not uploaded: {}", skipped.join("; ")));
        }
        s
    })
}

/// `clone`: brings a server project onto this machine: its annotations,
/// and the video files `videos` names (none, all, or ids) into `dir`.
pub async fn clone(store: Arc<Store>, out: Out, remote: &Remote, project: &str, videos: &str, dir: &std::path::Path) -> Result<()> {
    let id: ProjectId = project.parse().map_err(|_| anyhow!("--project must be the project's id (a UUID)"))?;
    let wanted = match videos.trim() {
        "none" | "" => Videos::None,
        "all" => Videos::All,
        list => Videos::Only(
            list.split(',')
                .map(|v| v.trim().parse().map_err(|_| anyhow!("--videos: {v:?} is not a video id; give none, all, or ids separated by commas")))
                .collect::<Result<_>>()?,
        ),
    };
    let done = remote.projects(store.clone()).await?.clone_project(id, &wanted, dir).await?;
    let local = store.project(id).await?;
    let mut j = report_json(&done.sync);
    j["videos"] = json!(done.videos.iter().map(|(v, s)| json!({"id": v, "server": s.status()})).collect::<Vec<_>>());
    j["fetched"] = json!(done.fetched.iter().map(|(v, p)| json!({"id": v, "path": p})).collect::<Vec<_>>());
    out.one(&j, || {
        format!(
            "cloned '{}' ({}): {} change(s), {} video(s), {} file(s) downloaded{}",
            local.name,
            local.id,
            done.sync.pulled,
            done.videos.len(),
            done.fetched.len(),
            if done.fetched.len() < done.videos.len() { "; `argus-cli fetch --video ID` downloads the others" } else { "" }
        )
    })
}

/// `fetch`: downloads a video's file into `dir` and links it.
pub async fn fetch(store: Arc<Store>, out: Out, remote: &Remote, video: &str, dir: &std::path::Path) -> Result<()> {
    let id: VideoId = video.parse().map_err(|_| anyhow!("--video must be the video's id (a UUID)"))?;
    let v = store.video(id).await?;
    let print = progress_printer(out.json);
    let projects = remote.projects(store.clone()).await?.on_fetch_progress(move |done, total| print("downloading", done, total));
    projects.refresh_states(v.project_id).await?;
    let path = projects.fetch_video(id, dir).await?;
    out.one(&json!({"video": id, "path": path}), || format!("'{}' is at {}", v.name, path.display()))
}

/// `upload`: sends a video file to a server project, resuming an earlier,
/// interrupted upload of the same file.
pub async fn upload(store: Arc<Store>, out: Out, remote: &Remote, project: &str, path: PathBuf, concurrency: usize) -> Result<()> {
    if !(1..=64).contains(&concurrency) {
        return Err(anyhow!("--concurrency must be between 1 and 64"));
    }
    let opts = UploadOptions { concurrency, ..UploadOptions::default() };
    let json = out.json;
    let print = progress_printer(false);
    let uploader = Uploader::new(remote.api()?, store, opts).on_progress(move |p| {
        if json {
            let line = match p {
                Progress::Hashing { done, total } => json!({"event": "hashing", "done": done, "total": total}),
                Progress::Sending { done, total, parts_done, parts_total } => {
                    json!({"event": "sending", "done": done, "total": total, "parts_done": parts_done, "parts_total": parts_total})
                }
                Progress::Completing => json!({"event": "completing"}),
            };
            println!("{line}");
            return;
        }
        let (what, done, total) = match p {
            Progress::Hashing { done, total } => ("hashing", *done, *total),
            Progress::Sending { done, total, .. } => ("sending", *done, *total),
            Progress::Completing => ("completing", 1, 1),
        };
        print(what, done, total);
    });
    let done = uploader.upload(project, &path).await?;
    out.one(
        &json!({"event": "done", "video": done.video, "resumed": done.resumed, "restarted": done.restarted,
                "parts_sent": done.parts_sent, "parts_reused": done.parts_reused, "bytes_sent": done.bytes_sent}),
        || {
            format!(
                "uploaded '{}' as video {} ({}): {} part(s) sent, {} already there{}",
                done.video.name,
                done.video.id,
                done.video.status,
                done.parts_sent,
                done.parts_reused,
                if done.restarted { "; the file had changed, so the earlier upload was replaced" } else { "" }
            )
        },
    )
}

/// Shows progress when its percentage moves: a JSON line per step with
/// `json`, else "what N%" on standard error.
fn progress_printer(json: bool) -> impl Fn(&str, u64, u64) + Send + Sync + 'static {
    let last = parking_lot::Mutex::new((String::new(), u64::MAX));
    move |what, done, total| {
        let pct = done * 100 / total.max(1);
        let mut l = last.lock();
        if l.0 == what && l.1 == pct {
            return;
        }
        *l = (what.to_owned(), pct);
        if json {
            println!("{}", json!({"event": what, "done": done, "total": total}));
        } else {
            eprintln!("{what} {pct}%");
        }
    }
}
