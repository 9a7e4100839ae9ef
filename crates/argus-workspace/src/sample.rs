//! The sample project an installed Argus opens on its first start, so that
//! a newcomer can click with SAM at once, offline, with no developer tools.
//!
//! The packages carry a sample folder (`make dist` fills it with what
//! `scripts/sample-project` uses in a checkout):
//!
//! ```text
//! <prefix>/share/argus/sample/
//!     street-sample.mp4        the generated video of moving coloured boxes
//!     big-buck-bunny.mp4       the real clip (optional; CC BY 3.0, see the licence file)
//!     model/sam1.toml          the small SAM-contract model's manifest
//!     model/*.onnx             its encoder and decoder
//! ```
//!
//! [`Workspace::seed_sample`] copies it into the data folder (`sample/`, as
//! `scripts/sample-project` lays it out, so the store's video paths do not
//! depend on the package staying where it is), puts the model's files into
//! the model store (checked against the manifest's sha256), and, only when
//! the store has no project yet, creates the project "Sample" with the same
//! labels and attributes as the script and imports the videos (the real clip
//! first: the app opens a project's first video). The app finds the folder
//! with [`packaged_sample_dir`]: `ARGUS_SAMPLE_DIR`, else
//! `<exe>/../share/argus/sample`. A checkout has neither, so `make run` goes
//! on seeding with the script.

use std::path::{Path, PathBuf};

use argus_core::model::{AttributeKind, AttributeSpec, Colour, Label, ShapeKind};
use argus_sam::Manifest;
use argus_sam::download::ModelStore;

use crate::Workspace;
use crate::dto::{ImportProgress, VideoSummary};
use crate::error::{CommandError, CommandResult};

/// The environment variable that names the sample folder (tests, and
/// layouts other than the packages').
pub const SAMPLE_DIR_ENV: &str = "ARGUS_SAMPLE_DIR";
/// The project the sample becomes.
pub const PROJECT_NAME: &str = "Sample";
/// The generated video, which every sample has.
pub const GENERATED_VIDEO: &str = "street-sample.mp4";
/// The real clip, when the sample has it.
pub const REAL_CLIP: &str = "big-buck-bunny.mp4";
/// The model's manifest, relative to the sample folder.
pub const MODEL_MANIFEST: &str = "model/sam1.toml";
/// Where the sample lives in the data folder.
pub const DATA_SUBDIR: &str = "sample";

/// The sample folder relative to an installed executable: `<exe
/// dir>/../share/argus/sample` (`/usr/bin/argus` finds
/// `/usr/share/argus/sample`).
pub fn sample_dir_beside(exe: &Path) -> Option<PathBuf> {
    let prefix = exe.parent()?.parent()?;
    Some(prefix.join("share").join("argus").join("sample"))
}

/// The packaged sample folder: [`SAMPLE_DIR_ENV`] when set (empty: none),
/// else the one beside the running executable when it exists.
pub fn packaged_sample_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(SAMPLE_DIR_ENV) {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    sample_dir_beside(&exe).filter(|d| d.join(MODEL_MANIFEST).is_file())
}

/// What [`Workspace::seed_sample`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Seeded {
    /// The sample model's manifest in the data folder: what the app loads at
    /// start when nothing else is asked for.
    pub manifest: PathBuf,
    /// The project and videos created now; `None` when the store already had
    /// a project (nothing was created).
    pub created: Option<(String, Vec<VideoSummary>)>,
}

