//! Commands that talk to an argus-server (argus-client does the work).

use std::{path::PathBuf, sync::Arc};

use anyhow::{Result, anyhow};
use argus_client::{Api, Auth, EncryptedFileStore, KeyringStore, NoStore, Progress, Scope, SessionStore, StaticToken, SyncReport, Syncer, UploadOptions, Uploader};
use argus_core::id::ProjectId;
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
/// then syncs it.
pub async fn push(store: Arc<Store>, out: Out, remote: &Remote, team: &str, project: &str) -> Result<()> {
    let local = store.find_project(project).await?;
    let schema = store.schema(local.id).await?;
    let api = remote.api()?;
    let body = json!({"id": local.id, "name": local.name, "description": local.description, "label_schema": {"labels": schema.labels()}});
    match api.post::<serde_json::Value>(&format!("/api/v1/teams/{team}/projects"), &body).await {
        Ok(_) => {}
        // Pushed before: just sync.
        Err(argus_client::Error::Http { status: 409, .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let r = remote.syncer(store).await?.sync(local.id).await?;
    out.one(&report_json(&r), || format!("pushed '{}' ({}): {} change(s) sent", local.name, local.id, r.pushed))
}

/// `clone`: brings a server project onto this machine (its annotations;
/// videos come on demand).
pub async fn clone(store: Arc<Store>, out: Out, remote: &Remote, project: &str) -> Result<()> {
    let id: ProjectId = project.parse().map_err(|_| anyhow!("--project must be the project's id (a UUID)"))?;
    let r = remote.syncer(store.clone()).await?.sync(id).await?;
    let local = store.find_project(&id.to_string()).await.map_err(|_| anyhow!("the server has no synced data for project {id} yet; its lead pushes it first"))?;
    out.one(&report_json(&r), || format!("cloned '{}' ({}): {} change(s)", local.name, local.id, r.pulled))
}

/// `upload`: sends a video file to a server project, resuming an earlier,
/// interrupted upload of the same file.
pub async fn upload(store: Arc<Store>, out: Out, remote: &Remote, project: &str, path: PathBuf, concurrency: usize) -> Result<()> {
    if !(1..=64).contains(&concurrency) {
        return Err(anyhow!("--concurrency must be between 1 and 64"));
    }
    let opts = UploadOptions { concurrency, ..UploadOptions::default() };
    let json = out.json;
    let last_pct = parking_lot::Mutex::new(u64::MAX);
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
        let pct = done * 100 / total.max(1);
        let mut last = last_pct.lock();
        if *last != pct {
            *last = pct;
            eprintln!("{what} {pct}%");
        }
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
