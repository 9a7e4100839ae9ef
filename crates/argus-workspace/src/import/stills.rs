//! Image datasets (a folder of stills with COCO, YOLO or VOC labels) as
//! image-sequence videos: the images, sorted by file name, become the frames
//! of one video (argus-media's `ffconcat` list in the data folder), so the
//! frame view, SAM and exports work on stills as on any video.
//!
//! The video's content hash is the hash of the images' bytes in order, so the
//! same images give the same video: importing a dataset again reuses it.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use argus_core::id::{ProjectId, VideoId};
use argus_core::model::{Timestamp, Video};
use argus_formats::Skipped;

use super::Target;
use crate::dto::{ImportProgress, TransferProgress, VideoSummary};
use crate::edit::parse_id;
use crate::{CommandError, CommandResult, Workspace};

/// Where a dataset's images went: each dataset image (by its key: COCO's
/// image id, or a file name) to (index of the video in the target, frame),
/// or why it is not a frame.
#[derive(Debug, Default)]
pub(super) struct Stills {
    pub(super) places: HashMap<String, Result<(usize, u64), String>>,
    /// Images left out (not on disk), reported with the import.
    pub(super) skipped: Vec<Skipped>,
}

impl Stills {
    /// The frame of the dataset image `key`.
    pub(super) fn place(&self, key: &str) -> Result<(usize, u64), String> {
        self.places.get(key).cloned().unwrap_or_else(|| Err(format!("image '{key}' is not in the dataset's image list")))
    }

    /// Each image's frame, by key.
    pub(super) fn frames(&self) -> HashMap<String, u64> {
        self.places.iter().filter_map(|(k, p)| p.as_ref().ok().map(|(_, f)| (k.clone(), *f))).collect()
    }

    /// The video every image went to, if any did.
    pub(super) fn video(&self) -> Option<usize> {
        self.places.values().find_map(|p| p.as_ref().ok().map(|(v, _)| *v))
    }
}

/// One dataset image: its key, its name (for ordering and messages) and
/// where it is on disk (`None`: not found, with where it was looked for).
pub(super) struct Found {
    pub(super) key: String,
    pub(super) name: String,
    pub(super) path: Result<PathBuf, String>,
}

impl Workspace {
    /// Adds the still images `images` (in this order, all of one size and
    /// format) to a project as one image-sequence video named `name`, or
    /// returns the project's video of the same images when it has one.
    /// Tells `report` of each stage and of the outcome.
    pub async fn import_image_sequence(
        &self,
        project_id: &str,
        name: &str,
        images: &[PathBuf],
        report: impl Fn(ImportProgress),
    ) -> CommandResult<VideoSummary> {
        let at = images.first().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        report(ImportProgress::Indexing { path: at.clone() });
        let result = match parse_id::<ProjectId>("project", project_id) {
            Ok(project) => self.image_sequence_video(project, name, images).await.map(|v| VideoSummary::from(&v)),
            Err(e) => Err(e),
        };
        match &result {
            Ok(video) => report(ImportProgress::Done { video: video.clone() }),
            Err(e) => report(ImportProgress::Failed { path: at, message: e.message.clone() }),
        }
        result
    }

    /// The project's image-sequence video of `images`, made (list written to
    /// `<data>/sequences/<sha256>.ffconcat`, probed, indexed, stored) unless
    /// the project has it already.
    pub(crate) async fn image_sequence_video(&self, project: ProjectId, name: &str, images: &[PathBuf]) -> CommandResult<Video> {
        if images.is_empty() {
            return Err(CommandError::invalid(format!("the dataset '{name}' has no image on disk to make a video of")));
        }
        let store = self.store();
        store.project(project).await?;
        let list = images.to_vec();
        let sha = self.blocking(move |_| Ok(argus_media::images_sha256(&list)?)).await?;
        let id = VideoId::for_content(project, &sha);
        if let Some(v) = store.videos(project).await?.into_iter().find(|v| v.id == id || v.sha256 == sha) {
            return Ok(v);
        }
        let list = images.to_vec();
        let name = name.to_owned();
        let video = self
            .blocking(move |ws| {
                let file = ws.data_dir().join("sequences").join(format!("{sha}.{}", argus_media::IMAGE_SEQUENCE_EXTENSION));
                argus_media::write_image_sequence(&file, &list)?;
                let mut described = argus_media::describe_video(project, &file, ws.videos().index_cache(), Timestamp(0))?;
                if described.video.sha256 != sha {
                    return Err(CommandError::invalid(format!("the images changed while they were imported; import the dataset again: {}", file.display())));
                }
                if let Some(damage) = described.damage {
                    return Err(CommandError::invalid(format!("an image could not be read ({}); remove or replace it: {}", damage.message, file.display())));
                }
                described.video.name = name;
                Ok(described.video)
            })
            .await?;
        Ok(store.add_video(video).await?)
    }

