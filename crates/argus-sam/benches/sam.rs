//! `cargo bench -p argus-sam --bench sam`: click-to-mask and encode times on a
//! 1920x1080 frame, against the Python pipeline X-AnyLabeling uses
//! (onnxruntime + numpy + OpenCV, scripts/reference_pipeline.py), with the same
//! model and thread settings, measured in the same run.
//!
//! The models: the generated SAM-contract test model (figures `sam.*`), then
//! every real model of the built-in manifests present in the model cache
//! (figures `sam.<id>.*`, e.g. `sam.mobile-sam.*` after `make real-model`).
//! `ARGUS_SAM_BENCH_MODEL` names one built-in model to measure alone.
//! Threads: `ARGUS_SAM_BENCH_THREADS` (default 1).
//! With `--features cuda` on an NVIDIA machine the CUDA figures are added.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use argus_sam::download::ModelStore;
use argus_sam::{ImageView, LoadOptions, Manifest, PixelFormat, Prompt, ProviderChoice, SamModel};

const W: u32 = 1920;
const H: u32 = 1080;

fn main() {
    if let Err(e) = run() {
        eprintln!("sam bench failed: {e}");
        std::process::exit(1);
    }
}

fn python() -> PathBuf {
    std::env::var_os("ARGUS_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into())
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

/// A model to measure: the prefix of its figures, its manifest and files.
type Subject = (String, Manifest, PathBuf, PathBuf);

fn subjects() -> Result<Vec<Subject>, String> {
    let cached = |m: Manifest| -> Result<Subject, String> {
        let p = ModelStore::default_location()
            .and_then(|s| s.locate(&m))
            .map_err(|e| e.to_string())?;
        Ok((format!("sam.{}.", m.id), m, p.encoder, p.decoder))
    };
    if let Some(id) = std::env::var("ARGUS_SAM_BENCH_MODEL")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return Ok(vec![cached(
            argus_sam::builtin_manifest(&id).map_err(|e| e.to_string())?,
        )?]);
    }
    let (m, enc, dec) = test_model()?;
    let mut all = vec![("sam.".to_owned(), m, enc, dec)];
    for m in argus_sam::builtin_manifests() {
        let id = m.id.clone();
        match cached(m) {
            Ok(s) => all.push(s),
            Err(_) => eprintln!("real model {id}: not in the model cache, not measured"),
        }
    }
    Ok(all)
}

fn test_model() -> Result<(Manifest, PathBuf, PathBuf), String> {
    let dir = std::env::temp_dir().join(format!("argus-sam-bench-{}", std::process::id()));
    let out = Command::new(python())
        .arg(scripts().join("make_test_model.py"))
        .arg(&dir)
        .output()
        .map_err(|e| format!("running make_test_model.py: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "make_test_model.py failed (set ARGUS_PYTHON): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let m = Manifest::from_path(&dir.join("sam1.toml")).map_err(|e| e.to_string())?;
    let p = ModelStore::new(dir.join("store"))
        .ensure(&m, &mut |_| true)
        .map_err(|e| e.to_string())?;
    Ok((m, p.encoder, p.decoder))
}

/// Same frame as `synthetic_frame` in reference_pipeline.py.
fn frame() -> Vec<u8> {
    let (w, h) = (W as usize, H as usize);
    let (cx, cy, r) = (w as i64 / 2, h as i64 / 2, w.min(h) as i64 / 4);
    let mut rgb = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let p = (y * w + x) * 3;
            let (dx, dy) = (x as i64 - cx, y as i64 - cy);
            let px = if dx * dx + dy * dy < r * r {
                [230, 40, 40]
            } else {
                [(x * 255 / (w - 1)) as u8, (y * 255 / (h - 1)) as u8, 96]
            };
            rgb[p..p + 3].copy_from_slice(&px);
        }
    }
    rgb
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((s.len() as f64 - 1.0) * p).round() as usize;
    s.get(i).copied().unwrap_or(f64::NAN)
}

#[derive(Default)]
struct Figures {
    encode_ms: Vec<f64>,
    click_ms: Vec<f64>,
    /// Upsampling + thresholding + RLE of the chosen mask (Rust side only).
    rle_ms: Vec<f64>,
    /// Pre-processing alone (Rust side only).
    pre_ms: Vec<f64>,
}

impl Figures {
    fn extend(&mut self, other: Figures) {
        self.encode_ms.extend(other.encode_ms);
        self.click_ms.extend(other.click_ms);
        self.rle_ms.extend(other.rle_ms);
        self.pre_ms.extend(other.pre_ms);
    }
}

/// `iters` encodes and `4 * iters` clicks.
fn measure(model: &SamModel, rgb: &[u8], iters: usize) -> Result<Figures, String> {
    let view = ImageView::packed(rgb, W, H, PixelFormat::Rgb8).map_err(|e| e.to_string())?;
    let mut e = model.encode(&view).map_err(|e| e.to_string())?; // warm-up
    let mut encode_ms = Vec::new();
    let mut pre_ms = Vec::new();
    for _ in 0..iters {
        let t = Instant::now();
        let (input, transform) = model.preprocess(&view).map_err(|e| e.to_string())?;
        pre_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        e = model
            .encode_tensor(&input, transform)
            .map_err(|e| e.to_string())?;
        encode_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (click_ms, rle_ms) = clicks(model, &e, iters * 4)?;
    Ok(Figures {
        encode_ms,
        click_ms,
        rle_ms,
        pre_ms,
    })
}

/// `n` clicks near the frame's centre: click-to-mask times and, within them,
/// the upscaling + thresholding + RLE of the chosen mask.
fn clicks(
    model: &SamModel,
    e: &argus_sam::Embedding,
    n: usize,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let (cx, cy) = (f64::from(W) / 2.0, f64::from(H) / 2.0);
    model
        .predict(e, &Prompt::click(cx, cy))
        .and_then(|p| p.best_mask())
        .map_err(|e| e.to_string())?;
    let mut click_ms = Vec::new();
    let mut rle_ms = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        let prediction = model.predict(e, &Prompt::click(cx + (i % 7) as f64, cy));
        let t_rle = Instant::now();
        let mask = prediction.and_then(|p| p.best_mask());
        click_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        rle_ms.push(t_rle.elapsed().as_secs_f64() * 1000.0);
        let mask = mask.map_err(|e| e.to_string())?;
        if mask.area() == 0 {
            return Err("the click produced an empty mask".into());
        }
    }
    Ok((click_ms, rle_ms))
}

fn python_figures(
    m: &Manifest,
    enc: &Path,
    dec: &Path,
    iters: usize,
    threads: usize,
) -> Result<Figures, String> {
    let json_path =
        std::env::temp_dir().join(format!("argus-sam-bench-{}.json", std::process::id()));
    let s = |p: &Path| p.display().to_string();
    let manifest = serde_json::json!({
        "encoder": s(enc), "decoder": s(dec),
        "contract": if m.contract == argus_sam::Contract::Sam2 { "sam2" } else { "sam" },
        "resize": if m.resize == argus_sam::manifest::ResizeMode::Stretch { "stretch" } else { "longest_side" },
        "mean": m.pixel_mean, "std": m.pixel_std, "input_size": m.input_size,
        "encoder_input": m.encoder.input.clone().unwrap_or_else(|| "image".into()),
    });
    std::fs::write(&json_path, manifest.to_string()).map_err(|e| e.to_string())?;
    let out = Command::new(python())
        .arg(scripts().join("reference_pipeline.py"))
        .args([
            "bench",
            &s(&json_path),
            &W.to_string(),
            &H.to_string(),
            &iters.to_string(),
            &threads.to_string(),
        ])
        .output()
        .map_err(|e| format!("running reference_pipeline.py: {e}"))?;
    let _ = std::fs::remove_file(&json_path);
    if !out.status.success() {
        return Err(format!(
            "reference_pipeline.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("bad python output: {e}"))?;
    let list = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default()
    };
    Ok(Figures {
        encode_ms: list("encode_ms"),
        click_ms: list("click_ms"),
        rle_ms: Vec::new(),
        pre_ms: Vec::new(),
    })
}

fn run() -> Result<(), String> {
    let threads: usize = std::env::var("ARGUS_SAM_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let iters: usize = std::env::var("ARGUS_SAM_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    for (prefix, manifest, enc, dec) in subjects()? {
        bench_model(&prefix, &manifest, &enc, &dec, threads, iters)?;
    }
    Ok(())
}

fn bench_model(
    prefix: &str,
    manifest: &Manifest,
    enc: &Path,
    dec: &Path,
    threads: usize,
    iters: usize,
) -> Result<(), String> {
    eprintln!(
        "model {} ({}), {threads} thread(s), about {iters} encodes / {} clicks per side, in 6 alternating rounds",
        manifest.id,
        manifest.contract.name(),
        iters * 4
    );
    let rgb = frame();

    let options = LoadOptions {
        provider: ProviderChoice::Cpu,
        intra_threads: Some(threads),
        ..LoadOptions::default()
    };
    let model = SamModel::load(manifest, enc, dec, options).map_err(|e| e.to_string())?;
    // Like for like: the decoder the Python pipeline runs (for MobileSAM from
    // `make real-model`, the full export kept in reference/), resizing all
    // masks to the frame in the graph, and Rust only thresholding.
    let reference = argus_sam::download::ModelPaths {
        encoder: enc.to_owned(),
        decoder: dec.to_owned(),
    }
    .reference_decoder();
    let like_options = LoadOptions {
        mask_upscale: argus_sam::MaskUpscale::Decoder,
        ..options
    };
    let like = SamModel::load(manifest, enc, &reference, like_options).map_err(|e| e.to_string())?;
    let view = ImageView::packed(&rgb, W, H, PixelFormat::Rgb8).map_err(|e| e.to_string())?;
    // Alternate Rust and Python rounds so that the load of the shared machine
    // drifting over time hits both sides alike.
    let rounds = 6;
    let per_round = iters.div_ceil(rounds).max(1);
    let mut rust = Figures::default();
    let mut like_ms = Vec::new();
    let mut py = Figures::default();
    for _ in 0..rounds {
        rust.extend(measure(&model, &rgb, per_round)?);
        let e = like.encode(&view).map_err(|e| e.to_string())?;
        like_ms.extend(clicks(&like, &e, per_round * 4)?.0);
        py.extend(python_figures(manifest, enc, &reference, per_round, threads)?);
    }

    let (click95, enc50) = (
        percentile(&rust.click_ms, 0.95),
        percentile(&rust.encode_ms, 0.5),
    );
    let (py_click95, py_enc50) = (
        percentile(&py.click_ms, 0.95),
        percentile(&py.encode_ms, 0.5),
    );
    println!("{prefix}click_to_mask_p95_1080p: {click95:.2} ms");
    println!(
        "{prefix}click_to_mask_p50_1080p: {:.2} ms",
        percentile(&rust.click_ms, 0.5)
    );
    println!(
        "{prefix}mask_upscale_rle_p50_1080p: {:.2} ms",
        percentile(&rust.rle_ms, 0.5)
    );
    println!("{prefix}encode_p50_1080p: {enc50:.2} ms");
    println!(
        "{prefix}preprocess_p50_1080p: {:.2} ms",
        percentile(&rust.pre_ms, 0.5)
    );
    println!(
        "{prefix}click_to_mask_1080p.ratio: {:.3} (Argus's fused path vs python onnxruntime+numpy+opencv p95 {py_click95:.2} ms)",
        click95 / py_click95
    );
    let like95 = percentile(&like_ms, 0.95);
    println!("{prefix}click_to_mask_p95_1080p_like_for_like: {like95:.2} ms");
    println!(
        "{prefix}click_to_mask_1080p_like_for_like.ratio: {:.3} (the same decoder file as python, upscaling all masks in the graph, p95 {like95:.2} ms vs {py_click95:.2} ms)",
        like95 / py_click95
    );
    println!(
        "{prefix}encode_1080p.ratio: {:.3} (vs python onnxruntime+numpy+opencv p50 {py_enc50:.2} ms)",
        enc50 / py_enc50
    );

    println!(
        "{prefix}click_to_mask_p50_1080p_python: {:.2} ms",
        percentile(&py.click_ms, 0.5)
    );

    if cfg!(feature = "cuda") {
        let cuda = LoadOptions {
            provider: ProviderChoice::Cuda,
            ..options
        };
        match SamModel::load(manifest, enc, dec, cuda) {
            Ok(model) if model.provider().is_gpu() => {
                let g = measure(&model, &rgb, iters)?;
                println!(
                    "{prefix}cuda.click_to_mask_p95_1080p: {:.2} ms",
                    percentile(&g.click_ms, 0.95)
                );
                println!(
                    "{prefix}cuda.encode_p50_1080p: {:.2} ms",
                    percentile(&g.encode_ms, 0.5)
                );
            }
            Ok(model) => eprintln!(
                "CUDA figures skipped: {}",
                model.provider().why_not_gpu().unwrap_or_default()
            ),
            Err(e) => eprintln!("CUDA figures skipped: {e}"),
        }
    }
    Ok(())
}
