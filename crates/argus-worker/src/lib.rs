//! argus-worker: processes uploaded videos for argus-server.
//!
//! A worker is stateless: it takes a job from the server's durable queue
//! (`POST /api/v1/worker/jobs/claim` with a service-role key), reads the
//! upload through the presigned GET the server hands out (a download to a
//! temporary file, hashing as it goes), verifies the sha256 the client
//! announced, probes and indexes the file with argus-media, writes a poster
//! and a timeline strip (PNG) through presigned PUTs, and reports the result.
//! A corrupt or non-video file ends the job `failed` with the reason at once;
//! a network failure is retried by the queue with backoff. Several workers on
//! one server share the queue; the server hands each job to one of them at a
//! time (`FOR UPDATE SKIP LOCKED`), and a worker that dies loses its lease.
//!
//! It lives in a crate of its own so that argus-server never links FFmpeg.

use std::{
    io::{Read, Write},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use argus_media::{OutputSize, SourceOptions, StripSpacing, VideoSource};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Why a job could not be done. `Permanent` failures (the file itself is
/// wrong) end the video; the others may succeed on another attempt.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Permanent(String),
    #[error("{0}")]
    Transient(String),
}

/// Talking to argus-server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("argus-server at {url} could not be reached: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("argus-server refused {what}: HTTP {status}: {body}")]
    Refused { what: String, status: u16, body: String },
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The server's base URL, e.g. `http://127.0.0.1:54321`.
    pub server: String,
    /// A service-role key (`argus-server keys api --role service_role`).
    pub key: String,
    /// This worker's name on the jobs it holds.
    pub name: String,
    /// How long a job stays ours without a heartbeat.
    pub lease: Duration,
    /// Where downloads go while they are processed.
    pub scratch: std::path::PathBuf,
}

/// What one turn of the loop did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The queue had nothing ready.
    Idle,
    Done { job: i64, video: String },
    Failed { job: i64, video: String, reason: String, retry: bool },
}

#[derive(Debug, Clone)]
pub struct Worker {
    cfg: WorkerConfig,
    agent: ureq::Agent,
}

impl Worker {
    pub fn new(cfg: WorkerConfig) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Self { cfg, agent }
    }

    fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), Error> {
        let url = format!("{}/api/v1{path}", self.cfg.server.trim_end_matches('/'));
        let mut resp = self
            .agent
            .post(&url)
            .header("authorization", &format!("Bearer {}", self.cfg.key))
            .send_json(body)
            .map_err(|e| Error::Unreachable { url: url.clone(), detail: e.to_string() })?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 400 {
            return Err(Error::Refused { what: path.to_owned(), status, body: text.chars().take(500).collect() });
        }
        Ok((status, v))
    }

    /// Takes one job, if any is ready, and does it.
    pub fn run_once(&self) -> Result<Outcome, Error> {
        let (status, claimed) =
            self.post("/worker/jobs/claim", &json!({"worker": self.cfg.name, "lease_seconds": self.cfg.lease.as_secs()}))?;
        if status == 204 {
            return Ok(Outcome::Idle);
        }
        let job = claimed["job"]["id"].as_i64().unwrap_or(-1);
        let video = claimed["video"]["id"].as_str().unwrap_or_default().to_owned();
        tracing::info!(job, %video, "processing");

        // Keep the lease while we work.
        let stop = Arc::new(AtomicBool::new(false));
        let beat = {
            let (me, stop) = (self.clone(), stop.clone());
            let every = (self.cfg.lease / 3).max(Duration::from_secs(1));
            std::thread::spawn(move || {
                let mut waited = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    waited += Duration::from_millis(200);
                    if waited >= every {
                        waited = Duration::ZERO;
                        let body = json!({"worker": me.cfg.name, "lease_seconds": me.cfg.lease.as_secs()});
                        if let Err(e) = me.post(&format!("/worker/jobs/{job}/heartbeat"), &body) {
                            tracing::warn!(job, error = %e, "heartbeat failed");
                        }
                    }
                }
            })
        };
        let result = self.process(&claimed);
        stop.store(true, Ordering::Relaxed);
        let _ = beat.join();

        match result {
            Ok(probe) => {
                self.post(&format!("/worker/jobs/{job}/complete"), &json!({"worker": self.cfg.name, "probe": probe}))?;
                tracing::info!(job, %video, "done");
                Ok(Outcome::Done { job, video })
            }
            Err(e) => {
                let retry = matches!(e, JobError::Transient(_));
                let reason = e.to_string();
                tracing::warn!(job, %video, %reason, retry, "failed");
                self.post(&format!("/worker/jobs/{job}/fail"), &json!({"worker": self.cfg.name, "reason": reason, "retry": retry}))?;
                Ok(Outcome::Failed { job, video, reason, retry })
            }
        }
    }

    fn process(&self, claimed: &Value) -> Result<Value, JobError> {
        let url = claimed["source"]["url"].as_str().ok_or_else(|| JobError::Transient("the claim has no source URL".into()))?;
        let want = claimed["video"]["sha256"].as_str().unwrap_or_default().to_owned();
        let size = claimed["video"]["size_bytes"].as_u64().unwrap_or(0);
        let name = claimed["video"]["name"].as_str().unwrap_or("video");
        let ext = Path::new(name).extension().and_then(|e| e.to_str()).filter(|e| e.len() <= 8).unwrap_or("bin");
        std::fs::create_dir_all(&self.cfg.scratch).map_err(|e| JobError::Transient(format!("scratch directory: {e}")))?;
        let tmp = tempfile::Builder::new()
            .suffix(&format!(".{ext}"))
            .tempfile_in(&self.cfg.scratch)
            .map_err(|e| JobError::Transient(format!("scratch file: {e}")))?;
        let got = self.download(url, tmp.path(), size)?;
        if got != want {
            return Err(JobError::Permanent(format!(
                "the uploaded file's sha256 is {got}, but {want} was announced: the upload is corrupt; upload it again"
            )));
        }
        let out = probe_and_render(tmp.path())?;
        for (slot, bytes) in [("poster", &out.poster_png), ("strip", &out.strip_png)] {
            let p = &claimed["outputs"][slot];
            self.put(p, bytes).map_err(|e| JobError::Transient(format!("writing the {slot}: {e}")))?;
        }
        Ok(out.probe)
    }

    /// Streams the object to `path`, hashing as it goes; returns the sha256.
    fn download(&self, url: &str, path: &Path, expected: u64) -> Result<String, JobError> {
        let mut resp = self.agent.get(url).call().map_err(|e| JobError::Transient(format!("reading the upload: {e}")))?;
        if resp.status().as_u16() != 200 {
            return Err(JobError::Transient(format!("reading the upload: HTTP {}", resp.status())));
        }
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        let mut file = std::fs::File::create(path).map_err(|e| JobError::Transient(format!("scratch file: {e}")))?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(|e| JobError::Transient(format!("reading the upload: {e}")))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(|e| JobError::Transient(format!("scratch file: {e}")))?;
            total += n as u64;
        }
        if expected != 0 && total != expected {
            return Err(JobError::Transient(format!("read {total} of {expected} bytes of the upload")));
        }
        Ok(hex::encode(hash.finalize()))
    }

    fn put(&self, p: &Value, bytes: &[u8]) -> Result<(), String> {
        let url = p["url"].as_str().ok_or("no URL")?;
        let mut req = self.agent.put(url);
        if let Some(h) = p["headers"].as_object() {
            for (k, v) in h {
                req = req.header(k, v.as_str().unwrap_or_default());
            }
        }
        let resp = req.send(bytes).map_err(|e| e.to_string())?;
        if resp.status().is_success() { Ok(()) } else { Err(format!("HTTP {}", resp.status())) }
    }
}