/// The sample project's labels: the same schema `scripts/sample-project`
/// gives it.
pub fn sample_labels() -> Vec<Label> {
    use ShapeKind::{BBox, Mask, Points, Polygon, Polyline};
    let label = |i: usize, name: &str, kinds: &[ShapeKind], attributes: Vec<AttributeSpec>| {
        let mut l = Label::new(name, Colour::palette(i)).with_kinds(kinds);
        l.attributes = attributes;
        l
    };
    let attr = |name: &str, kind: AttributeKind, per_frame: bool| AttributeSpec {
        name: name.to_owned(),
        kind,
        per_frame,
    };
    let options = |o: &[&str]| AttributeKind::Enum {
        options: o.iter().map(|s| (*s).to_owned()).collect(),
        default: o[0].to_owned(),
    };
    vec![
        label(
            0,
            "car",
            &[Mask, Polygon, BBox],
            vec![
                attr("parked", AttributeKind::Bool { default: false }, false),
                attr("colour", options(&["red", "green", "yellow", "other"]), false),
            ],
        ),
        label(
            1,
            "person",
            &[Mask, Polygon, BBox, Points],
            vec![attr("pose", options(&["standing", "walking", "sitting"]), true)],
        ),
        label(
            2,
            "sign",
            &[Mask, Polygon, BBox],
            vec![attr("text", AttributeKind::Text { default: String::new() }, false)],
        ),
        label(3, "lane", &[Polyline, Points], vec![]),
    ]
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> CommandError {
    CommandError::internal(format!("the sample project: {what} failed ({e}): {}", path.display()))
}

/// Copies `from` to `to` unless `to` already has the same length, through
/// a temporary file, so an interrupted copy is never taken for the file.
fn copy_file(from: &Path, to: &Path) -> CommandResult<()> {
    let len = std::fs::metadata(from)
        .map_err(|e| io_error("reading", from, e))?
        .len();
    if std::fs::metadata(to).is_ok_and(|m| m.len() == len) {
        return Ok(());
    }
    let part = to.with_extension("part");
    std::fs::copy(from, &part).map_err(|e| io_error("copying", from, e))?;
    std::fs::rename(&part, to).map_err(|e| io_error("renaming", &part, e))
}

/// The file a packaged model file comes from: the manifest's file name in
/// the model folder, else the last part of its first `file://` URL there
/// (the generator's name, which `make dist` keeps).
fn packaged_model_file(model_dir: &Path, file: &argus_sam::manifest::ModelFile) -> Option<PathBuf> {
    let by_name = model_dir.join(&file.file);
    if by_name.is_file() {
        return Some(by_name);
    }
    file.urls
        .iter()
        .filter_map(|u| u.strip_prefix("file://"))
        .filter_map(|p| Path::new(p).file_name())
        .map(|n| model_dir.join(n))
        .find(|p| p.is_file())
}

impl Workspace {
    /// Seeds the data folder from the packaged sample folder `from` (see the
    /// module's documentation): the files every time they are missing, the
    /// project only when the store has none. Checks the sample before it
    /// creates anything, so a broken sample leaves no half-made project.
    pub async fn seed_sample(&self, from: &Path) -> CommandResult<Seeded> {
        let manifest_src = from.join(MODEL_MANIFEST);
        let generated_src = from.join(GENERATED_VIDEO);
        for needed in [&manifest_src, &generated_src] {
            if !needed.is_file() {
                return Err(CommandError::not_found(format!(
                    "the sample folder {} has no {}: {}",
                    from.display(),
                    needed.strip_prefix(from).unwrap_or(needed).display(),
                    needed.display()
                )));
            }
        }
        let manifest = Manifest::from_path(&manifest_src)?;

        // The model: its manifest beside the sample's videos, its files in
        // the model store, where loading it finds them verified.
        let dest = self.data_dir().join(DATA_SUBDIR);
        let model_dest = dest.join("model");
        std::fs::create_dir_all(&model_dest).map_err(|e| io_error("creating", &model_dest, e))?;
        let model_src = manifest_src.parent().unwrap_or(from);
        let models = ModelStore::new(self.data_dir().join("models"));
        let model_dir = models.root().join(&manifest.id);
        std::fs::create_dir_all(&model_dir).map_err(|e| io_error("creating", &model_dir, e))?;
        for f in manifest.files() {
            let src = packaged_model_file(model_src, f).ok_or_else(|| {
                CommandError::not_found(format!(
                    "the sample model has no file {} (nor the one its URL names): {}",
                    f.file,
                    model_src.display()
                ))
            })?;
            let to = models.path(&manifest, f);
            copy_file(&src, &to)?;
            if let Some(want) = &f.sha256 {
                let got = argus_sam::download::sha256_file(&to)?;
                if got != *want {
                    // Not kept: the next start copies it again.
                    let _ = std::fs::remove_file(&to);
                    return Err(CommandError::invalid(format!(
                        "the sample model's {} has sha256 {got}, but its manifest pins {want}: {}",
                        f.file,
                        src.display()
                    )));
                }
            }
        }
        let manifest_dest = dest.join(MODEL_MANIFEST);
        copy_file(&manifest_src, &manifest_dest)?;

        if !self.store().projects().await?.is_empty() {
            return Ok(Seeded {
                manifest: manifest_dest,
                created: None,
            });
        }

        // The videos, the real clip first when there is one.
        let mut videos = Vec::new();
        for name in [REAL_CLIP, GENERATED_VIDEO] {
            let src = from.join(name);
            if src.is_file() {
                let to = dest.join(name);
                copy_file(&src, &to)?;
                videos.push(to);
            }
        }
        let (project, _) = self
            .store()
            .create_project(PROJECT_NAME, sample_labels())
            .await?;
        let project_id = project.id.to_string();
        let mut imported = Vec::new();
        for video in &videos {
            let path = video.to_string_lossy();
            imported.push(
                self.import_video(&project_id, &path, |_: ImportProgress| {})
                    .await?,
            );
        }
        tracing::info!(
            "seeded the sample project ({} video(s)) from {}",
            imported.len(),
            from.display()
        );
        Ok(Seeded {
            manifest: manifest_dest,
            created: Some((project_id, imported)),
        })
    }
}

impl Workspace {
    /// What the app does at start when it has a packaged sample folder
    /// `from`: [`seed_sample`](Self::seed_sample), and the sample model's
    /// manifest becomes the model to load at start
    /// ([`Workspace::startup_sam_manifest`]), which the page loads while it
    /// opens the project (loading it here would hold the window back by
    /// ONNX Runtime's and the model's load). Nothing here stops the app from
    /// opening: a failure is logged, and the page shows that no model is loaded.
    pub async fn start_with_sample(&self, from: &Path) {
        match self.seed_sample(from).await {
            Ok(seeded) => self.set_startup_sam_manifest(seeded.manifest.to_string_lossy().into_owned()),
            Err(e) => tracing::warn!("the sample project could not be set up: {e}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use argus_sam::download::sha256_file;

    /// A packaged sample folder: the test video as the generated video, and
    /// a model manifest whose two files are named as the generator names
    /// them (its URLs), not as the store keeps them.
    fn packaged(root: &Path) -> PathBuf {
        let dir = root.join("share/argus/sample");
        std::fs::create_dir_all(dir.join("model")).unwrap();
        let video = argus_testkit::make_video(root).unwrap();
        std::fs::copy(video, dir.join(GENERATED_VIDEO)).unwrap();
        let (enc, dec) = (dir.join("model/t_encoder.onnx"), dir.join("model/t_decoder.onnx"));
        std::fs::write(&enc, b"encoder bytes").unwrap();
        std::fs::write(&dec, b"decoder bytes").unwrap();
        let manifest = format!(
            r#"id = "argus-test-sample"
name = "a test model"
family = "test"
contract = "sam"
input_size = 1024
resize = "longest_side"
pixel_mean = [123.675, 116.28, 103.53]
pixel_std = [58.395, 57.12, 57.375]
licence = "Apache-2.0"

[encoder]
file = "argus-test-sample-encoder.onnx"
sha256 = "{}"
urls = ["file:///usr/share/argus/sample/model/t_encoder.onnx"]

[decoder]
file = "argus-test-sample-decoder.onnx"
sha256 = "{}"
urls = ["file:///usr/share/argus/sample/model/t_decoder.onnx"]
"#,
            sha256_file(&enc).unwrap(),
            sha256_file(&dec).unwrap()
        );
        std::fs::write(dir.join(MODEL_MANIFEST), manifest).unwrap();
        dir
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn the_sample_folder_is_found_beside_an_installed_executable() {
        assert_eq!(
            sample_dir_beside(Path::new("/usr/bin/argus")),
            Some(PathBuf::from("/usr/share/argus/sample"))
        );
        assert_eq!(
            sample_dir_beside(Path::new("/tmp/root/usr/bin/argus")),
            Some(PathBuf::from("/tmp/root/usr/share/argus/sample"))
        );
        assert_eq!(sample_dir_beside(Path::new("argus")), None);
    }

    #[test]
    fn seeds_the_project_once_and_the_model_files_every_time() {
        let tmp = tempfile::tempdir().unwrap();
        let from = packaged(tmp.path());
        let rt = runtime();
        let data = tmp.path().join("data");
        let ws = rt.block_on(Workspace::open(&data)).unwrap();

        let first = rt.block_on(ws.seed_sample(&from)).unwrap();
        assert_eq!(first.manifest, data.join("sample").join(MODEL_MANIFEST));
        assert!(first.manifest.is_file());
        let (project_id, videos) = first.created.clone().unwrap();
        assert_eq!(videos.len(), 1, "the sample has the generated video only");
        assert_eq!(videos[0].name, GENERATED_VIDEO);
        // The video is the data folder's copy, not the package's.
        assert!(data.join("sample").join(GENERATED_VIDEO).is_file());

        let projects = rt.block_on(ws.list_projects()).unwrap();
        assert_eq!(projects.len(), 1);
        assert_eq!(projects[0].name, PROJECT_NAME);
        assert_eq!(projects[0].id, project_id);
        let names: Vec<&str> = projects[0].labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["car", "person", "sign", "lane"]);

        // The model's files are in the store under the manifest's names, verified.
        let manifest = Manifest::from_path(&first.manifest).unwrap();
        let store = ModelStore::new(data.join("models"));
        let paths = store.locate(&manifest).unwrap();
        assert_eq!(std::fs::read(paths.encoder).unwrap(), b"encoder bytes");

        // A second start: no second project; a model file removed since is
        // put back.
        std::fs::remove_file(store.path(&manifest, &manifest.decoder)).unwrap();
        let again = rt.block_on(ws.seed_sample(&from)).unwrap();
        assert_eq!(again.created, None);
        assert_eq!(again.manifest, first.manifest);
        assert_eq!(rt.block_on(ws.list_projects()).unwrap().len(), 1);
        assert!(store.locate(&manifest).is_ok());
    }

    #[test]
    fn the_real_clip_is_the_first_video() {
        let tmp = tempfile::tempdir().unwrap();
        let from = packaged(tmp.path());
        // Another (valid) video as the real clip.
        let clip = argus_testkit::make_video_of(tmp.path(), 12).unwrap();
        std::fs::copy(clip, from.join(REAL_CLIP)).unwrap();
        let rt = runtime();
        let ws = rt.block_on(Workspace::open(&tmp.path().join("data"))).unwrap();
        let (project_id, videos) = rt.block_on(ws.seed_sample(&from)).unwrap().created.unwrap();
        let names: Vec<&str> = videos.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, [REAL_CLIP, GENERATED_VIDEO]);
        let detail = rt.block_on(ws.open_project(&project_id)).unwrap();
        assert_eq!(detail.videos[0].name, REAL_CLIP);
    }

    #[test]
    fn a_store_with_a_project_gets_no_sample_project() {
        let tmp = tempfile::tempdir().unwrap();
        let from = packaged(tmp.path());
        let rt = runtime();
        let ws = rt.block_on(Workspace::open(&tmp.path().join("data"))).unwrap();
        rt.block_on(ws.create_project("Mine", &["thing".to_owned()]))
            .unwrap();
        let seeded = rt.block_on(ws.seed_sample(&from)).unwrap();
        assert_eq!(seeded.created, None);
        let names: Vec<String> = rt
            .block_on(ws.list_projects())
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["Mine"]);
    }

    #[test]
    fn a_broken_sample_is_a_clear_error_and_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let from = packaged(tmp.path());
        let rt = runtime();
        let ws = rt.block_on(Workspace::open(&tmp.path().join("data"))).unwrap();

        // A model file whose bytes do not match the manifest's sha256.
        std::fs::write(from.join("model/t_decoder.onnx"), b"tampered").unwrap();
        let e = rt.block_on(ws.seed_sample(&from)).unwrap_err();
        assert!(e.message.contains("argus-test-sample-decoder.onnx"), "{e}");

        // No generated video.
        let from2 = packaged(&tmp.path().join("second"));
        std::fs::remove_file(from2.join(GENERATED_VIDEO)).unwrap();
        let e = rt.block_on(ws.seed_sample(&from2)).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::NotFound);
        assert!(e.message.contains(GENERATED_VIDEO), "{e}");

        // Nothing was created by either.
        assert!(rt.block_on(ws.list_projects()).unwrap().is_empty());
    }
}
