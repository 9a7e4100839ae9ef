//! Commands that talk to an argus-server (argus-client does the work).

use std::{path::PathBuf, sync::Arc};

use anyhow::{Result, anyhow};
use argus_client::{Api, Progress, StaticToken, UploadOptions, Uploader};
use argus_store::Store;
use serde_json::json;

use crate::output::Out;

/// Where the server is and who we are there.
#[derive(Debug, clap::Args)]
pub struct Remote {
    /// The server's base URL, e.g. https://argus.example.com.
    #[arg(long, env = "ARGUS_SERVER")]
    pub server: String,
    /// An access token for the server (until `login` keeps a session).
    #[arg(long, env = "ARGUS_TOKEN", hide_env_values = true)]
    pub token: String,
}

impl Remote {
    fn api(&self) -> Result<Api> {
        Ok(Api::new(&self.server, Arc::new(StaticToken(Some(self.token.clone()))))?)
    }
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