    /// Makes (or reuses) the image-sequence video of `found` (in this
    /// order; images not on disk are left out with the reason) and adds it to
    /// `target`: where each image went.
    pub(super) async fn stills_into(
        &self,
        target: &mut Target,
        project: ProjectId,
        name: &str,
        found: Vec<Found>,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
    ) -> CommandResult<Stills> {
        let mut stills = Stills::default();
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut frame_of: HashMap<PathBuf, u64> = HashMap::new();
        let mut framed: Vec<(String, u64)> = Vec::new();
        for f in found {
            match f.path {
                Ok(p) => {
                    let frame = *frame_of.entry(p.clone()).or_insert_with(|| {
                        paths.push(p);
                        paths.len() as u64 - 1
                    });
                    framed.push((f.key, frame));
                }
                Err(reason) => {
                    stills.skipped.push(Skipped { at: format!("image '{}'", f.name), reason: reason.clone() });
                    stills.places.insert(f.key, Err(reason));
                }
            }
        }
        if paths.is_empty() {
            return Ok(stills);
        }
        progress(TransferProgress { stage: "images".into(), done: 0, total: paths.len() as u64 });
        let video = self.image_sequence_video(project, name, &paths).await?;
        progress(TransferProgress { stage: "images".into(), done: paths.len() as u64, total: paths.len() as u64 });
        let vi = match target.videos.iter().position(|v| v.id == video.id) {
            Some(i) => i,
            None => {
                target.videos.push(video);
                target.videos.len() - 1
            }
        };
        for (key, frame) in framed {
            stills.places.insert(key, Ok((vi, frame)));
        }
        Ok(stills)
    }
}

/// A dataset-relative image name as a relative path, or `None` when it
/// would leave the folder it is relative to (absolute, `..`).
pub(super) fn relative(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    p.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)).then(|| p.to_path_buf())
}

/// Where the image `name` of a dataset is: the first of `dirs` holding it
/// (by its relative name, then by its file name alone).
pub(super) fn locate(dirs: &[PathBuf], name: &str) -> Result<PathBuf, String> {
    let rel = relative(name);
    let base = Path::new(name).file_name().map(PathBuf::from);
    for dir in dirs {
        for candidate in [&rel, &base].into_iter().flatten() {
            let p = dir.join(candidate);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(format!("the image file is not on disk (looked in {}); its annotations are left out (or choose the video the images are frames of)", looked.join(", ")))
}

/// The folders COCO images may be in, for the COCO file `file`: `images/`,
/// `images/<subset>/` (CVAT, datumaro), `<subset>/`, beside the file, one up
/// from `annotations/`.
pub(super) fn coco_image_dirs(file: &Path) -> (PathBuf, Vec<PathBuf>) {
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = if base.file_name().is_some_and(|n| n == "annotations") { base.parent().map(Path::to_path_buf).unwrap_or_default() } else { base.clone() };
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let subset = ["instances_", "person_keypoints_", "panoptic_"].iter().find_map(|p| stem.strip_prefix(p)).map(str::to_owned);
    let mut dirs = Vec::new();
    if let Some(s) = &subset {
        dirs.push(root.join("images").join(s));
    }
    dirs.push(root.join("images"));
    if let Some(s) = &subset {
        dirs.push(root.join(s));
    }
    dirs.push(root.clone());
    if base != root {
        dirs.push(base.join("images"));
        dirs.push(base);
    }
    (root, dirs)
}

/// A dataset folder's name, for the video of its images.
pub(super) fn dataset_name(root: &Path) -> String {
    std::fs::canonicalize(root)
        .ok()
        .as_deref()
        .unwrap_or(root)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "images".into())
}

impl Workspace {
    /// The image-sequence video of a COCO file's images that name no video,
    /// looked for where COCO datasets keep them ([`coco_image_dirs`]).
    pub(super) async fn coco_stills(
        &self,
        target: &mut Target,
        project: ProjectId,
        file: &Path,
        index: &argus_formats::coco::CocoIndex,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
    ) -> CommandResult<Stills> {
        let (root, dirs) = coco_image_dirs(file);
        let mut found: Vec<Found> = index
            .images
            .iter()
            .filter(|im| im.video.is_none())
            .map(|im| Found { key: im.id.to_string(), name: im.file_name.clone(), path: locate(&dirs, &im.file_name) })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.key.cmp(&b.key)));
        self.stills_into(target, project, &dataset_name(&root), found, progress).await
    }
}

impl Workspace {
    /// The image-sequence video of a YOLO dataset's images (every split's,
    /// in the reader's order: train, val, test, each by name), unless a
    /// folder of an image's path names a video of the project (the images
    /// are frames of it, as Argus exports them). Keys are the images'
    /// dataset-relative names.
    pub(super) async fn yolo_stills(
        &self,
        target: &mut Target,
        project: ProjectId,
        root: &Path,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
    ) -> CommandResult<Option<Stills>> {
        let dir = root.to_path_buf();
        let names: Vec<String> = self
            .blocking(move |_| {
                let mut names = Vec::new();
                argus_formats::yolo::read_yolo_folder(&dir, &mut |_| Some((1, 1)), &mut argus_formats::NoProgress, &mut |im| {
                    names.push(im.image.file_name);
                    Ok(())
                })?;
                Ok(names)
            })
            .await?;
        let folders = crate::export::video_folders(&target.videos);
        let is_video = |c: &str| target.videos.iter().any(|v| v.name == c || folders.get(&v.id).is_some_and(|x| x == c));
        let names_video = |f: &str| {
            Path::new(f).parent().into_iter().flat_map(Path::components).any(|c| is_video(&c.as_os_str().to_string_lossy()))
                || super::yolo_video_hint(f).is_some_and(|h| is_video(&h))
        };
        if names.is_empty() || names.iter().any(|f| names_video(f)) {
            return Ok(None);
        }
        let found = names.into_iter().map(|n| Found { path: Ok(root.join(&n)), key: n.clone(), name: n }).collect();
        Ok(Some(self.stills_into(target, project, &dataset_name(root), found, progress).await?))
    }
}
