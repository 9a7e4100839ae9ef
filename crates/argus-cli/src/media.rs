//! `import-video` and `segment`: the subcommands that need FFmpeg
//! (argus-media) and ONNX Runtime (argus-sam). Their slow, blocking work
//! runs on tokio's blocking pool.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use argus_core::{
    geometry::BBox,
    id::{ProjectId, TrackId},
    mask::Rle,
    model::{Geometry, Shape, ShapeSource, Timestamp, Video},
};
use argus_media::IndexCache;
use argus_sam::{Prompt, download::ModelStore};
use argus_workspace::{SamSession, Videos, dto::ModelProgress};

/// Probes and indexes `path` (exact frame count, content hash) and
/// describes it as a video of `project`.
pub async fn describe_video(project: ProjectId, path: &Path) -> Result<Video> {
    let path = std::fs::canonicalize(path).with_context(|| format!("cannot open {}", path.display()))?;
    tokio::task::spawn_blocking(move || describe_blocking(project, &path)).await.context("the import task failed")?
}

fn describe_blocking(project: ProjectId, path: &Path) -> Result<Video> {
    let cache = IndexCache::user_default();
    let described = argus_media::describe_video(project, path, cache.as_ref(), Timestamp(0))?;
    if let Some(damage) = &described.damage {
        eprintln!(
            "argus-cli: warning: the file is damaged from frame {} on ({}); importing the {} frames before it",
            damage.from_frame, damage.message, described.video.frame_count
        );
    }
    Ok(described.video)
}

/// A click `x,y` (positive) or `x,y,neg` (negative), in display pixels.
pub fn parse_point(s: &str) -> Result<(f64, f64, bool)> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let num = |p: &str| p.parse::<f64>().ok().filter(|v| v.is_finite());
    match parts.as_slice() {
        [x, y] => Ok((num(x).ok_or_else(|| bad_point(s))?, num(y).ok_or_else(|| bad_point(s))?, true)),
        [x, y, sign] => {
            let positive = match *sign {
                "neg" | "-" | "0" => false,
                "pos" | "+" | "1" => true,
                _ => return Err(bad_point(s)),
            };
            Ok((num(x).ok_or_else(|| bad_point(s))?, num(y).ok_or_else(|| bad_point(s))?, positive))
        }
        _ => Err(bad_point(s)),
    }
}

fn bad_point(s: &str) -> anyhow::Error {
    anyhow!("'{s}' is not a point; write x,y or x,y,neg")
}

/// A box `x,y,width,height` in display pixels.
pub fn parse_box(s: &str) -> Result<BBox> {
    let v: Vec<f64> = s.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| anyhow!("'{s}' is not a box; write x,y,width,height"))?;
    match v.as_slice() {
        [x, y, w, h] => Ok(BBox::new(*x, *y, *w, *h)?),
        _ => bail!("'{s}' is not a box; write x,y,width,height"),
    }
}

/// What `segment` computed.
#[derive(Debug)]
pub struct Segmented {
    pub mask: Rle,
    pub score: f32,
    pub model: String,
    pub provider: String,
    /// Why SAM ran on the CPU, if it did.
    pub provider_note: Option<String>,
}

/// Decodes `frame` of `video`, encodes it with SAM and decodes `prompt`,
/// through the application layer's SAM session (as the desktop app's click
/// does), with the model folder of the user and the index cache `import-video`
/// wrote.
pub async fn segment(video: &Video, frame: u64, prompt: Prompt, model: String, manifest: Option<PathBuf>) -> Result<Segmented> {
    let video = video.clone();
    tokio::task::spawn_blocking(move || segment_blocking(&video, frame, &prompt, &model, manifest.as_deref()))
        .await
        .context("the segmentation task failed")?
}

fn segment_blocking(video: &Video, frame: u64, prompt: &Prompt, model: &str, manifest: Option<&Path>) -> Result<Segmented> {
    let session = SamSession::new(ModelStore::default_location()?, None, false);
    let name = manifest.map_or_else(|| model.to_owned(), |p| p.display().to_string());
    // Fetches missing files (file:// or http(s)://), with progress on stderr.
    let mut last = std::time::Instant::now();
    let info = session.load(&name, &mut |p| {
        if let ModelProgress::Downloading { file, downloaded, total, .. } = p
            && last.elapsed() >= std::time::Duration::from_secs(1)
        {
            last = std::time::Instant::now();
            match total {
                Some(t) if t > 0 => eprintln!("downloading {file}: {:.0}%", downloaded as f64 * 100.0 / t as f64),
                _ => eprintln!("downloading {file}: {:.1} MB", downloaded as f64 / 1e6),
            }
        }
    })?;
    let videos = Videos::new(IndexCache::user_default());
    session.predict_prompt(&videos, video, frame, prompt)?;
    let (mask, score) = session.take(video.id, frame, 0)?;
    Ok(Segmented { mask, score, model: info.id, provider: info.provider, provider_note: info.provider_note })
}

/// The shape `segment` stores: a SAM keyframe with SAM's predicted IoU.
pub fn sam_shape(track: TrackId, frame: u64, seg: &Segmented) -> Shape {
    Shape {
        score: Some(seg.score),
        ..Shape::keyframe(track, frame, Geometry::Mask(seg.mask.clone()), ShapeSource::Sam, Timestamp(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::model::Rotation;

    #[test]
    fn points_and_boxes_parse() {
        assert_eq!(parse_point("10,20").expect("point"), (10.0, 20.0, true));
        assert_eq!(parse_point("10.5, 2,neg").expect("point"), (10.5, 2.0, false));
        assert!(parse_point("10").is_err() && parse_point("a,b").is_err() && parse_point("1,2,maybe").is_err());
        assert_eq!(parse_box("1,2,3,4").expect("box"), BBox::new(1.0, 2.0, 3.0, 4.0).expect("box"));
        assert!(parse_box("1,2,3").is_err() && parse_box("1,2,-3,4").is_err());
    }

    #[test]
    fn rotation_moves_pixels_clockwise() {
        // 2x1 image: red, green. Rotated 90 degrees clockwise it is 1x2: red on top.
        let src = vec![255, 0, 0, 255, 0, 255, 0, 255];
        let (out, w, h) = argus_media::rotate_rgba(src.clone(), 2, 1, Rotation::R90);
        assert_eq!((w, h), (1, 2));
        assert_eq!(out, src);
        let (out, w, h) = argus_media::rotate_rgba(src.clone(), 2, 1, Rotation::R270);
        assert_eq!((w, h), (1, 2));
        assert_eq!(out, vec![0, 255, 0, 255, 255, 0, 0, 255], "green on top");
        let (out, _, _) = argus_media::rotate_rgba(src, 2, 1, Rotation::R180);
        assert_eq!(out, vec![0, 255, 0, 255, 255, 0, 0, 255]);
    }
}
