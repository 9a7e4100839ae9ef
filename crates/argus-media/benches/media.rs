//! `cargo bench -p argus-media --bench media`: Argus decoding measured side by side with the
//! `ffmpeg` CLI on generated H.264 (1920x1080 and 3840x2160, 30 fps, keyframe every 60 frames).
//!
//! Prints one figure per line: `media.<name>: <value> <unit>` and `media.<name>.ratio: <value> (vs <anchor>)`.
//! Test videos are generated once into `$CARGO_TARGET_TMPDIR/argus-bench-media`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use argus_media::{FramePrefetcher, FrameRequest, IndexCache, SourceOptions, VideoSource};
use ffmpeg_next as ffmpeg;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("argus-bench-media")
}

fn ffmpeg_cmd(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn generate(
    name: &str,
    size: &str,
    seconds: u32,
    gop: u32,
    preset: &str,
) -> Result<PathBuf, String> {
    let out = dir().join(format!("{name}.mp4"));
    if out.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(dir()).map_err(|e| e.to_string())?;
    let tmp = dir().join(format!("tmp-{name}.mp4"));
    let (gop, secs) = (gop.to_string(), seconds.to_string());
    ffmpeg_cmd(
        &[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=s={size}:r=30"),
            "-t",
            &secs,
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-bf",
            "3",
            "-pix_fmt",
            "yuv420p",
        ]
        .into_iter()
        .chain([tmp.to_str().unwrap_or_default()])
        .collect::<Vec<_>>(),
    )?;
    std::fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// A 10-minute video: a 10-second clip concatenated 60 times without re-encoding.
fn ten_minutes() -> Result<PathBuf, String> {
    let out = dir().join("ten-minutes-1080p.mp4");
    if out.exists() {
        return Ok(out);
    }
    let clip = generate("clip-1080p-gop15", "1920x1080", 10, 15, "veryfast")?;
    let list = dir().join("concat.txt");
    let line = format!("file '{}'\n", clip.display());
    std::fs::write(&list, line.repeat(60)).map_err(|e| e.to_string())?;
    let tmp = dir().join("tmp-ten.mp4");
    ffmpeg_cmd(&[
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        list.to_str().unwrap_or_default(),
        "-c",
        "copy",
        tmp.to_str().unwrap_or_default(),
    ])?;
    std::fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Software decoding, as the `ffmpeg` CLI anchor (no `-hwaccel`) and the plain-FFmpeg floor do.
fn options() -> SourceOptions {
    SourceOptions {
        index_cache: Some(IndexCache::new(dir().join("index-cache"))),
        hw_accel: argus_media::HwAccel::Off,
        ..SourceOptions::default()
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

/// Seconds for `ffmpeg -i f -pix_fmt rgba -f null -`.
fn cli_decode(path: &Path) -> Result<f64, String> {
    let t = Instant::now();
    ffmpeg_cmd(&[
        "-i",
        path.to_str().unwrap_or_default(),
        "-pix_fmt",
        "rgba",
        "-f",
        "null",
        "-",
    ])?;
    Ok(secs(t.elapsed()))
}

/// Seconds for Argus to open the file and deliver every frame as RGBA, in order.
fn argus_decode(path: &Path) -> Result<(f64, u64), String> {
    let t = Instant::now();
    let mut src = VideoSource::open(path, options()).map_err(|e| e.to_string())?;
    let n = src.frame_count();
    let mut checksum = 0u64;
    // A player reuses its frame buffer; frame_into converts straight into it.
    let mut f = argus_media::Frame::default();
    for i in 0..n {
        src.frame_into(i, FrameRequest::RGBA, &mut f)
            .map_err(|e| e.to_string())?;
        checksum = checksum.wrapping_add(u64::from(
            f.planes
                .first()
                .and_then(|p| p.data.first())
                .copied()
                .unwrap_or(0),
        ));
    }
    std::hint::black_box(checksum);
    Ok((secs(t.elapsed()), n))
}

/// CPU seconds (user + system) used so far by this process and by its waited-for children, from
/// `/proc/self/stat` (Linux; `None` elsewhere). Ticks are 1/100 s.
fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime is field 14 overall.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let tick = |i: usize| f.get(i).copied();
    // rest[0] is field 3 (state, not numeric, so filtered out): numeric fields start at field 4.
    let (ut, st, cut, cst) = (tick(10)?, tick(11)?, tick(12)?, tick(13)?);
    Some(((ut + st) / 100.0, (cut + cst) / 100.0))
}

/// Best of `reps` alternating runs (the machine is shared, so the minimum is the fairest figure).
/// Also reports CPU time per frame, which depends much less on the machine's load than wall time.
fn decode_ratio(label: &str, path: &Path, reps: usize) -> Result<f64, String> {
    let (mut best_cli, mut best_argus, mut frames) = (f64::MAX, f64::MAX, 0);
    let (mut cpu_cli, mut cpu_argus) = (0.0, 0.0);
    for _ in 0..reps {
        let before = cpu_seconds();
        best_cli = best_cli.min(cli_decode(path)?);
        let mid = cpu_seconds();
        let (t, n) = argus_decode(path)?;
        let after = cpu_seconds();
        if let (Some(b), Some(m), Some(a)) = (before, mid, after) {
            cpu_cli += m.1 - b.1;
            cpu_argus += a.0 - m.0;
        }
        best_argus = best_argus.min(t);
        frames = n;
    }
    let (fps_cli, fps_argus) = (frames as f64 / best_cli, frames as f64 / best_argus);
    println!("media.decode_rgba_{label}_fps: {fps_argus:.1} fps");
    println!("media.decode_rgba_{label}_ffmpeg_cli_fps: {fps_cli:.1} fps");
    println!(
        "media.decode_rgba_{label}.ratio: {:.3} (vs ffmpeg -i f -pix_fmt rgba -f null -)",
        fps_argus / fps_cli
    );
    if cpu_argus > 0.0 && cpu_cli > 0.0 {
        println!(
            "media.decode_rgba_{label}_cpu.ratio: {:.3} (vs ffmpeg CLI CPU seconds for the same frames; >1 = Argus uses less CPU)",
            cpu_cli / cpu_argus
        );
    }
    Ok(1.0 / fps_cli)
}

/// Plain FFmpeg (no Argus code): seek to the keyframe before a frame, decode up to it and convert
/// it to RGBA with swscale (bicubic, as Argus), software decoding with frame threads as Argus.
/// The floor for a cold seek, for the generated videos' constant 30 fps and 60-frame GOPs.
struct GopFloor {
    ictx: ffmpeg::format::context::Input,
    dec: ffmpeg::codec::decoder::Video,
    stream: usize,
    scaler: Option<ffmpeg::software::scaling::Context>,
}

impl GopFloor {
    fn new(path: &Path) -> Result<Self, String> {
        ffmpeg::init().map_err(|e| e.to_string())?;
        let ictx = ffmpeg::format::input(path).map_err(|e| e.to_string())?;
        let st = ictx
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or("no video")?;
        let stream = st.index();
        let mut ctx =
            ffmpeg::codec::Context::from_parameters(st.parameters()).map_err(|e| e.to_string())?;
        ctx.set_threading(ffmpeg::codec::threading::Config {
            kind: ffmpeg::codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        let dec = ctx.decoder().video().map_err(|e| e.to_string())?;
        Ok(GopFloor {
            ictx,
            dec,
            stream,
            scaler: None,
        })
    }

    /// Seconds to deliver frame `i` as RGBA: seek to its GOP's keyframe, decode to it, convert it.
    fn time(&mut self, i: u64, rgba: &mut ffmpeg::frame::Video) -> Result<f64, String> {
        let key = i - i % 60;
        let ts_us = key as i64 * 1_000_000 / 30;
        let t = Instant::now();
        self.ictx.seek(ts_us, ..ts_us).map_err(|e| e.to_string())?;
        self.dec.flush();
        let mut got = 0;
        let mut frame = ffmpeg::frame::Video::empty();
        let mut packet = ffmpeg::Packet::empty();
        let wanted = i - key + 1;
        'outer: while packet.read(&mut self.ictx).is_ok() {
            if packet.stream() != self.stream {
                continue;
            }
            let _ = self.dec.send_packet(&packet);
            while self.dec.receive_frame(&mut frame).is_ok() {
                got += 1;
                if got == wanted {
                    break 'outer;
                }
            }
        }
        if got < wanted {
            // the last frames of the file wait in the decoder (B-frames): drain it
            let _ = self.dec.send_eof();
            while got < wanted && self.dec.receive_frame(&mut frame).is_ok() {
                got += 1;
            }
        }
        if got != wanted {
            return Err(format!("the floor decoded {got} of {wanted} frames from the keyframe of {i}"));
        }
        let scaler = match &mut self.scaler {
            Some(s) => s,
            None => self.scaler.insert(
                ffmpeg::software::scaling::Context::get(
                    frame.format(),
                    frame.width(),
                    frame.height(),
                    ffmpeg::format::Pixel::RGBA,
                    frame.width(),
                    frame.height(),
                    ffmpeg::software::scaling::Flags::BICUBIC,
                )
                .map_err(|e| e.to_string())?,
            ),
        };
        scaler.run(&frame, rgba).map_err(|e| e.to_string())?;
        Ok(secs(t.elapsed()))
    }
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// Random frames, each in another GOP than the last and not the next one, so that every access
/// is a seek for Argus as for the floor.
fn seek_targets(n: u64, count: usize) -> Vec<u64> {
    let gops = (n / 60).max(1);
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut v: Vec<u64> = Vec::with_capacity(count);
    while v.len() < count {
        let i = xorshift(&mut s) % (gops * 60).min(n);
        let g = i / 60;
        match v.last() {
            Some(&last) if gops > 2 && (g == last / 60 || g == last / 60 + 1) => continue,
            _ => v.push(i),
        }
    }
    v
}

fn seek_and_step(path: &Path, frame_time: f64) -> Result<(), String> {
    let mut floor = GopFloor::new(path)?;
    // A decoded-frame cache of a few frames (not the default 256 MiB, which holds more than a
    // GOP): every access decodes, as the floor does.
    let seek_options = SourceOptions {
        cache_bytes: 16 << 20,
        ..options()
    };
    let mut src = VideoSource::open(path, seek_options).map_err(|e| e.to_string())?;
    let n = src.frame_count();
    let (mut lat, mut floors) = (Vec::with_capacity(200), Vec::with_capacity(200));
    let mut out = argus_media::Frame::default();
    let mut rgba = ffmpeg::frame::Video::empty();
    // The same frames on both sides, interleaved so both see the same machine load.
    for i in seek_targets(n, 200) {
        floors.push(floor.time(i, &mut rgba)?);
        let t = Instant::now();
        src.frame_into(i, FrameRequest::RGBA, &mut out)
            .map_err(|e| e.to_string())?;
        lat.push(secs(t.elapsed()));
    }
    let p95 = percentile(&mut lat, 0.95);
    let floor95 = percentile(&mut floors, 0.95);
    println!(
        "media.seek_p50_1080p: {:.1} ms",
        percentile(&mut lat, 0.5) * 1000.0
    );
    println!("media.seek_p95_1080p: {:.1} ms", p95 * 1000.0);
    println!(
        "media.seek_p95_1080p_ffmpeg_floor: {:.1} ms (plain FFmpeg: seek, decode to the frame, swscale to RGBA)",
        floor95 * 1000.0
    );
    println!(
        "media.seek_p95_1080p.ratio: {:.3} (vs p95 of plain FFmpeg seeking to the same frames and converting them to RGBA, software decoding both sides)",
        p95 / floor95
    );

    // Stepping, one key press every 40 ms (a fast key repeat), the way the UI does it: through the
    // FramePrefetcher, which decodes ahead in the direction of travel while the user looks.
    let pace = Duration::from_millis(40);
    drop(src);
    let mut out = argus_media::Frame::default();
    let player =
        FramePrefetcher::spawn(VideoSource::open(path, options()).map_err(|e| e.to_string())?);
    let step = |range: &mut dyn Iterator<Item = u64>| -> Result<Vec<f64>, String> {
        let mut v = Vec::new();
        for i in range {
            std::thread::sleep(pace);
            let t = Instant::now();
            player
                .frame(i, FrameRequest::RGBA)
                .map_err(|e| e.to_string())?;
            v.push(secs(t.elapsed()));
        }
        Ok(v)
    };
    player
        .frame(120, FrameRequest::RGBA)
        .map_err(|e| e.to_string())?;
    let mut fwd = step(&mut (121..201))?;
    println!(
        "media.step_forward_prefetcher_p95_1080p: {:.2} ms (40 ms between steps, through FramePrefetcher)",
        percentile(&mut fwd, 0.95) * 1000.0
    );
    println!(
        "media.frame_decode_time_1080p_ffmpeg_cli: {:.2} ms (1 / ffmpeg CLI rgba fps)",
        frame_time * 1000.0
    );
    let mut back = step(&mut (141..200).rev())?;
    println!(
        "media.step_back_p95_1080p: {:.2} ms (40 ms between steps, within the cached window, through FramePrefetcher)",
        percentile(&mut back, 0.95) * 1000.0
    );
    // Backward across GOP boundaries from a jump: the prefetcher decodes the previous GOP ahead.
    player
        .frame(420, FrameRequest::RGBA)
        .map_err(|e| e.to_string())?;
    let mut back_far = step(&mut (300..420).rev())?;
    println!(
        "media.step_back_across_gops_p95_1080p: {:.2} ms (40 ms between steps, 120 steps back from a jump, through FramePrefetcher)",
        percentile(&mut back_far, 0.95) * 1000.0
    );
    drop(player);

    // Without the prefetcher, straight on a VideoSource: the decoder is reused, no look-ahead.
    let mut src = VideoSource::open(path, options()).map_err(|e| e.to_string())?;
    src.frame_into(120, FrameRequest::RGBA, &mut out)
        .map_err(|e| e.to_string())?;
    let mut direct = Vec::new();
    for i in 121..201 {
        std::thread::sleep(pace);
        let t = Instant::now();
        src.frame_into(i, FrameRequest::RGBA, &mut out)
            .map_err(|e| e.to_string())?;
        direct.push(secs(t.elapsed()));
    }
    println!(
        "media.step_forward_p95_1080p: {:.2} ms (40 ms between steps, VideoSource reusing its running decoder)",
        percentile(&mut direct, 0.95) * 1000.0
    );
    Ok(())
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs in a child process so the figure is not inflated by the other benchmarks.
fn rss_child(path: &Path, accesses: u64) -> Result<(), String> {
    let mut src = VideoSource::open(path, options()).map_err(|e| e.to_string())?;
    let n = src.frame_count();
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..accesses {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        src.frame(s % n, FrameRequest::RGBA)
            .map_err(|e| e.to_string())?;
    }
    println!("{:.1} {n}", peak_rss_mib().unwrap_or(f64::NAN));
    Ok(())
}

fn run() -> Result<(), String> {
    if let Ok(p) = std::env::var("ARGUS_MEDIA_BENCH_RSS_CHILD") {
        return rss_child(Path::new(&p), 1000);
    }
    let hd = generate("h264-1080p-gop60-20s", "1920x1080", 20, 60, "veryfast")?;
    let uhd = generate("h264-2160p-gop60", "3840x2160", 4, 60, "ultrafast")?;
    let ten = ten_minutes()?;
    // Warm the index cache so every figure below measures decoding, not the one-time index build.
    for p in [&hd, &uhd, &ten] {
        let t = Instant::now();
        let idx = IndexCache::new(dir().join("index-cache"))
            .load_or_build(p)
            .map_err(|e| e.to_string())?;
        if idx.1 == argus_media::IndexOrigin::Built {
            println!(
                "media.index_build_{}: {:.0} ms",
                p.file_stem().and_then(|s| s.to_str()).unwrap_or("?"),
                secs(t.elapsed()) * 1000.0
            );
        }
    }
    // `cargo bench -p argus-media --bench media -- seek` runs only the sections whose name matches.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let frame_time = if wanted("decode") || wanted("step") {
        decode_ratio("1080p", &hd, 5)?
    } else {
        f64::NAN
    };
    if wanted("decode") {
        decode_ratio("2160p", &uhd, 2)?;
    }
    if wanted("seek") || wanted("step") {
        seek_and_step(&hd, frame_time)?;
    }
    if !wanted("rss") {
        return Ok(());
    }

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let t = Instant::now();
    let out = Command::new(exe)
        .env("ARGUS_MEDIA_BENCH_RSS_CHILD", &ten)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let rss = it
        .next()
        .ok_or_else(|| format!("rss child failed: {}", String::from_utf8_lossy(&out.stderr)))?;
    let frames = it.next().unwrap_or("?");
    println!("media.peak_rss_random_access_10min: {rss} MiB");
    println!(
        "media.random_access_10min_wall: {:.1} s ({frames} frames, 1000 accesses, default cache)",
        secs(t.elapsed())
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("media bench failed: {e}");
        std::process::exit(1);
    }
}
