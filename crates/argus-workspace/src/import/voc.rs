//! Pascal VOC datasets (`Annotations/*.xml` with `JPEGImages/`) import as an
//! image-sequence video of their images: the order is
//! `ImageSets/Main/*.txt`'s when there is one, else the annotation files'
//! names; each object becomes a one-shape track with its mask from
//! `SegmentationObject/` when there is one, else its box.

use std::{fs, path::Path};

use argus_formats::{Report, voc};
use argus_store::Batch;

use super::{Target, Writer, stills};
use crate::{CommandError, CommandResult, Workspace, dto::TransferProgress, export::Cancel};

/// A VOC folder's images in order, each with its annotation file's
/// content (read on a blocking thread).
struct Parsed {
    images: Vec<(String, voc::VocImage)>,
    labels: Vec<String>,
    report: Report,
}

fn parse(root: &Path) -> CommandResult<Parsed> {
    let ann_dir = root.join("Annotations");
    let mut stems: Vec<String> = Vec::new();
    let sets = root.join("ImageSets").join("Main");
    if let Ok(entries) = fs::read_dir(&sets) {
        let mut lists: Vec<_> = entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "txt")).collect();
        lists.sort();
        for l in lists {
            // Class lists (`car_train.txt`) hold "<stem> 1/-1"; subset lists one stem a line.
            if let Ok(text) = fs::read_to_string(&l) {
                for line in text.lines() {
                    if let Some(stem) = line.split_whitespace().next()
                        && !stems.iter().any(|s| s == stem)
                    {
                        stems.push(stem.to_owned());
                    }
                }
            }
        }
    }
    if stems.is_empty() {
        let mut files: Vec<String> = fs::read_dir(&ann_dir)
            .map_err(|e| CommandError::invalid(format!("no Annotations folder ({e}): {}", ann_dir.display())))?
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".xml").map(str::to_owned))
            .collect();
        files.sort();
        stems = files;
    }
    let mut report = Report::default();
    let mut images = Vec::new();
    let mut labels: Vec<String> = fs::read_to_string(root.join("labelmap.txt")).map(|t| voc::read_labelmap(&t)).unwrap_or_default();
    for stem in stems {
        let rel = format!("Annotations/{stem}.xml");
        let bytes = match fs::read(root.join(&rel)) {
            Ok(b) => b,
            Err(e) => {
                report.skipped.push(argus_formats::Skipped { at: rel, reason: format!("cannot be read ({e})") });
                continue;
            }
        };
        match voc::read_annotation(&bytes, &rel, &mut report) {
            Ok(mut img) => {
                with_instance_masks(root, &stem, &mut img, &mut report);
                for (name, _) in &img.objects {
                    if !labels.iter().any(|l| l == name) {
                        labels.push(name.clone());
                    }
                }
                images.push((stem, img));
            }
            Err(e) => report.skipped.push(argus_formats::Skipped { at: rel, reason: e.to_string() }),
        }
    }
    Ok(Parsed { images, labels, report })
}

/// Objects become their masks where `SegmentationObject/<stem>.png` holds
/// them (index `k` is the `k`-th object); the others keep their boxes.
fn with_instance_masks(root: &Path, stem: &str, img: &mut voc::VocImage, report: &mut Report) {
    let rel = format!("SegmentationObject/{stem}.png");
    let Ok(bytes) = fs::read(root.join(&rel)) else { return };
    match voc::read_instance_png(&bytes, img.width, img.height) {
        Ok(masks) => {
            for (k, mask) in masks {
                match img.objects.get_mut(usize::from(k) - 1) {
                    Some((_, a)) => a.geometry = argus_core::model::Geometry::Mask(mask),
                    None => report.skipped.push(argus_formats::Skipped {
                        at: format!("{rel}, instance {k}"),
                        reason: format!("the annotation file has {} object(s); the mask has no object to go with", img.objects.len()),
                    }),
                }
            }
        }
        Err(reason) => report.skipped.push(argus_formats::Skipped { at: rel, reason: format!("{reason}; its objects keep their boxes") }),
    }
}

impl Workspace {
    /// Imports the VOC folder `root` (see the module docs) as one undo step.
    pub(super) async fn import_voc(
        &self,
        target: &mut Target,
        project: argus_core::id::ProjectId,
        root: &Path,
        create_labels: bool,
        progress: &(dyn Fn(TransferProgress) + Send + Sync),
        cancel: &Cancel,
    ) -> CommandResult<Report> {
        let dir = root.to_path_buf();
        let parsed = self.blocking(move |_| parse(&dir)).await?;
        if create_labels {
            self.add_missing_labels(target, project, parsed.labels.iter().map(|n| (n.as_str(), None))).await?;
        }
        let jpegs = [root.join("JPEGImages")];
        let found: Vec<stills::Found> = parsed
            .images
            .iter()
            .map(|(stem, img)| {
                let name = if img.file_name.is_empty() { format!("{stem}.jpg") } else { img.file_name.clone() };
                stills::Found { key: stem.clone(), path: stills::locate(&jpegs, &name), name }
            })
            .collect();
        let s = self.stills_into(target, project, &stills::dataset_name(root), found, progress).await?;
        let mut report = parsed.report;
        report.skipped.extend(s.skipped.iter().cloned());
        let summary = format!("import {}", root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let actor = target.actor;
        let target = &*target;
        let images = parsed.images;
        // The files were read above: nothing is left to read.
        let reader = tokio::task::spawn_blocking(|| Ok::<(), CommandError>(()));
        let (w, (), frames) = self
            .import_batch(project, actor, &summary, cancel, reader, async |batch: &mut Batch<'_>, w: &mut Writer| {
                let mut frames = 0u64;
                for (n, (stem, img)) in images.into_iter().enumerate() {
                    let (vi, frame) = match s.place(&stem) {
                        Ok(p) => p,
                        Err(reason) => {
                            for (i, _) in img.objects.iter().enumerate() {
                                w.skip(format!("Annotations/{stem}.xml, object {}", i + 1), reason.clone());
                            }
                            continue;
                        }
                    };
                    frames += 1;
                    let video = &target.videos[vi];
                    for (i, (name, a)) in img.objects.into_iter().enumerate() {
                        let at = format!("Annotations/{stem}.xml, object {}", i + 1);
                        let Some(label) = target.label(&name) else {
                            w.skip(at, format!("label '{name}' is not in the project; add it, or import with labels created"));
                            continue;
                        };
                        w.add(at, video, frame, label, None, a, actor);
                    }
                    cancel.check()?;
                    w.flush(batch, false).await?;
                    if n % 64 == 0 {
                        progress(TransferProgress { stage: "images".into(), done: n as u64 + 1, total: 0 });
                    }
                }
                Ok(frames)
            })
            .await?;
        let mut out = w.report;
        out.skipped.splice(0..0, report.skipped);
        out.images = frames;
        Ok(out)
    }
}
