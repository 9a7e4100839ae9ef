//! `cargo bench -p argus-formats --bench formats`: COCO export and read of
//! 100,000 1080p instance masks (1,000 frames of 100 tracked objects, see
//! `support/fixture.rs`), against pycocotools doing the same work on the
//! same masks in the same run (`coco_anchor.py`; `ARGUS_PYTHON`, else
//! `python3`; without pycocotools the ratio lines are left out, with why on
//! stderr).
//!
//! Every phase runs in a process of its own (this binary again, with
//! `--phase`), so its peak memory (VmHWM, input included) is its own; each
//! side runs `FORMATS_REPS` times (default 3), taking turns, and the median
//! is printed. Ratios are ours over theirs (< 1: Argus takes less).
//!
//! - `coco_export_100k_masks`: CocoWriter writing the images and the 100k
//!   annotations (compressed strings, area, bbox, attributes) to a file,
//!   from masks held as runs, vs `frPyObjects` + `area` + `toBbox` + the same
//!   dicts + `json.dump` from the same runs held as numpy arrays. The two
//!   files must be byte-identical.
//! - `coco_read_100k_masks`: `coco::read` of that file, every annotation
//!   made a record (its string decoded to runs, checked) and dropped, vs
//!   `COCO(path)` + `annToRLE` for every annotation. The import into a
//!   project (the store's share) is `formats.coco_import_100k_masks`, from
//!   `cargo bench -p argus-workspace --bench formats_import`.

#[path = "support/fixture.rs"]
mod fixture;

