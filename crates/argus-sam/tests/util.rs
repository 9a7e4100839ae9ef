//! Shared helpers for the argus-sam integration tests: the Python used to
//! build the test models, generated frames with known shapes, a tiny HTTP
//! server with Range support, and mask comparison.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argus_core::Rle;
use argus_sam::download::{ModelPaths, ModelStore};
use argus_sam::{LoadOptions, Manifest, SamModel};

pub type TestResult = Result<(), libtest_mimic::Failed>;

pub use argus_testkit::{ensure, python};

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}


/// Whether `python` can import all `modules`; the error says what is missing.
pub fn python_has(modules: &str) -> Result<(), String> {
    let py = python();
    let out = Command::new(&py)
        .arg("-c")
        .arg(format!("import {modules}"))
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{} cannot import {modules} ({}); set ARGUS_PYTHON to the project venv's python",
            py.display(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => Err(format!(
            "no python at {} ({e}); set ARGUS_PYTHON",
            py.display()
        )),
    }
}

/// Runs a script from `scripts/` with the test python.
pub fn run_script(script: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(python())
        .arg(crate_dir().join("scripts").join(script))
        .args(args)
        .output()
        .map_err(|e| format!("running {script}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The generated test models (built once per process), or why they are not available.
pub struct TestModels {
    pub dir: PathBuf,
    pub sam1: Manifest,
    pub sam2: Manifest,
    /// SAM contract with a raw-pixel HWC encoder (samexporter `--use-preprocess`).
    pub sam1x: Manifest,
    /// SAM 2 as samexporter exports it: no `orig_im_size`, low-res `masks`.
    pub sam2x: Manifest,
    /// SAM's decoder without the in-graph upscale (no `orig_im_size`, low-res
    /// `masks`), as export_mobile_sam.py exports MobileSAM's; otherwise `sam1`.
    pub sam1lr: Manifest,
}

pub fn test_models() -> Result<&'static TestModels, String> {
    static MODELS: OnceLock<Result<TestModels, String>> = OnceLock::new();
    MODELS
        .get_or_init(|| {
            python_has("onnx, numpy")?;
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("argus-sam-models-{}", std::process::id()));
            run_script(
                "make_test_model.py",
                &[dir.to_str().ok_or("non-UTF-8 target dir")?],
            )?;
            let read = |name: &str| Manifest::from_path(&dir.join(name)).map_err(|e| e.to_string());
            let (sam1, sam2) = (read("sam1.toml")?, read("sam2.toml")?);
            let (sam1x, sam2x) = (read("sam1x.toml")?, read("sam2x.toml")?);
            let sam1lr = read("sam1lr.toml")?;
            Ok(TestModels {
                dir,
                sam1,
                sam2,
                sam1x,
                sam2x,
                sam1lr,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Whether ONNX Runtime loads.
pub fn runtime() -> Result<(), String> {
    argus_sam::runtime::environment()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A model under test: its manifest and its files.
pub struct Subject {
    pub manifest: Manifest,
    pub paths: ModelPaths,
}

impl Subject {
    /// A generated test model, downloaded (file://) into its own store.
    pub fn generated(manifest: &Manifest) -> Result<Self, String> {
        let models = test_models()?;
        let store = ModelStore::new(models.dir.join(format!("store-{}", manifest.id)));
        let paths = store
            .ensure(manifest, &mut |_| true)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            manifest: manifest.clone(),
            paths,
        })
    }

    /// A real model present in the model cache (`ARGUS_MODEL_DIR`, else the
    /// user cache; `make real-model` puts MobileSAM there).
    pub fn cached(manifest: &Manifest) -> Result<Self, String> {
        let paths = ModelStore::default_location()
            .and_then(|s| s.locate(manifest))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            manifest: manifest.clone(),
            paths,
        })
    }

    pub fn load(&self, options: LoadOptions) -> Result<SamModel, String> {
        SamModel::load(
            &self.manifest,
            &self.paths.encoder,
            &self.paths.decoder,
            options,
        )
        .map_err(|e| e.to_string())
    }

    /// The same model with the decoder the reference pipeline runs
    /// ([`argus_sam::download::ModelPaths::reference_decoder`]).
    pub fn reference(&self) -> Self {
        Self {
            manifest: self.manifest.clone(),
            paths: ModelPaths {
                encoder: self.paths.encoder.clone(),
                decoder: self.paths.reference_decoder(),
            },
        }
    }

    pub fn id(&self) -> &str {
        &self.manifest.id
    }
}

/// Downloads (file://) a test model into its own store and loads it.
pub fn load(manifest: &Manifest, options: LoadOptions) -> Result<SamModel, String> {
    Subject::generated(manifest)?.load(options)
}

pub fn single_thread() -> LoadOptions {
    LoadOptions {
        intra_threads: Some(1),
        ..LoadOptions::default()
    }
}

/// An RGB frame with shapes drawn on it and their ground-truth masks.
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

pub const GRAY: [u8; 3] = [128, 128, 128];

impl Frame {
    pub fn new(width: u32, height: u32) -> Self {
        let rgb = GRAY
            .iter()
            .copied()
            .cycle()
            .take((width * height * 3) as usize)
            .collect();
        Self { width, height, rgb }
    }

    /// Paints the pixels where `inside(x, y)` with `color`; returns that ground truth.
    pub fn paint(&mut self, color: [u8; 3], inside: impl Fn(f64, f64) -> bool) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut gt = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                if inside(x as f64 + 0.5, y as f64 + 0.5) {
                    let p = (y * w + x) * 3;
                    self.rgb[p..p + 3].copy_from_slice(&color);
                    gt[y * w + x] = 1;
                }
            }
        }
        gt
    }

    pub fn view(&self) -> argus_sam::ImageView<'_> {
        argus_sam::ImageView::packed(
            &self.rgb,
            self.width,
            self.height,
            argus_sam::PixelFormat::Rgb8,
        )
        .unwrap_or_else(|e| panic!("test frame is valid: {e}"))
    }
}

pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> impl Fn(f64, f64) -> bool {
    move |x, y| x >= x0 && x < x1 && y >= y0 && y < y1
}

pub fn ellipse(cx: f64, cy: f64, rx: f64, ry: f64) -> impl Fn(f64, f64) -> bool {
    move |x, y| ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) < 1.0
}

/// Triangle with apex at the top.
pub fn triangle(cx: f64, top: f64, base: f64, height: f64) -> impl Fn(f64, f64) -> bool {
    move |x, y| y >= top && y < top + height && (x - cx).abs() < (y - top) / height * base / 2.0
}

/// IoU of an RLE mask with a row-major 0/1 ground truth.
pub fn iou(mask: &Rle, gt: &[u8]) -> f64 {
    let m = mask.to_bitmap_row_major();
    let inter = m
        .iter()
        .zip(gt)
        .filter(|(a, b)| **a != 0 && **b != 0)
        .count();
    let union = m
        .iter()
        .zip(gt)
        .filter(|(a, b)| **a != 0 || **b != 0)
        .count();
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// Fraction of the ground truth covered by the mask.
pub fn coverage(mask: &Rle, gt: &[u8]) -> f64 {
    let m = mask.to_bitmap_row_major();
    let inter = m
        .iter()
        .zip(gt)
        .filter(|(a, b)| **a != 0 && **b != 0)
        .count();
    let total = gt.iter().filter(|b| **b != 0).count();
    inter as f64 / total.max(1) as f64
}

pub fn union(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x | y).collect()
}

/// A one-file HTTP/1.1 server on 127.0.0.1:0 that honours `Range: bytes=N-`.
/// It can cut the first response short to simulate a dropped connection.
pub struct Server {
    pub url: String,
    pub range_requests: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
}

pub fn serve(body: Vec<u8>, path: &str, cut_first_after: Option<usize>) -> Server {
    let listener =
        TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind 127.0.0.1:0: {e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let range_requests = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (rr, rq) = (Arc::clone(&range_requests), Arc::clone(&requests));
    let want = format!("/{path}");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let n = rq.fetch_add(1, Ordering::SeqCst);
            let mut reader =
                BufReader::new(stream.try_clone().unwrap_or_else(|e| panic!("clone: {e}")));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut from = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    from = v.trim().trim_end_matches('-').parse().unwrap_or(0);
                    rr.fetch_add(1, Ordering::SeqCst);
                }
            }
            if target != want {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            let from = from.min(body.len());
            let rest = &body[from..];
            let head = if from > 0 {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {}-{}/{}\r\nConnection: close\r\n\r\n",
                    rest.len(),
                    from,
                    body.len() - 1,
                    body.len()
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    rest.len()
                )
            };
            let _ = stream.write_all(head.as_bytes());
            let send = match cut_first_after {
                Some(cut) if n == 0 => &rest[..cut.min(rest.len())],
                _ => rest,
            };
            let _ = stream.write_all(send);
            let _ = stream.flush();
            // drain nothing more; closing ends the response
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        }
    });
    Server {
        url: format!("http://127.0.0.1:{port}/{path}"),
        range_requests,
        requests,
    }
}

/// Writes raw tensors and an index for `reference_pipeline.py`.
pub fn write_tensors(
    dir: &Path,
    tensors: &[(&str, Vec<usize>, &str, Vec<u8>)],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut index = String::from("{");
    for (i, (name, shape, dtype, bytes)) in tensors.iter().enumerate() {
        std::fs::write(dir.join(format!("{name}.bin")), bytes)?;
        let shape: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        if i > 0 {
            index.push(',');
        }
        index.push_str(&format!(
            "\"{name}\":{{\"shape\":[{}],\"dtype\":\"{dtype}\",\"file\":\"{name}.bin\"}}",
            shape.join(",")
        ));
    }
    index.push('}');
    std::fs::write(dir.join("index.json"), index)
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
