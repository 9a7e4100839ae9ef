//! Whole projects between a desktop and the server, for team leads and for
//! new machines.
//!
//! - [`Projects::push`]: puts a local project on the server (keeping its
//!   id), syncs its schema and annotations, then uploads each video file it
//!   has through the resumable [`Uploader`]. The server gives an uploaded
//!   file the id every desktop gives it (one video per project and
//!   content), so the file and the synced video record are one video.
//! - [`Projects::clone_project`]: brings a server project onto this machine:
//!   metadata and annotations first (a sync), each video's state on the
//!   server, then only the video files asked for ([`Videos`]): the
//!   annotations of the whole project always, files on demand.
//! - [`Projects::fetch_video`]: downloads one video's file through a
//!   presigned GET into a folder, resuming a partial download with a
//!   `Range` request, checks its SHA-256 against the video's, and records
//!   where it is (a local path, which never syncs).

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use argus_core::{
    id::{ProjectId, VideoId},
    model::{RemoteState, Video},
};
use argus_store::Store;
use serde_json::{Value, json};

use crate::{
    Api, Error, Result, SyncReport, Syncer, UploadOptions, Uploader,
    upload::{Presigned, RemoteVideo},
};

/// Which video files a clone downloads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Videos {
    /// None: each is fetched when it is opened or picked.
    #[default]
    None,
    All,
    Only(Vec<VideoId>),
}

/// What happened to one video of a pushed project.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VideoPushed {
    pub id: VideoId,
    pub name: String,
    /// uploaded, already_there or skipped.
    pub outcome: &'static str,
    /// Why it was skipped (its file is missing, the upload failed).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PushedProject {
    /// The project was created on the server by this push.
    pub created: bool,
    pub sync: SyncReport,
    pub videos: Vec<VideoPushed>,
}

#[derive(Debug, Clone, Default)]
pub struct ClonedProject {
    pub sync: SyncReport,
    /// The project's videos and their state on the server.
    pub videos: Vec<(VideoId, RemoteState)>,
    /// Files downloaded, with where they are.
    pub fetched: Vec<(VideoId, PathBuf)>,
}

/// Progress of a download: bytes held so far of the whole.
pub type FetchProgress = Arc<dyn Fn(u64, u64) + Send + Sync>;

pub struct Projects {
    api: Api,
    store: Arc<Store>,
    syncer: Syncer,
    upload: UploadOptions,
    progress: FetchProgress,
    upload_progress: UploadProgress,
}

/// Progress of a pushed video's upload: its name and the uploader's step.
pub type UploadProgress = Arc<dyn Fn(&str, &crate::Progress) + Send + Sync>;

impl std::fmt::Debug for Projects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projects").field("server", &self.api.base()).finish_non_exhaustive()
    }
}

impl Projects {
    pub fn new(api: Api, store: Arc<Store>, syncer: Syncer) -> Self {
        Self { api, store, syncer, upload: UploadOptions::default(), progress: Arc::new(|_, _| {}), upload_progress: Arc::new(|_, _| {}) }
    }

    /// Tells `f` how each video file of a push goes up (its name, the step).
    pub fn on_upload_progress(mut self, f: impl Fn(&str, &crate::Progress) + Send + Sync + 'static) -> Self {
        self.upload_progress = Arc::new(f);
        self
    }

    pub fn upload_options(mut self, o: UploadOptions) -> Self {
        self.upload = o;
        self
    }

    pub fn on_fetch_progress(mut self, f: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        self.progress = Arc::new(f);
        self
    }

    /// Puts `project` on the server in `team` (or finds it there from an
    /// earlier push), syncs it, and uploads its video files.
    pub async fn push(&self, team: &str, project: ProjectId) -> Result<PushedProject> {
        self.push_with(team, project, true).await
    }

    /// [`Projects::push`] without the video files: schema and annotations.
    pub async fn push_annotations(&self, team: &str, project: ProjectId) -> Result<PushedProject> {
        self.push_with(team, project, false).await
    }

