//! Arguments and subcommands.

use std::{io::BufRead, path::PathBuf};

use anyhow::{Context, Result, anyhow};
use argus_core::{
    id::{TrackId, VideoId},
    model::{AttributeKind, AttributeSpec, Colour, Geometry, Label, Project, ShapeKind, Timestamp, Track},
};
use argus_store::{Command, Store};
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::{media, output::Out};

#[derive(Debug, Parser)]
#[command(name = "argus-cli", version, about = "Headless Argus: projects, videos, shapes, undo/redo, scripted edits")]
pub struct Args {
    /// The database file. Defaults to $ARGUS_DB, else argus.db in the user's data folder.
    #[arg(long, global = true, env = "ARGUS_DB")]
    db: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create and list projects.
    #[command(subcommand)]
    Project(ProjectCmd),
    /// List a project's videos.
    Videos {
        /// Project id or name.
        #[arg(long)]
        project: String,
    },
    /// List a video's tracks.
    Tracks {
        #[arg(long)]
        video: VideoId,
    },
    /// Print the shapes of one frame.
    Shapes {
        #[arg(long)]
        video: VideoId,
        #[arg(long)]
        frame: u64,
    },
    /// Add a video file to a project: probes it, counts its frames exactly
    /// and hashes it (FFmpeg through argus-media).
    ImportVideo {
        /// Project id or name.
        #[arg(long)]
        project: String,
        path: PathBuf,
    },
    /// Segment an object on one frame with SAM from clicks and/or a box, and
    /// store the mask as a keyframe (argus-media decodes, argus-sam segments).
    Segment {
        #[arg(long)]
        video: VideoId,
        #[arg(long)]
        frame: u64,
        /// A click x,y (positive) or x,y,neg (negative), display pixels. Repeatable.
        #[arg(long = "point")]
        points: Vec<String>,
        /// A box x,y,width,height around the object.
        #[arg(long = "box")]
        bbox: Option<String>,
        /// Set the mask on this existing track ...
        #[arg(long, conflicts_with = "label")]
        track: Option<TrackId>,
        /// ... or create a new track with this label (name).
        #[arg(long, required_unless_present = "track")]
        label: Option<String>,
        /// Built-in model id (see argus-sam's manifests); its files must be in the model cache.
        #[arg(long, default_value = "sam2.1-tiny")]
        model: String,
        /// A model manifest file to use instead of a built-in one.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Say on stderr which execution provider SAM ran on and, on the CPU,
        /// why not on a GPU.
        #[arg(long)]
        verbose: bool,
    },
    /// Undo the project's last edit.
    Undo {
        #[arg(long)]
        project: String,
    },
    /// Redo the project's last undone edit.
    Redo {
        #[arg(long)]
        project: String,
    },
    /// Sign in to an argus-server (the password from $ARGUS_PASSWORD, else
    /// standard input); the session is kept in the system keyring, or in
    /// --session-file.
    Login {
        #[command(flatten)]
        remote: crate::remote::Remote,
        #[arg(long)]
        email: String,
    },
    /// Sign out (with --everywhere: every session of the account).
    Logout {
        #[command(flatten)]
        remote: crate::remote::Remote,
        #[arg(long)]
        everywhere: bool,
    },
    /// Send the project's pending changes and receive everyone else's.
    Sync {
        #[command(flatten)]
        remote: crate::remote::Remote,
        /// The project's id.
        #[arg(long)]
        project: String,
        /// Changes per push request.
        #[arg(long, default_value_t = 500)]
        batch: u32,
        /// Changes per pull page.
        #[arg(long, default_value_t = 1000)]
        page: u32,
    },
    /// Put a local project on the server, in a team, and sync it.
    Push {
        #[command(flatten)]
        remote: crate::remote::Remote,
        /// The team's id.
        #[arg(long)]
        team: String,
        /// Project id or name.
        #[arg(long)]
        project: String,
        /// Sync the schema and annotations only; upload no video files.
        #[arg(long)]
        no_videos: bool,
    },
    /// Bring a server project onto this machine: its annotations always,
    /// video files only as asked (`--videos`), the others with `fetch`.
    Clone {
        #[command(flatten)]
        remote: crate::remote::Remote,
        #[arg(long)]
        project: String,
        /// Which video files to download now: none, all, or video ids
        /// separated by commas.
        #[arg(long, default_value = "none")]
        videos: String,
        /// Where downloaded videos go (default: videos/ beside the database).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Download one video's file from the server (resuming an interrupted
    /// download) and link it to the video.
    Fetch {
        #[command(flatten)]
        remote: crate::remote::Remote,
        /// The video's id.
        #[arg(long)]
        video: String,
        /// Where it goes (default: videos/ beside the database).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Upload a video file to a project on an argus-server, in parallel
    /// parts; an interrupted upload of the same file resumes where it stopped.
    Upload {
        #[command(flatten)]
        remote: crate::remote::Remote,
        /// The server project's id.
        #[arg(long)]
        project: String,
        /// Parts sent at once.
        #[arg(long, default_value_t = 10)]
        concurrency: usize,
        path: PathBuf,
    },
    /// Apply edit commands read as JSON lines from stdin (one command per
    /// line, e.g. {"command":"delete_shape","shape_id":"..."}). Each line is
    /// committed before its acknowledgement is printed; stops at the first error.
    Apply {
        /// Project id or name the commands are checked against for permissions.
        #[arg(long)]
        project: String,
    },
    /// Exports a project's annotations as a dataset: COCO, YOLO, CVAT for
    /// video, Pascal VOC, MOT or Argus's native JSON.
    Export {
        #[arg(long)]
        project: String,
        /// coco, yolo-detect, yolo-segment, cvat, voc, mot or native.
        #[arg(long)]
        format: String,
        /// The folder to write (created if needed).
        #[arg(long)]
        out: PathBuf,
        /// Only these videos (repeat); all by default.
        #[arg(long = "video")]
        videos: Vec<VideoId>,
        /// Every n-th annotated frame.
        #[arg(long, default_value_t = 1)]
        step: u64,
        /// Only shapes an approved review covers.
        #[arg(long)]
        approved: bool,
        /// Rename a label, `from=to` (several may merge into one); `from=`
        /// leaves it out. Repeat.
        #[arg(long = "map")]
        label_map: Vec<String>,
        /// Write frames as image files: none, jpeg or png.
        #[arg(long, default_value = "none")]
        images: String,
        /// JPEG quality, 1-100.
        #[arg(long, default_value_t = 92)]
        quality: u8,
        /// COCO: masks as polygons instead of RLE (what that changes is reported).
        #[arg(long)]
        polygons: bool,
        /// Polygon simplification in pixels (COCO polygons, YOLO segmentation).
        #[arg(long, default_value_t = 0.5)]
        tolerance: f64,
    },
    /// Follows objects across frames: shapes interpolated between keyframes,
    /// masks propagated by SAM.
    #[command(subcommand)]
    Track(TrackCmd),
    /// Reviews of a video: list them, open one (of the video, an object or
    /// frames), approve, reject with what to fix, reopen, comment. Each step
    /// is one undo step and syncs like an edit.
    #[command(subcommand)]
    Review(ReviewCmd),
    /// Imports a dataset's annotations into a project as one undo step.
    Import {
        #[arg(long)]
        project: String,
        /// coco, cvat, yolo, mot, voc or native; found from the path when absent.
        #[arg(long)]
        format: Option<String>,
        /// The video the dataset's images are frames of (for datasets that
        /// do not name their videos).
        #[arg(long)]
        video: Option<VideoId>,
        /// Add the labels the project lacks instead of leaving them out.
        #[arg(long)]
        create_labels: bool,
        path: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TrackCmd {
    /// Print a track's shapes on a range of frames, with those interpolated
    /// between its keyframes (derived, not stored: editing a keyframe
    /// changes them).
    Interpolate {
        #[arg(long)]
        video: VideoId,
        #[arg(long)]
        track: TrackId,
        /// First frame (default: the track's first keyframe).
        #[arg(long)]
        from: Option<u64>,
        /// Last frame, inclusive (default: the track's last keyframe).
        #[arg(long)]
        to: Option<u64>,
    },
    /// Propagate a track's shape on one frame to the following (or, with
    /// --backward, the preceding) frames with SAM, up to the next keyframe;
    /// one undo step. Doubted frames are flagged (or stop the run).
    Propagate {
        #[arg(long)]
        video: VideoId,
        #[arg(long)]
        track: TrackId,
        /// The frame whose shape starts the run.
        #[arg(long)]
        frame: u64,
        #[arg(long)]
        backward: bool,
        /// At most this many frames.
        #[arg(long)]
        frames: Option<u64>,
        /// Doubt frames whose predicted IoU is below this.
        #[arg(long, default_value_t = 0.5)]
        min_score: f32,
        /// Doubt frames whose area changes by more than this fraction.
        #[arg(long, default_value_t = 0.5)]
        max_area_change: f64,
        /// Doubt frames whose centre moves more than this times the object's size.
        #[arg(long, default_value_t = 0.5)]
        max_jump: f64,
        /// Stop at the first doubted frame instead of flagging it.
        #[arg(long)]
        stop_on_doubt: bool,
        /// Built-in model id; its files must be in the model cache.
        #[arg(long, default_value = "sam2.1-tiny")]
        model: String,
        /// A model manifest file to use instead of a built-in one.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ReviewCmd {
    /// A video's reviews, oldest first, with their verdicts and threads.
    List {
        #[arg(long)]
        video: VideoId,
    },
    /// Opens a pending review of the whole video, one object (--track) or a
    /// range of frames (--frames A-B, inclusive).
    Open {
        #[arg(long)]
        video: VideoId,
        #[arg(long, conflicts_with = "frames")]
        track: Option<TrackId>,
        #[arg(long, value_name = "A-B")]
        frames: Option<String>,
    },
    /// Approves a pending review.
    Approve {
        review: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Rejects a pending review, saying what to fix.
    Reject {
        review: String,
        #[arg(long)]
        comment: String,
    },
    /// Puts a decided review back to pending (rejected work fixed, or an approval taken back).
    Reopen { review: String },
    /// Adds a comment to a review's thread, pinned to --frame if given.
    Comment {
        review: String,
        #[arg(long)]
        body: String,
        #[arg(long)]
        frame: Option<u64>,
    },
}

/// `A-B` (or `A..B`, or one frame `A`) as an inclusive range.
fn frame_range(s: &str) -> Result<(u64, u64)> {
    let bad = || anyhow!("--frames '{s}': give the first and last frame as A-B (for example 10-20)");
    let (a, b) = s.split_once("..").or_else(|| s.split_once('-')).unwrap_or((s, s));
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    Ok((a, b))
}

async fn review(store: &Store, out: Out, cmd: ReviewCmd) -> Result<()> {
    use argus_workspace::dto::{ReviewInfo, ReviewScopeInfo, ReviewVerdict};
    let ws = argus_workspace::Workspace::open_database(store.path()).await?;
    let rows = |reviews: &[ReviewInfo]| {
        out.rows(&["REVIEW", "STATE", "COVERS", "VERDICT", "COMMENTS"], reviews, |r| {
            let verdict = match (&r.reviewer, &r.comment) {
                (Some(who), Some(c)) => format!("{who}: {c}"),
                (Some(who), None) if r.state != "pending" => who.clone(),
                _ => String::new(),
            };
            vec![r.id.clone(), r.state.clone(), r.covers.clone(), verdict, r.comments.len().to_string()]
        })
    };
    let reviewed = match cmd {
        ReviewCmd::List { video } => return rows(&ws.reviews(&video.to_string()).await?),
        ReviewCmd::Open { video, track, frames } => {
            let scope = match (track, frames) {
                (Some(t), _) => ReviewScopeInfo::Track { track_id: t.to_string() },
                (None, Some(f)) => {
                    let (start, end) = frame_range(&f)?;
                    ReviewScopeInfo::Frames { start, end }
                }
                (None, None) => ReviewScopeInfo::Video,
            };
            ws.open_review(&video.to_string(), &scope).await?
        }
        ReviewCmd::Approve { review, comment } => ws.decide_review(&review, ReviewVerdict::Approve, comment.as_deref()).await?,
        ReviewCmd::Reject { review, comment } => ws.decide_review(&review, ReviewVerdict::Reject, Some(&comment)).await?,
        ReviewCmd::Reopen { review } => ws.decide_review(&review, ReviewVerdict::Reopen, None).await?,
        ReviewCmd::Comment { review, body, frame } => ws.comment_review(&review, &body, frame).await?,
    };
    let touched: Vec<ReviewInfo> = reviewed.reviews.into_iter().filter(|r| r.id == reviewed.review_id).collect();
    rows(&touched)
}

#[derive(Debug, Subcommand)]
enum ProjectCmd {
    /// Create a project with its labels.
    New {
        name: String,
        /// A label as NAME or NAME:KIND,KIND (kinds: mask, polygon, bbox, polyline, points). Repeatable.
        #[arg(long = "label", required = true)]
        labels: Vec<String>,
        /// An attribute as LABEL.NAME=TYPE, TYPE one of bool, text, number(MIN..MAX) or
        /// enum(A|B|C); append @frame for a value per frame (else one per object). Repeatable.
        #[arg(long = "attribute")]
        attributes: Vec<String>,
    },
    /// List projects.
    List,
}

fn default_db() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("org", "Argus", "Argus")
        .ok_or_else(|| anyhow!("no home folder found; pass --db PATH or set ARGUS_DB"))?;
    Ok(dirs.data_dir().join("argus.db"))
}

/// Where downloaded videos go: `--dir`, else videos/ beside the database.
fn videos_dir(dir: Option<PathBuf>, db: &std::path::Path) -> PathBuf {
    dir.unwrap_or_else(|| db.parent().unwrap_or(std::path::Path::new(".")).join("videos"))
}

async fn open(db: Option<PathBuf>) -> Result<Store> {
    let path = match db {
        Some(p) => p,
        None => default_db()?,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("could not create the folder {}", parent.display()))?;
    }
    Ok(Store::open(&path).await?)
}

fn parse_label(spec: &str, index: usize) -> Result<Label> {
    let (name, kinds) = match spec.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (spec, None),
    };
    let mut label = Label::new(name, Colour::palette(index));
    if let Some(kinds) = kinds {
        let kinds = kinds
            .split(',')
            .map(|k| serde_json::from_value::<ShapeKind>(serde_json::Value::String(k.trim().to_owned())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| anyhow!("label '{spec}': kinds are mask, polygon, bbox, polyline, points"))?;
        label = label.with_kinds(&kinds);
    }
    Ok(label)
}

/// `LABEL.NAME=TYPE[@frame]`, TYPE one of `bool`, `text`, `number(MIN..MAX)`, `enum(A|B|C)`.
fn parse_attribute(spec: &str) -> Result<(String, AttributeSpec)> {
    let bad = || {
        anyhow!("attribute '{spec}': write LABEL.NAME=TYPE[@frame], TYPE one of bool, text, number(MIN..MAX), enum(A|B|C)")
    };
    let (target, ty) = spec.split_once('=').ok_or_else(bad)?;
    let (label, name) = target.split_once('.').ok_or_else(bad)?;
    let (ty, per_frame) = match ty.trim().strip_suffix("@frame") {
        Some(t) => (t.trim(), true),
        None => (ty.trim(), false),
    };
    let inner = |prefix: &str| ty.strip_prefix(prefix).and_then(|t| t.strip_suffix(')'));
    let kind = if ty == "bool" {
        AttributeKind::Bool { default: false }
    } else if ty == "text" {
        AttributeKind::Text { default: String::new() }
    } else if let Some(range) = inner("number(") {
        let (min, max) = range.split_once("..").ok_or_else(bad)?;
        let min: f64 = min.trim().parse().map_err(|_| bad())?;
        let max: f64 = max.trim().parse().map_err(|_| bad())?;
        AttributeKind::Number { min, max, step: 1.0, default: min }
    } else if let Some(options) = inner("enum(") {
        let options: Vec<String> = options.split('|').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
        let default = options.first().cloned().ok_or_else(bad)?;
        AttributeKind::Enum { options, default }
    } else {
        return Err(bad());
    };
    Ok((label.trim().to_owned(), AttributeSpec { name: name.trim().to_owned(), kind, per_frame }))
}

fn short(id: impl ToString) -> String {
    let s = id.to_string();
    s.get(s.len().saturating_sub(8)..).unwrap_or(&s).to_owned()
}

#[derive(Serialize)]
struct ShapeRow<'a> {
    #[serde(flatten)]
    shape: &'a argus_core::model::Shape,
    area: Option<u64>,
}

pub async fn run(args: Args) -> Result<()> {
    let out = Out { json: args.json };
    let store = std::sync::Arc::new(open(args.db).await?);
    let result = dispatch(&store, out, args.command).await;
    if let Ok(store) = std::sync::Arc::try_unwrap(store) {
        store.close().await;
    }
    result
}

async fn dispatch(store: &std::sync::Arc<Store>, out: Out, command: Cmd) -> Result<()> {
    match command {
        Cmd::Login { remote, email } => crate::remote::login(out, &remote, &email).await,
        Cmd::Logout { remote, everywhere } => crate::remote::logout(out, &remote, everywhere).await,
        Cmd::Sync { remote, project, batch, page } => crate::remote::sync(store.clone(), out, &remote, &project, batch, page).await,
        Cmd::Push { remote, team, project, no_videos } => crate::remote::push(store.clone(), out, &remote, &team, &project, !no_videos).await,
        Cmd::Clone { remote, project, videos, dir } => {
            let dir = videos_dir(dir, store.path());
            crate::remote::clone(store.clone(), out, &remote, &project, &videos, &dir).await
        }
        Cmd::Fetch { remote, video, dir } => {
            let dir = videos_dir(dir, store.path());
            crate::remote::fetch(store.clone(), out, &remote, &video, &dir).await
        }
        Cmd::Upload { remote, project, concurrency, path } => crate::remote::upload(store.clone(), out, &remote, &project, path, concurrency).await,
        Cmd::Project(ProjectCmd::New { name, labels, attributes }) => {
            let mut labels = labels.iter().enumerate().map(|(i, l)| parse_label(l, i)).collect::<Result<Vec<_>>>()?;
            for a in &attributes {
                let (label, spec) = parse_attribute(a)?;
                let target = labels
                    .iter_mut()
                    .find(|l| l.name == label)
                    .ok_or_else(|| anyhow!("attribute '{a}': there is no label '{label}' (give it with --label first)"))?;
                target.attributes.push(spec);
            }
            let (project, schema) = store.create_project(&name, labels).await?;
            out.one(&serde_json::json!({ "project": project, "schema": schema }), || {
                format!("created project '{}' ({}) with {} label(s)", project.name, project.id, schema.labels().len())
            })
        }
        Cmd::Project(ProjectCmd::List) => {
            let projects = store.projects().await?;
            out.rows(&["ID", "NAME", "CREATED"], &projects, |p: &Project| {
                vec![p.id.to_string(), p.name.clone(), p.created_at.0.to_string()]
            })
        }
        Cmd::Videos { project } => {
            let project = store.find_project(&project).await?;
            let videos = store.videos(project.id).await?;
            out.rows(&["ID", "NAME", "SIZE", "FRAMES", "FPS"], &videos, |v| {
                vec![v.id.to_string(), v.name.clone(), format!("{}x{}", v.width, v.height), v.frame_count.to_string(), v.frame_rate.to_string()]
            })
        }
        Cmd::Tracks { video } => {
            let tracks = store.tracks(video).await?;
            out.rows(&["ID", "NUMBER", "LABEL"], &tracks, |t| vec![t.id.to_string(), t.number.to_string(), t.label_id.to_string()])
        }
        Cmd::Shapes { video, frame } => {
            store.video(video).await?;
            let shapes = store.frame_shapes(video, frame).await?;
            let rows: Vec<ShapeRow> = shapes
                .iter()
                .map(|s| ShapeRow { shape: s, area: if let Geometry::Mask(m) = &s.geometry { Some(m.area()) } else { None } })
                .collect();
            out.rows(&["SHAPE", "TRACK", "KIND", "KEY", "SOURCE", "AREA/BBOX"], &rows, |r| {
                let s = r.shape;
                vec![
                    short(s.id),
                    short(s.track_id),
                    s.kind().name().to_owned(),
                    if s.keyframe { "yes".into() } else { "no".into() },
                    serde_json::to_value(s.source).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                    extent(r),
                ]
            })
        }
        Cmd::ImportVideo { project, path } => {
            let project = store.find_project(&project).await?;
            let video = media::describe_video(project.id, &path).await?;
            let video = store.add_video(video).await?;
            out.one(&video, || {
                format!(
                    "imported '{}' as {}: {}x{}, {} frames at {} fps, {}",
                    video.name, video.id, video.width, video.height, video.frame_count, video.frame_rate, video.codec
                )
            })
        }
        Cmd::Segment { video, frame, points, bbox, track, label, model, manifest, verbose } => {
            let video = store.video(video).await?;
            video.check_frame(frame)?;
            let mut prompt = argus_sam::Prompt::default();
            for p in &points {
                let (x, y, positive) = media::parse_point(p)?;
                prompt = prompt.with_click(x, y, positive);
            }
            if let Some(b) = &bbox {
                prompt = prompt.with_box(media::parse_box(b)?);
            }
            if prompt.clicks.is_empty() && prompt.bbox.is_none() {
                anyhow::bail!("give at least one --point or a --box");
            }
            let actor = store.actor(video.project_id, store.local_user()).await?;
            // Resolve the target before the slow part, so a typo fails fast.
            let target = match (track, label) {
                (Some(t), _) => Ok(store.track(t).await?),
                (None, Some(name)) => {
                    let schema = store.schema(video.project_id).await?;
                    let label = schema.label_by_name(&name).ok_or_else(|| {
                        let names: Vec<&str> = schema.labels().iter().map(|l| l.name.as_str()).collect();
                        anyhow!("no label '{name}' in the project; labels are {names:?}")
                    })?;
                    Err(Track::new(video.id, label.id, Some(actor.user), Timestamp(0)))
                }
                (None, None) => anyhow::bail!("give --track or --label"),
            };
            let seg = media::segment(&video, frame, prompt, model, manifest).await?;
            if verbose {
                match &seg.provider_note {
                    Some(why) => eprintln!("SAM ran on the {} (not a GPU: {why})", seg.provider),
                    None => eprintln!("SAM ran on {}", seg.provider),
                }
            }
            let (track_id, command) = match target {
                Ok(t) => (t.id, Command::SetShape { shape: media::sam_shape(t.id, frame, &seg) }),
                Err(new) => (new.id, Command::CreateTrack { shapes: vec![media::sam_shape(new.id, frame, &seg)], track: new }),
            };
            let applied = store.apply_in(video.project_id, &actor, command).await?;
            let bbox = seg.mask.bbox();
            out.one(
                &serde_json::json!({
                    "track_id": track_id, "frame": frame, "area": seg.mask.area(), "bbox": bbox,
                    "score": seg.score, "model": seg.model, "provider": seg.provider, "provider_note": seg.provider_note, "changes": applied.changes,
                }),
                || {
                    format!(
                        "track {track_id}, frame {frame}: mask of {} px (score {:.3}) by {} on {}",
                        seg.mask.area(),
                        seg.score,
                        seg.model,
                        seg.provider
                    )
                },
            )
        }
        Cmd::Undo { project } => {
            let project = store.find_project(&project).await?;
            let applied = store.undo(project.id).await?;
            out.one(&applied, || format!("undid: {} ({} change(s))", applied.summary, applied.changes))
        }
        Cmd::Redo { project } => {
            let project = store.find_project(&project).await?;
            let applied = store.redo(project.id).await?;
            out.one(&applied, || format!("redid: {} ({} change(s))", applied.summary, applied.changes))
        }
        Cmd::Export { project, format, out: dir, videos, step, approved, label_map, images, quality, polygons, tolerance } => {
            let project = store.find_project(&project).await?;
            let mut map = std::collections::BTreeMap::new();
            for m in &label_map {
                let (from, to) = m.split_once('=').ok_or_else(|| anyhow!("--map '{m}': use from=to, or from= to leave a label out"))?;
                map.insert(from.trim().to_owned(), to.trim().to_owned());
            }
            let options = argus_workspace::dto::ExportOptions {
                format: enum_arg("--format", &format, "coco, yolo-detect, yolo-segment, cvat, voc, mot, native")?,
                videos: videos.iter().map(ToString::to_string).collect(),
                frame_step: step,
                only_approved: approved,
                label_map: map,
                images: enum_arg("--images", &images, "none, jpeg, png")?,
                jpeg_quality: quality,
                polygons,
                tolerance,
            };
            let ws = argus_workspace::Workspace::open_database(store.path()).await?;
            let cancel = argus_workspace::export::Cancel::new();
            let summary = ws.export_project(&project.id.to_string(), &dir, &options, progress(out), &cancel).await?;
            report(out, &summary, "exported")
        }
        Cmd::Import { project, format, video, create_labels, path } => {
            let project = store.find_project(&project).await?;
            let options = argus_workspace::import::ImportOptions {
                format: format.map(|f| enum_arg("--format", &f, "coco, cvat, yolo, mot, voc, native")).transpose()?,
                video: video.map(|v| v.to_string()),
                create_labels,
            };
            let ws = argus_workspace::Workspace::open_database(store.path()).await?;
            let cancel = argus_workspace::export::Cancel::new();
            let summary = ws.import_annotations(&project.id.to_string(), &path, &options, progress(out), &cancel).await?;
            report(out, &summary, "imported")
        }
        Cmd::Track(cmd) => track(store, out, cmd).await,
        Cmd::Review(cmd) => review(store, out, cmd).await,
        Cmd::Apply { project } => {
            let project = store.find_project(&project).await?;
            let actor = store.actor(project.id, store.local_user()).await?;
            apply_lines(store, out, project.id, &actor, std::io::stdin().lock()).await
        }
    }
}

async fn track(store: &Store, out: Out, cmd: TrackCmd) -> Result<()> {
    let open = || argus_workspace::Workspace::open_with(store.path(), argus_sam::download::ModelStore::default_location().ok(), false);
    match cmd {
        TrackCmd::Interpolate { video, track, from, to } => {
            let t = store.track(track).await?;
            if t.video_id != video {
                anyhow::bail!("track {track} is not in video {video}");
            }
            let keyframes = store.keyframes(track).await?;
            let (Some(first), Some(last)) = (from.or(keyframes.first().copied()), to.or(keyframes.last().copied())) else {
                anyhow::bail!("track {track} has no keyframes; give --from and --to");
            };
            if last < first {
                anyhow::bail!("--to {last} is before --from {first}");
            }
            let ws = open().await?;
            let shapes: Vec<argus_core::model::Shape> = ws
                .video_shapes_derived(video, first, last.saturating_add(1))
                .await?
                .into_iter()
                .map(|(_, s)| s)
                .filter(|s| s.track_id == track)
                .collect();
            let rows: Vec<ShapeRow> = shapes
                .iter()
                .map(|s| ShapeRow { shape: s, area: if let Geometry::Mask(m) = &s.geometry { Some(m.area()) } else { None } })
                .collect();
            out.rows(&["FRAME", "KIND", "KEY", "SOURCE", "AREA/BBOX"], &rows, |r| {
                let s = r.shape;
                vec![
                    s.frame.to_string(),
                    s.kind().name().to_owned(),
                    if s.keyframe { "yes".into() } else { "no".into() },
                    argus_workspace::dto::source_name(s.source).to_owned(),
                    extent(r),
                ]
            })
        }
        TrackCmd::Propagate { video, track, frame, backward, frames, min_score, max_area_change, max_jump, stop_on_doubt, model, manifest } => {
            let ws = open().await?;
            let name = manifest.map_or(model, |p| p.display().to_string());
            ws.blocking(move |ws| ws.sam().load(&name, &mut |_| {})).await?;
            let options = argus_workspace::dto::PropagateOptions {
                direction: if backward {
                    argus_workspace::dto::PropagateDirection::Backward
                } else {
                    argus_workspace::dto::PropagateDirection::Forward
                },
                max_frames: frames,
                min_score,
                max_area_change,
                max_jump,
                stop_on_doubt,
            };
            let progress = move |p: argus_workspace::dto::TrackProgress| {
                if !out.json {
                    eprint!("\rframe {}: {}/{}", p.frame, p.done, p.total);
                }
            };
            let cancel = argus_workspace::export::Cancel::new();
            let s = ws.propagate(&video.to_string(), &track.to_string(), frame, &options, &progress, &cancel).await?;
            if !out.json {
                eprintln!();
            }
            out.one(&s, || {
                let mut text = format!(
                    "propagated {} frame(s) from frame {} with {}{}",
                    s.written,
                    s.start,
                    s.model,
                    s.last_frame.map(|f| format!(" (to frame {f})")).unwrap_or_default()
                );
                if s.replaced > 0 {
                    text.push_str(&format!("; replaced {} earlier propagated shape(s)", s.replaced));
                }
                if let Some(stop) = &s.stopped {
                    text.push_str(&format!("\nstopped at frame {}: {}", stop.frame, stop.reason));
                }
                for f in &s.flagged {
                    text.push_str(&format!("\nflagged frame {}: {}", f.frame, f.reason));
                }
                text
            })
        }
    }
}

/// A shape's area (masks) or box, for tables.
fn extent(r: &ShapeRow) -> String {
    match (r.area, r.shape.geometry.bbox()) {
        (Some(a), _) => format!("{a} px"),
        (None, Some(b)) => format!("{:.1},{:.1} {:.1}x{:.1}", b.x, b.y, b.width, b.height),
        (None, None) => "-".into(),
    }
}

#[derive(Serialize)]
struct Ack {
    line: usize,
    ok: bool,
    changes: usize,
    summary: String,
}

async fn apply_lines(
    store: &Store,
    out: Out,
    project: argus_core::id::ProjectId,
    actor: &argus_store::Actor,
    input: impl BufRead,
) -> Result<()> {
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let line = line.context("could not read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let cmd: Command = serde_json::from_str(&line).with_context(|| format!("line {n} is not a command"))?;
        let applied = store.apply_in(project, actor, cmd).await.with_context(|| format!("line {n}"))?;
        out.one(&Ack { line: n, ok: true, changes: applied.changes, summary: applied.summary.clone() }, || {
            format!("{n}: {} ({} change(s))", applied.summary, applied.changes)
        })?;
    }
    Ok(())
}

/// A `--flag` value as one of a serde enum's snake_case names (dashes allowed).
fn enum_arg<T: serde::de::DeserializeOwned>(flag: &str, value: &str, names: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(value.trim().to_lowercase().replace('-', "_")))
        .map_err(|_| anyhow!("{flag} '{value}' is not one of: {names}"))
}

/// Progress on stderr (not with --json, which keeps the output for data).
fn progress(out: Out) -> impl Fn(argus_workspace::dto::TransferProgress) + Send + Sync + 'static {
    move |p| {
        if !out.json {
            if p.total > 0 {
                eprint!("\r{}: {}/{}", p.stage, p.done, p.total);
            } else {
                eprint!("\r{}: {}", p.stage, p.done);
            }
        }
    }
}

/// An export's or import's summary: counts, then what was changed or left out.
fn report(out: Out, s: &argus_workspace::dto::TransferSummary, verb: &str) -> Result<()> {
    out.one(s, || {
        let mut text = format!("{verb} {} image(s), {} annotation(s), {} track(s): {}", s.images, s.annotations, s.tracks, s.path);
        for (title, notes) in [("changed", &s.changed), ("left out", &s.skipped)] {
            if notes.is_empty() {
                continue;
            }
            text.push_str(&format!("\n{} {title}:", notes.len()));
            for n in notes.iter().take(20) {
                text.push_str(&format!("\n  {}: {}", n.at, n.reason));
            }
            if notes.len() > 20 {
                text.push_str(&format!("\n  ... and {} more (--json lists all)", notes.len() - 20));
            }
        }
        text
    })
}
