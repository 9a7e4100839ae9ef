//! `import-video` and `segment`: the subcommands that need FFmpeg
//! (argus-media) and ONNX Runtime (argus-sam). Their slow, blocking work
//! runs on tokio's blocking pool.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use argus_core::{
    geometry::BBox,
    id::{ProjectId, TrackId},
    mask::Rle,
    model::{Geometry, Rotation, Shape, ShapeSource, Timestamp, Video},
};
use argus_media::{FrameRequest, IndexCache, SourceOptions, VideoSource};
use argus_sam::{LoadOptions, Prompt, SamModel, download::ModelStore};

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
}

/// Decodes `frame` of `video`, encodes it with SAM and decodes `prompt`.
pub async fn segment(video: &Video, frame: u64, prompt: Prompt, model: String, manifest: Option<PathBuf>) -> Result<Segmented> {
    let path = video.local_path.clone().map(PathBuf::from).ok_or_else(|| anyhow!("video {} has no local file on this machine", video.id))?;
    let rotation = video.rotation;
    tokio::task::spawn_blocking(move || segment_blocking(&path, rotation, frame, prompt, &model, manifest.as_deref()))
        .await
        .context("the segmentation task failed")?
}

fn segment_blocking(path: &Path, rotation: Rotation, frame: u64, prompt: Prompt, model: &str, manifest: Option<&Path>) -> Result<Segmented> {
    let manifest = match manifest {
        Some(p) => argus_sam::Manifest::from_path(p)?,
        None => argus_sam::builtin_manifest(model)?,
    };
    // Fetches missing files (file:// or http(s)://), with progress on stderr.
    let mut last = std::time::Instant::now();
    let paths = ModelStore::default_location()?.ensure(&manifest, &mut |p| {
        if last.elapsed() >= std::time::Duration::from_secs(1) {
            last = std::time::Instant::now();
            match p.total {
                Some(t) if t > 0 => eprintln!("downloading {}: {:.0}%", p.file, p.downloaded as f64 * 100.0 / t as f64),
                _ => eprintln!("downloading {}: {:.1} MB", p.file, p.downloaded as f64 / 1e6),
            }
        }
        true
    })?;
    let mut source = VideoSource::open(path, SourceOptions::default())?;
    let decoded = source.frame(frame, FrameRequest::RGBA)?;
    let rgba = decoded.to_rgba_packed().ok_or_else(|| anyhow!("the decoder returned no RGBA pixels"))?;
    let (rgba, width, height) = argus_media::rotate_rgba(rgba, decoded.width, decoded.height, rotation);
    let sam = SamModel::load(&manifest, &paths.encoder, &paths.decoder, LoadOptions::default())?;
    let image = argus_sam::ImageView::packed(&rgba, width, height, argus_sam::PixelFormat::Rgba8)?;
    let embedding = sam.encode(&image)?;
    let prediction = sam.predict(&embedding, &prompt)?;
    let score = prediction.candidates().first().map_or(0.0, |c| c.iou);
    Ok(Segmented { mask: prediction.best_mask()?, score, model: manifest.id.clone(), provider: sam.provider().active })
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