    async fn push_with(&self, team: &str, project: ProjectId, files: bool) -> Result<PushedProject> {
        let local = self.store.project(project).await?;
        let schema = self.store.schema(project).await?;
        let body = json!({"id": local.id, "name": local.name, "description": local.description, "label_schema": {"labels": schema.labels()}});
        let created = match self.api.post::<Value>(&format!("/api/v1/teams/{team}/projects"), &body).await {
            Ok(_) => true,
            // Pushed before: what is new goes through sync.
            Err(Error::Http { status: 409, .. }) => false,
            Err(e) => return Err(e),
        };
        let sync = self.syncer.sync(project).await?;
        let mut videos = Vec::new();
        for v in self.store.videos(project).await?.into_iter().filter(|_| files) {
            videos.push(self.push_video(project, &v).await?);
        }
        Ok(PushedProject { created, sync, videos })
    }

    async fn push_video(&self, project: ProjectId, v: &Video) -> Result<VideoPushed> {
        let skipped = |reason: String| VideoPushed { id: v.id, name: v.name.clone(), outcome: "skipped", reason: Some(reason) };
        if matches!(v.remote, RemoteState::Processing | RemoteState::Ready) {
            return Ok(VideoPushed { id: v.id, name: v.name.clone(), outcome: "already_there", reason: None });
        }
        let Some(path) = v.local_path.as_deref().map(PathBuf::from).filter(|p| p.is_file()) else {
            return Ok(skipped("its file is not on this machine; relink it, then push again".into()));
        };
        let (report, name) = (self.upload_progress.clone(), v.name.clone());
        let uploader = Uploader::new(self.api.clone(), self.store.clone(), self.upload.clone()).on_progress(move |p| report(&name, p));
        match uploader.upload(&project.to_string(), &path).await {
            Ok(out) => {
                if out.video.id != v.id.to_string() {
                    // The file changed since it was imported: it is another video now.
                    return Ok(skipped(format!(
                        "{} no longer holds the content this video was made from; its upload is video {}",
                        path.display(),
                        out.video.id
                    )));
                }
                self.store.set_video_remote(v.id, &out.video.state()?).await?;
                let outcome = if out.parts_sent == 0 && !out.resumed { "already_there" } else { "uploaded" };
                Ok(VideoPushed { id: v.id, name: v.name.clone(), outcome, reason: None })
            }
            // What stops every upload stops the push; a problem with one file does not.
            Err(e @ (Error::Network { .. } | Error::Unauthorized { .. } | Error::SignInRequired { .. } | Error::Cancelled | Error::Store(_))) => Err(e),
            Err(e) => Ok(skipped(e.to_string())),
        }
    }

    /// Brings `project` onto this machine: its annotations, its videos'
    /// state on the server, and the files `videos` asks for, into `dir`.
    pub async fn clone_project(&self, project: ProjectId, videos: &Videos, dir: &Path) -> Result<ClonedProject> {
        let sync = self.syncer.sync(project).await?;
        if self.store.project(project).await.is_err() {
            return Err(Error::Invalid(format!("the server has no synced data for project {project} yet; its lead pushes it first")));
        }
        let states = self.refresh_states(project).await?;
        let mut fetched = Vec::new();
        let wanted: Vec<VideoId> = match videos {
            Videos::None => Vec::new(),
            Videos::All => states.iter().filter(|(_, s)| matches!(s, RemoteState::Processing | RemoteState::Ready)).map(|(id, _)| *id).collect(),
            Videos::Only(ids) => ids.clone(),
        };
        for id in wanted {
            fetched.push((id, self.fetch_video(id, dir).await?));
        }
        Ok(ClonedProject { sync, videos: states, fetched })
    }

    /// Records each of the project's videos' state on the server (a video
    /// the server has no file for stays `local`).
    pub async fn refresh_states(&self, project: ProjectId) -> Result<Vec<(VideoId, RemoteState)>> {
        let listed: Vec<RemoteVideo> = self.api.get(&format!("/api/v1/projects/{project}/videos")).await?;
        let mut out = Vec::new();
        for v in self.store.videos(project).await? {
            let state = match listed.iter().find(|r| r.id == v.id.to_string()) {
                Some(r) => r.state()?,
                None => RemoteState::Local,
            };
            if state != v.remote {
                self.store.set_video_remote(v.id, &state).await?;
            }
            out.push((v.id, state));
        }
        Ok(out)
    }