/// What processing a file gives.
#[derive(Debug)]
pub struct Rendered {
    pub probe: Value,
    pub poster_png: Vec<u8>,
    pub strip_png: Vec<u8>,
}

/// Probes and indexes a file with argus-media, and renders its poster and a
/// 10-frame timeline strip. Anything wrong with the file is `Permanent`.
pub fn probe_and_render(path: &Path) -> Result<Rendered, JobError> {
    let bad = |e: argus_media::Error| JobError::Permanent(format!("not a usable video: {e}"));
    let described = argus_media::describe_video(argus_core::id::ProjectId::new(), path, None, argus_core::model::Timestamp(0)).map_err(bad)?;
    let info = argus_media::probe(path).map_err(bad)?;
    let v = described.video;
    let mut source = VideoSource::open(path, SourceOptions::default()).map_err(bad)?;
    let keyframes = source.index().keyframes.len();
    let poster = source.poster(OutputSize::Fit { max_width: 640, max_height: 360 }).map_err(bad)?;
    let strip = source.timeline_strip(10, StripSpacing::Even, OutputSize::Fit { max_width: 160, max_height: 90 }).map_err(bad)?;
    let codec = info.video.as_ref().map(|s| s.codec.clone()).unwrap_or_default();
    let probe = json!({
        "width": v.width,
        "height": v.height,
        "frame_count": v.frame_count,
        "frame_rate": [v.frame_rate.num(), v.frame_rate.den()],
        "rotation": v.rotation.degrees(),
        "codec": codec,
        "keyframes": keyframes,
        "duration_seconds": v.frame_count as f64 * v.frame_rate.den() as f64 / v.frame_rate.num().max(1) as f64,
        "damage": described.damage.map(|d| format!("{d:?}")),
    });
    Ok(Rendered { probe, poster_png: png_of(&[poster])?, strip_png: png_of(&strip)? })
}

/// Frames side by side as one RGBA PNG.
fn png_of(frames: &[argus_media::Frame]) -> Result<Vec<u8>, JobError> {
    let h = frames.iter().map(|f| f.height).max().unwrap_or(0);
    let w: u32 = frames.iter().map(|f| f.width).sum();
    if w == 0 || h == 0 {
        return Err(JobError::Permanent("the video has no picture to show".into()));
    }
    let mut canvas = vec![0u8; (w * h * 4) as usize];
    let mut x0 = 0u32;
    for f in frames {
        let px = f.to_rgba_packed().ok_or_else(|| JobError::Permanent("a frame could not be converted to RGBA".into()))?;
        for y in 0..f.height {
            let src = &px[(y * f.width * 4) as usize..((y + 1) * f.width * 4) as usize];
            let dst = ((y * w + x0) * 4) as usize;
            canvas[dst..dst + src.len()].copy_from_slice(src);
        }
        x0 += f.width;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| JobError::Transient(e.to_string()))?;
        writer.write_image_data(&canvas).map_err(|e| JobError::Transient(e.to_string()))?;
    }
    Ok(out)
}
