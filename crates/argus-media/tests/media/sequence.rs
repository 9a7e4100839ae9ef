//! Still images as one video (`write_image_sequence`): every image decodes exactly as the ffmpeg
//! CLI decodes it alone, in any visiting order; lists whose images differ are refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use argus_media::{Error, IndexCache, SourceOptions, VideoSource, images_sha256, probe, write_image_sequence};
use libtest_mimic::Failed;

use crate::fixtures::cli_frames;

type TestResult = Result<(), Failed>;

/// Writes still `name` (format from its extension) of `size`, showing testsrc2 at second `t`.
fn still(dir: &Path, name: &str, size: &str, t: u32) -> Result<PathBuf, Failed> {
    let path = dir.join(name);
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=1,trim=start={t}"))
        .args(["-frames:v", "1"])
        .arg(&path)
        .output()?;
    if !out.status.success() {
        return Err(format!("ffmpeg could not write {name}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(path)
}

fn shuffled(n: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    let mut s = 0x9e37_79b9_u64;
    for i in (1..v.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

fn check_exact(ext: &str) -> TestResult {
    let tmp = tempfile::tempdir()?;
    // Names with a quote, a space and non-ASCII letters: the list must quote them.
    let names = ["a.EXT", "it's b.EXT", "c ü.EXT", "d.EXT", "e.EXT", "f.EXT"];
    let mut images = Vec::new();
    for (i, n) in names.iter().enumerate() {
        images.push(still(tmp.path(), &n.replace("EXT", ext), "96x64", i as u32 + 1)?);
    }
    let list = tmp.path().join("list").join("seq.ffconcat");
    let seq = write_image_sequence(&list, &images)?;
    if (seq.width, seq.height, seq.frame_count) != (96, 64, 6) {
        return Err(format!("sequence {seq:?}").into());
    }
    if seq.content_sha256 != images_sha256(&images)? {
        return Err("content hash is not the images' hash".into());
    }
    let info = probe(&list)?;
    let v = info.video.ok_or("no video stream")?;
    if (v.width, v.height) != (96, 64) {
        return Err(format!("probed {}x{}", v.width, v.height).into());
    }
    let cache = tempfile::tempdir()?;
    let options = SourceOptions { index_cache: Some(IndexCache::new(cache.path())), ..SourceOptions::default() };
    let mut src = VideoSource::open(&list, options)?;
    if src.frame_count() != 6 || src.index().keyframes.len() != 6 {
        return Err(format!("{} frames, {} keyframes", src.frame_count(), src.index().keyframes.len()).into());
    }
    if src.index().content_sha256 != seq.content_sha256 {
        return Err("the index is not keyed by the images' hash".into());
    }
    let reference: Vec<Vec<u8>> = images.iter().map(|p| cli_frames(p, "rgba", None)).collect::<Result<_, _>>()?;
    let mut order = shuffled(6);
    order.extend((0..6).rev());
    order.extend(0..6);
    for n in order {
        src.clear_cache();
        let frame = src.frame(n, argus_media::FrameRequest::RGBA)?;
        let plane = frame.planes.first().ok_or("no plane")?;
        let ours: Vec<u8> = plane.rows().flatten().copied().collect();
        let theirs = reference.get(n as usize).ok_or("no reference")?;
        if ours != *theirs {
            return Err(format!("frame {n} differs from `ffmpeg -i {}`", images[n as usize].display()).into());
        }
    }
    // The same images listed elsewhere are the same content.
    let again = write_image_sequence(&tmp.path().join("other.ffconcat"), &images)?;
    if again.content_sha256 != seq.content_sha256 {
        return Err("the same images hash differently".into());
    }
    Ok(())
}

pub fn check_png() -> TestResult {
    check_exact("png")
}

pub fn check_jpeg() -> TestResult {
    check_exact("jpg")
}

pub fn check_mixed_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let a = still(tmp.path(), "a.png", "96x64", 1)?;
    let b = still(tmp.path(), "b.png", "80x64", 2)?;
    let c = still(tmp.path(), "c.jpg", "96x64", 3)?;
    let list = tmp.path().join("seq.ffconcat");
    match write_image_sequence(&list, &[a.clone(), b.clone()]) {
        Err(e @ Error::ImageSizeMismatch { .. }) => {
            let msg = e.to_string();
            if !(msg.contains("80x64") && msg.contains("96x64") && msg.contains("b.png") && msg.contains("a.png")) {
                return Err(format!("message names neither file or size: {msg}").into());
            }
        }
        other => return Err(format!("mixed sizes: {other:?}").into()),
    }
    match write_image_sequence(&list, &[a.clone(), c]) {
        Err(Error::ImageFormatMismatch { .. }) => {}
        other => return Err(format!("mixed formats: {other:?}").into()),
    }
    match write_image_sequence(&list, &[a, tmp.path().join("missing.png")]) {
        Err(Error::NotFound { .. }) => {}
        other => return Err(format!("missing image: {other:?}").into()),
    }
    if list.exists() {
        return Err("a refused list was written".into());
    }
    Ok(())
}
