//! `cargo bench -p argus-core --bench core`: mask (COCO RLE) throughput on a
//! realistic 1080p mask, with pycocotools timed side by side on the same
//! masks when a Python with pycocotools is available (`ARGUS_PYTHON`, else
//! `python3`); otherwise the ratio lines are skipped with a note on stderr.
//!
//! Prints `core.<name>: <value> <unit>` and `core.<name>.ratio: <x> (vs pycocotools)`
//! where the ratio is our throughput over theirs (> 1 means faster). pycocotools'
//! Python API takes and returns compressed RLE strings (`{"counts": b"..."}`),
//! so the ratios time Argus doing the same: from and to compressed strings
//! (`core.coco_*` figures); the plain `core.rle_*` figures work on runs.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use argus_core::mask::Rle;

const H: u32 = 1080;
const W: u32 = 1920;

/// Seconds per call: batches of at least 50 ms, median of 7.
fn per_call(mut f: impl FnMut()) -> f64 {
    f();
    let mut iters = 1u32;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed().as_secs_f64() > 0.05 {
            break;
        }
        iters *= 2;
    }
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() / f64::from(iters)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// A SAM-like frame mask: a large figure with holes, a few smaller blobs
/// (some with holes) and a thin diagonal bar, shifted by `(dx, dy)`.
fn scene(dx: f64, dy: f64) -> Vec<u8> {
    // (cx, cy, rx, ry, set): later shapes paint over earlier ones.
    let shapes: [(f64, f64, f64, f64, bool); 9] = [
        (960.0, 620.0, 260.0, 430.0, true),
        (960.0, 470.0, 70.0, 95.0, false),
        (900.0, 800.0, 40.0, 30.0, false),
        (300.0, 300.0, 130.0, 85.0, true),
        (300.0, 300.0, 35.0, 22.0, false),
        (1600.0, 260.0, 150.0, 150.0, true),
        (1500.0, 860.0, 210.0, 120.0, true),
        (1450.0, 860.0, 40.0, 30.0, false),
        (1580.0, 840.0, 25.0, 45.0, false),
    ];
    let mut px = vec![0u8; (H * W) as usize];
    for y in 0..H as usize {
        for x in 0..W as usize {
            let (fx, fy) = (x as f64 + 0.5 - dx, y as f64 + 0.5 - dy);
            let mut v = false;
            for &(cx, cy, rx, ry, set) in &shapes {
                if ((fx - cx) / rx).powi(2) + ((fy - cy) / ry).powi(2) <= 1.0 {
                    v = set;
                }
            }
            // A thin diagonal bar (a pole, a leg of a tripod...).
            if (fx - 0.8 * fy - 500.0).abs() < 6.0 && fy > 500.0 {
                v = true;
            }
            px[y * W as usize + x] = u8::from(v);
        }
    }
    px
}

fn print(name: &str, value: f64, unit: &str) {
    println!("core.{name}: {value:.2} {unit}");
}

fn mpx_per_s(seconds: f64) -> f64 {
    f64::from(H * W) / seconds / 1e6
}

/// Runs the Python anchor; `None` (with a note on stderr) when unavailable.
fn pycocotools(a: &[u8], b: &[u8], our_area: u64) -> Option<Vec<(String, f64)>> {
    let python = std::env::var("ARGUS_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import numpy, pycocotools.mask"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "core: pycocotools ratios SKIPPED: `{python} -c 'import pycocotools.mask'` failed; \
             `pip install pycocotools numpy` or set ARGUS_PYTHON"
        );
        return None;
    }
    let dir = std::env::temp_dir();
    let pa = dir.join(format!("argus-core-bench-{}-a.bin", std::process::id()));
    let pb = dir.join(format!("argus-core-bench-{}-b.bin", std::process::id()));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/pycoco_anchor.py");
    let written = std::fs::write(&pa, a).and_then(|()| std::fs::write(&pb, b));
    let out = written.and_then(|()| {
        Command::new(&python)
            .arg(&script)
            .arg(H.to_string())
            .arg(W.to_string())
            .arg(&pa)
            .arg(&pb)
            .output()
    });
    let _ = std::fs::remove_file(&pa);
    let _ = std::fs::remove_file(&pb);
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "core: pycocotools ratios SKIPPED: anchor failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return None;
        }
        Err(e) => {
            eprintln!("core: pycocotools ratios SKIPPED: could not run the anchor: {e}");
            return None;
        }
    };
    let results: Vec<(String, f64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect();
    let their_area = results.iter().find(|(k, _)| k == "area").map(|r| r.1);
    if their_area != Some(our_area as f64) {
        eprintln!(
            "core: pycocotools ratios SKIPPED: its area {their_area:?} differs from ours {our_area}"
        );
        return None;
    }
    Some(results)
}