use std::{
    fs,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use argus_formats::{NoProgress, coco};
use fixture::{Phase, run};

fn ours(phase: &str, arg: &Path) -> Result<Phase, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    run(Command::new(exe).arg("--phase").arg(phase).arg(arg), &format!("argus {phase}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The anchor's Python, or why there is none.
fn python() -> Result<String, String> {
    let python = std::env::var("ARGUS_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import numpy, pycocotools.mask, pycocotools.coco"]).output();
    match probe {
        Ok(o) if o.status.success() => Ok(python),
        Ok(o) => Err(format!(
            "`{python} -c 'import pycocotools.coco'` failed ({}); `pip install pycocotools numpy` or set ARGUS_PYTHON",
            String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or_default()
        )),
        Err(e) => Err(format!("could not run {python} ({e}); set ARGUS_PYTHON to a Python with pycocotools")),
    }
}

fn anchor() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/coco_anchor.py")
}

/// One phase in this process (the child side of `--phase`).
fn phase(args: &[String]) -> Result<(), String> {
    let (name, arg) = match args {
        [name, arg, ..] => (name.as_str(), PathBuf::from(arg)),
        _ => return Err("usage: formats --phase export|read PATH".into()),
    };
    let (seconds, annotations) = match name {
        "export" => {
            let annotations = fixture::read_annotations(&arg).map_err(|e| e.to_string())?;
            let t = Instant::now();
            let file = fs::File::create(arg.join("argus.json")).map_err(|e| e.to_string())?;
            let out = fixture::write_coco(BufWriter::with_capacity(1 << 20, file), &annotations).map_err(|e| e.to_string())?;
            let file = out.into_inner().map_err(|e| e.to_string())?;
            drop(file);
            (t.elapsed().as_secs_f64(), annotations.len() as u64)
        }
        "read" => {
            let t = Instant::now();
            let mut n = 0u64;
            let (_, report) = coco::read(|| fs::File::open(&arg), &mut NoProgress, |_, a| {
                n += 1;
                drop(a);
                Ok(())
            })
            .map_err(|e| e.to_string())?;
            if !report.skipped.is_empty() {
                return Err(format!("the reader left out {} annotations: {:?}", report.skipped.len(), report.skipped.first()));
            }
            (t.elapsed().as_secs_f64(), n)
        }
        other => return Err(format!("unknown phase {other}")),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "seconds {seconds}\npeak_mib {}\nannotations {annotations}", fixture::peak_mib()).map_err(|e| e.to_string())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--phase") {
        return phase(&args[i + 1..]);
    }
    let reps: usize = std::env::var("FORMATS_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    // FORMATS_DIR keeps the files (to profile a phase: `formats --phase read
    // $FORMATS_DIR/argus.json`); by default they go with a temporary folder.
    let temp = tempfile::Builder::new().prefix("argus-formats-bench").tempdir().map_err(|e| e.to_string())?;
    let kept = std::env::var_os("FORMATS_DIR").map(PathBuf::from);
    let dir = kept.as_deref().unwrap_or(temp.path());
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let masks = fixture::masks();
    let runs: usize = masks.iter().map(|m| m.2.counts().len()).sum();
    let strings: usize = masks.iter().map(|m| m.2.to_compressed_string().len()).sum();
    fixture::write_runs(dir, &masks).map_err(|e| e.to_string())?;
    drop(masks);
    eprintln!("formats: fixture: {} masks generated in {:.1} s, in {}", fixture::MASKS, t.elapsed().as_secs_f64(), dir.display());
    println!("formats.fixture_masks: {} masks (1920x1080, {} frames x {} objects)", fixture::MASKS, fixture::FRAMES, fixture::OBJECTS);
    println!("formats.fixture_runs_per_mask: {:.0} runs (mean)", runs as f64 / fixture::MASKS as f64);
    println!("formats.fixture_counts_bytes_per_mask: {:.0} bytes (mean compressed string)", strings as f64 / fixture::MASKS as f64);

    let python = python();
    if let Err(why) = &python {
        eprintln!("formats: pycocotools ratios SKIPPED: {why}");
    }
    let ours_file = dir.join("argus.json");
    let theirs_file = dir.join("pycocotools.json");
    let spec = dir.join("spec.json");
    let runs_file = dir.join("masks.bin");

    // Export: taking turns.
    let (mut ours_export, mut theirs_export) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        ours_export.push(ours("export", dir)?);
        if let Ok(py) = &python {
            let mut cmd = Command::new(py);
            cmd.arg(anchor()).arg("export").arg(&spec).arg(&runs_file).arg(&theirs_file);
            theirs_export.push(run(&mut cmd, "pycocotools export")?);
        }
    }
    let size = fs::metadata(&ours_file).map_err(|e| e.to_string())?.len();
    println!("formats.coco_file_100k_masks: {:.1} MiB", size as f64 / 1048576.0);
    let mut export_same = true;
    if !theirs_export.is_empty() {
        let (a, b) = (fs::read(&ours_file).map_err(|e| e.to_string())?, fs::read(&theirs_file).map_err(|e| e.to_string())?);
        if a != b {
            let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
            let show = |v: &[u8]| String::from_utf8_lossy(&v[at.saturating_sub(80)..(at + 80).min(v.len())]).into_owned();
            eprintln!("formats: export ratio SKIPPED: the two files differ at byte {at}:\n  argus:       {}\n  pycocotools: {}", show(&a), show(&b));
            export_same = false;
        }
        let _ = fs::remove_file(&theirs_file);
    }
    figures("coco_export_100k_masks", &ours_export, if export_same { &theirs_export } else { &[] }, "pycocotools frPyObjects + area + toBbox + json.dump of the same runs, byte-identical file");

    // Read: both read Argus's file.
    let (mut ours_read, mut theirs_read) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        ours_read.push(ours("read", &ours_file)?);
        if let Ok(py) = &python {
            let mut cmd = Command::new(py);
            cmd.arg(anchor()).arg("read").arg(&ours_file);
            theirs_read.push(run(&mut cmd, "pycocotools read")?);
        }
    }
    figures("coco_read_100k_masks", &ours_read, &theirs_read, "pycocotools COCO(path) + annToRLE for every annotation");
    Ok(())
}

/// Prints a phase's figures: median seconds and peak, and the ratios when
/// the anchor ran and saw the same number of annotations.
fn figures(name: &str, ours: &[Phase], theirs: &[Phase], anchor: &str) {
    let n = fixture::MASKS as u64;
    if let Some(p) = ours.iter().find(|p| p.annotations != n) {
        eprintln!("formats: {name}: Argus handled {} annotations, not {n}", p.annotations);
    }
    let (s, m) = (median(ours.iter().map(|p| p.seconds).collect()), median(ours.iter().map(|p| p.peak_mib).collect()));
    println!("formats.{name}: {s:.3} s");
    println!("formats.{name}_peak: {m:.0} MiB");
    if theirs.is_empty() {
        return;
    }
    if let Some(p) = theirs.iter().find(|p| p.annotations != n) {
        eprintln!("formats: {name} ratio SKIPPED: pycocotools handled {} annotations, not {n}", p.annotations);
        return;
    }
    let (ts, tm) = (median(theirs.iter().map(|p| p.seconds).collect()), median(theirs.iter().map(|p| p.peak_mib).collect()));
    println!("formats.{name}.ratio: {:.3} (vs {anchor}: {ts:.3} s; median of {})", s / ts, theirs.len());
    println!("formats.{name}_peak.ratio: {:.3} (vs the same: {tm:.0} MiB)", m / tm);
}