    /// Downloads `video`'s file into `dir` (resuming what an earlier,
    /// interrupted download left), checks its SHA-256, and records its local
    /// path. A video whose file is already here is left as it is.
    pub async fn fetch_video(&self, video: VideoId, dir: &Path) -> Result<PathBuf> {
        let v = self.store.video(video).await?;
        if let Some(p) = v.local_path.as_deref().map(PathBuf::from).filter(|p| p.is_file()) {
            return Ok(p);
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
        let partial = dir.join(format!(".{video}.part"));
        let size: u64 = self.api.get::<RemoteVideo>(&format!("/api/v1/videos/{video}")).await?.size_bytes;
        let mut attempt = 0u32;
        loop {
            let held = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
            if held >= size {
                break;
            }
            match self.download(video, &partial, held, size).await {
                Ok(()) => break,
                Err(e) if e.is_transient() && attempt + 1 < self.upload.attempts => {
                    tracing::debug!(%video, error = %e, attempt, "download interrupted; resuming");
                    tokio::time::sleep(crate::upload::backoff(&self.upload, attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        let (p, want) = (partial.clone(), v.sha256.to_ascii_lowercase());
        let got = tokio::task::spawn_blocking(move || crate::upload::sha256_file(&p, &|_, _| {}))
            .await
            .map_err(|e| Error::Invalid(format!("checking the download stopped: {e}")))??;
        if got != want {
            let _ = std::fs::remove_file(&partial);
            return Err(Error::Invalid(format!(
                "the downloaded file of video {video} has SHA-256 {got}, not the video's {want}; it was removed, fetch it again"
            )));
        }
        let dest = free_name(dir, &v.name, video);
        std::fs::rename(&partial, &dest).map_err(|e| Error::file(&dest, e))?;
        let shown = dest.to_string_lossy().into_owned();
        self.store.set_video_local_path(video, Some(&shown)).await?;
        Ok(dest)
    }

    /// One GET of the rest of the file, from `held` bytes on, appended to
    /// `partial`.
    async fn download(&self, video: VideoId, partial: &Path, held: u64, size: u64) -> Result<()> {
        let req: Presigned = self.api.get(&format!("/api/v1/videos/{video}/download")).await?;
        let mut r = self.api.http().get(&req.url);
        for (k, v) in &req.headers {
            r = r.header(k, v);
        }
        if held > 0 {
            r = r.header(reqwest::header::RANGE, format!("bytes={held}-"));
        }
        let mut resp = r.send().await.map_err(|e| crate::api::network(&req.url, &e))?;
        let status = resp.status().as_u16();
        let append = match status {
            206 => true,
            200 => false,
            _ => {
                let body = resp.bytes().await.unwrap_or_default();
                let path = req.url.split('?').next().unwrap_or_default().to_owned();
                return Err(crate::api::http_error("GET", &path, status, &body));
            }
        };
        let mut file =
            std::fs::OpenOptions::new().create(true).write(true).append(append).truncate(!append).open(partial).map_err(|e| Error::file(partial, e))?;
        let mut done = if append { held } else { 0 };
        (self.progress)(done, size);
        while let Some(chunk) = resp.chunk().await.map_err(|e| crate::api::network(&req.url, &e))? {
            file.write_all(&chunk).map_err(|e| Error::file(partial, e))?;
            done += chunk.len() as u64;
            (self.progress)(done.min(size), size);
        }
        file.sync_all().map_err(|e| Error::file(partial, e))?;
        if done < size {
            return Err(Error::Network {
                url: req.url.split('?').next().unwrap_or_default().to_owned(),
                reason: format!("the download stopped at {done} of {size} bytes"),
            });
        }
        Ok(())
    }
}

/// `dir/name`, or `dir/<id>-name` when another file holds that name.
fn free_name(dir: &Path, name: &str, video: VideoId) -> PathBuf {
    let clean: String = name.chars().map(|c| if matches!(c, '/' | '\\' | '\0') { '_' } else { c }).collect();
    let clean = if clean.trim().is_empty() || clean.starts_with('.') { format!("video-{clean}") } else { clean };
    let first = dir.join(&clean);
    if !first.exists() {
        return first;
    }
    dir.join(format!("{video}-{clean}"))
}