fn main() {
    let a = scene(0.0, 0.0);
    let b = scene(17.0, -9.0);
    let col_a: Vec<u8> = (0..(H * W) as usize)
        .map(|i| a[(i % H as usize) * W as usize + i / H as usize])
        .collect();
    let ra = Rle::from_bitmap_row_major(H, W, &a).expect("valid size");
    let rb = Rle::from_bitmap_row_major(H, W, &b).expect("valid size");
    let s = ra.to_compressed_string();
    println!("core.rle_runs_1080p: {} runs", ra.counts().len());

    let t = per_call(|| {
        black_box(Rle::from_bitmap_row_major(H, W, black_box(&a)).expect("valid size"));
    });
    print("rle_encode_1080p", mpx_per_s(t), "Mpx/s");
    let t = per_call(|| {
        black_box(Rle::from_bitmap_col_major(H, W, black_box(&col_a)).expect("valid size"));
    });
    print("rle_encode_colmajor_1080p", mpx_per_s(t), "Mpx/s");
    let t = per_call(|| {
        black_box(black_box(&ra).to_bitmap_row_major());
    });
    print("rle_decode_1080p", mpx_per_s(t), "Mpx/s");
    let t = per_call(|| {
        black_box(black_box(&ra).to_bitmap_col_major());
    });
    print("rle_decode_colmajor_1080p", mpx_per_s(t), "Mpx/s");
    let t = per_call(|| {
        black_box(black_box(&ra).to_compressed_string());
    });
    print("rle_to_string_1080p", t * 1e6, "µs");
    let t = per_call(|| {
        black_box(Rle::from_compressed_string(H, W, black_box(&s)).expect("own output"));
    });
    print("rle_from_string_1080p", t * 1e6, "µs");
    let t = per_call(|| {
        black_box(black_box(&ra).iou(black_box(&rb)).expect("same size"));
    });
    print("rle_iou_1080p", t * 1e6, "µs");
    let t = per_call(|| {
        black_box(black_box(&ra).union(black_box(&rb)).expect("same size"));
    });
    print("rle_union_1080p", t * 1e6, "µs");
    let t = per_call(|| {
        black_box(black_box(&ra).bbox());
    });
    print("rle_bbox_1080p", t * 1e6, "µs");
    let polys = ra.to_polygons(0.0).expect("valid tolerance");
    let t = per_call(|| {
        black_box(black_box(&ra).to_polygons(0.0).expect("valid tolerance"));
    });
    print("mask_trace_1080p", t * 1e3, "ms");
    let t = per_call(|| {
        black_box(black_box(&ra).to_polygons(1.0).expect("valid tolerance"));
    });
    print("mask_trace_simplify_1080p", t * 1e3, "ms");
    let t = per_call(|| {
        black_box(Rle::from_polygons(H, W, black_box(&polys)).expect("valid size"));
    });
    print("polygon_rasterise_1080p", t * 1e3, "ms");

    // The same work as pycocotools' API: compressed strings in and out.
    let sb = rb.to_compressed_string();
    let from = |s: &str| Rle::from_compressed_string(H, W, s).expect("own output");
    let mut same: Vec<(&str, f64)> = Vec::new();
    let t = per_call(|| {
        let r = Rle::from_bitmap_row_major(H, W, black_box(&a)).expect("valid size");
        black_box(r.to_compressed_string());
    });
    print("coco_encode_1080p", mpx_per_s(t), "Mpx/s (bitmap to compressed string)");
    same.push(("encode_rowmajor", t));
    let t = per_call(|| {
        let r = Rle::from_bitmap_col_major(H, W, black_box(&col_a)).expect("valid size");
        black_box(r.to_compressed_string());
    });
    print("coco_encode_colmajor_1080p", mpx_per_s(t), "Mpx/s");
    same.push(("encode_colmajor", t));
    let t = per_call(|| {
        black_box(from(black_box(&s)).to_bitmap_row_major());
    });
    print("coco_decode_1080p", mpx_per_s(t), "Mpx/s (compressed string to bitmap)");
    same.push(("decode_rowmajor", t));
    let t = per_call(|| {
        black_box(from(black_box(&s)).to_bitmap_col_major());
    });
    print("coco_decode_colmajor_1080p", mpx_per_s(t), "Mpx/s");
    same.push(("decode_colmajor", t));
    let t = per_call(|| {
        black_box(from(black_box(&s)).iou(&from(black_box(&sb))).expect("same size"));
    });
    print("coco_iou_1080p", t * 1e6, "µs (of two compressed strings)");
    same.push(("iou", t));
    let t = per_call(|| {
        let u = from(black_box(&s)).union(&from(black_box(&sb))).expect("same size");
        black_box(u.to_compressed_string());
    });
    print("coco_union_1080p", t * 1e6, "µs (compressed strings in and out)");
    same.push(("union", t));

    let Some(theirs) = pycocotools(&a, &b, ra.area()) else {
        return;
    };
    let names = [
        ("encode_rowmajor", "rle_encode_1080p"),
        ("encode_colmajor", "rle_encode_colmajor_1080p"),
        ("decode_rowmajor", "rle_decode_1080p"),
        ("decode_colmajor", "rle_decode_colmajor_1080p"),
        ("iou", "rle_iou_1080p"),
        ("union", "rle_union_1080p"),
    ];
    for (key, name) in names {
        let ours = same.iter().find(|(k, _)| *k == key).map(|r| r.1);
        let theirs = theirs.iter().find(|(k, _)| k == key).map(|r| r.1);
        if let (Some(o), Some(t)) = (ours, theirs) {
            println!(
                "core.{name}.ratio: {:.2} (vs pycocotools, compressed strings in and out on both sides)",
                t / o
            );
        }
    }
}
