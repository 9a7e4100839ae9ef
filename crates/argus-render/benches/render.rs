//! `cargo bench -p argus-render --bench render`
//!
//! Prints ms per composited 1080p frame with 1, 32 and 1000 masks, counting
//! everything a frame step costs: uploading the frame, replacing all masks
//! (painting the id map and uploading it), drawing and reading back. The
//! anchor is the CPU reference compositor on the same inputs in the same run.
//! `.ratio` is CPU time / GPU time (above 1: the GPU path is faster). On a CPU
//! adapter (lavapipe) this only shows overhead; see docs/benchmarks/render.md.
//! `render.cpu_in_place_*` is the fast CPU path (`cpu::composite_in_place`)
//! the app uses without a hardware adapter; its `.ratio` is against the GPU
//! path on the same adapter (below 1: the CPU path is faster).

use std::time::Instant;

use argus_core::mask::Rle;
use argus_render::{FrameInput, MaskScene, MaskStyle, ObjectId, OutputSpec, Renderer, RgbaImage, ViewTransform, cpu};

const W: u32 = 1920;
const H: u32 = 1080;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u32) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % u64::from(n.max(1))) as u32
    }
}

/// A disc as column-major runs, built directly (no bitmap).
fn disc(cx: i64, cy: i64, r: i64) -> Rle {
    let mut counts = Vec::new();
    let mut zeros = 0u32;
    for x in 0..i64::from(W) {
        let dx = x - cx;
        if dx.abs() > r {
            zeros += H;
            continue;
        }
        let half = ((r * r - dx * dx) as f64).sqrt() as i64;
        let (y0, y1) = ((cy - half).max(0), (cy + half + 1).min(i64::from(H)));
        if y0 >= y1 {
            zeros += H;
            continue;
        }
        counts.push(zeros + y0 as u32);
        counts.push((y1 - y0) as u32);
        zeros = H - y1 as u32;
    }
    counts.push(zeros);
    Rle::new(H, W, counts).expect("disc runs cover the frame")
}

fn masks(n: usize) -> Vec<(ObjectId, Rle, MaskStyle)> {
    let mut rng = Lcg(42);
    (0..n)
        .map(|i| {
            let r = if n == 1 { 300 } else { 8 + i64::from(rng.next(40)) };
            let (cx, cy) = (i64::from(rng.next(W)), i64::from(rng.next(H)));
            let style = MaskStyle {
                color: [rng.next(256) as u8, rng.next(256) as u8, rng.next(256) as u8],
                opacity: 0.45,
                outline_width: 2,
                selected: i == 0,
                hovered: i == 1,
                hidden: false,
            };
            (ObjectId(i as u64), disc(cx, cy, r), style)
        })
        .collect()
}

fn frame(seed: u8) -> RgbaImage {
    let mut data = Vec::with_capacity((W * H * 4) as usize);
    for y in 0..H {
        for x in 0..W {
            data.extend_from_slice(&[(x / 8) as u8 ^ seed, (y / 5) as u8, seed.wrapping_mul(3), 255]);
        }
    }
    RgbaImage::from_vec(W, H, data).expect("frame size")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let frames = [frame(0), frame(1)];
    let out = OutputSpec::new(W, H);
    let view = ViewTransform::IDENTITY;
    let mut renderer = match Renderer::new_headless() {
        Ok(r) => {
            println!("render.adapter: {}", r.adapter());
            Some(r)
        }
        Err(e) => {
            println!("render.adapter: none ({e})");
            None
        }
    };
    let iterations = match &renderer {
        Some(r) if !r.adapter().is_cpu => 30,
        _ => 4,
    };
    for n in [1usize, 32, 1000] {
        let objects = masks(n);
        let mut scene = MaskScene::new(W, H).expect("scene");
        let mut gpu_ms = None;
        if let Some(r) = renderer.as_mut() {
            let mut times = Vec::new();
            for i in 0..=iterations {
                let start = Instant::now();
                let f = &frames[i % 2];
                r.upload_frame(&FrameInput::Rgba(f.as_frame())).expect("upload");
                scene.clear();
                for (id, rle, style) in &objects {
                    scene.insert(*id, rle.clone(), *style).expect("insert");
                }
                let img = r.render(&mut scene, &[], &view, &out).expect("render");
                std::hint::black_box(img);
                if i > 0 {
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
            let ms = median(times);
            println!("render.composite_1080p_{n}masks: {ms:.2} ms");
            gpu_ms = Some(ms);
        }
        {
            // The fast CPU path the app uses without a hardware adapter: the
            // same scene rebuilt and drawn into a copy of the frame.
            let mut times = Vec::new();
            for i in 0..=iterations.max(4) {
                let mut img = frames[i % 2].clone();
                let start = Instant::now();
                scene.clear();
                for (id, rle, style) in &objects {
                    scene.insert(*id, rle.clone(), *style).expect("insert");
                }
                cpu::composite_in_place(&mut img, &mut scene, &[]).expect("in place");
                std::hint::black_box(img);
                if i > 0 {
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
            let ms = median(times);
            println!("render.cpu_in_place_1080p_{n}masks: {ms:.2} ms");
            if let Some(g) = gpu_ms {
                println!("render.cpu_in_place_1080p_{n}masks.ratio: {:.2} (vs the GPU path on this adapter)", ms / g);
            }
        }
        if n == 1000 {
            // The CPU share of a frame step: painting the id and tile maps.
            let mut times = Vec::new();
            for _ in 0..5 {
                let start = Instant::now();
                scene.clear();
                for (id, rle, style) in &objects {
                    scene.insert(*id, rle.clone(), *style).expect("insert");
                }
                scene.prepare();
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            println!("render.scene_rebuild_1080p_1000masks: {:.2} ms", median(times));
            let mut times = Vec::new();
            for i in 0..3 {
                let start = Instant::now();
                let img = cpu::composite(&frames[i % 2].as_frame(), &scene, &[], &view, &out).expect("cpu composite");
                std::hint::black_box(img);
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            let cpu_ms = median(times);
            println!("render.cpu_composite_1080p_1000masks: {cpu_ms:.2} ms");
            if let Some(g) = gpu_ms {
                println!("render.composite_1080p_1000masks.ratio: {:.2} (vs cpu::composite)", cpu_ms / g);
            }
            if let Some(r) = renderer.as_mut() {
                // Hovering another object: a style change and a redraw, no mask upload.
                let mut times = Vec::new();
                for i in 0..=iterations {
                    let start = Instant::now();
                    let id = ObjectId((i % objects.len()) as u64);
                    if let Some(s) = scene.style(id).copied() {
                        scene.set_style(id, MaskStyle { hovered: !s.hovered, ..s }).expect("style");
                    }
                    std::hint::black_box(r.render(&mut scene, &[], &view, &out).expect("render"));
                    if i > 0 {
                        times.push(start.elapsed().as_secs_f64() * 1e3);
                    }
                }
                println!("render.restyle_1080p_1000masks: {:.2} ms", median(times));
            }
        }
    }
}
