//! `cargo bench -p argus-workspace --bench formats_import`, the second half
//! of `make bench ONLY=formats`: a COCO file of 100,000 1080p masks (the
//! `formats` fixture, `crates/argus-formats/benches/support/fixture.rs`:
//! 1,000 frames of 100 tracked objects, written by CocoWriter) imported
//! into a project the way `argus-cli import --project P --json FILE` does
//! it: `Workspace::import_annotations` (coco::read streamed into one store
//! batch: tracks, shapes, versions, outbox, one undo step), on a project
//! whose 1920x1080 video (1,000 frames, made with the ffmpeg CLI) the file
//! names. The store is opened with its default durability, as the CLI does.
//!
//! Against pycocotools `COCO(path)` + `annToRLE` for every annotation on the
//! same file, in the same run (`crates/argus-formats/benches/coco_anchor.py`,
//! `ARGUS_PYTHON`, else `python3`). Each import runs in a process of its
//! own (this binary with `--phase`) on a fresh database, so its peak memory
//! (VmHWM: the workspace, the project set-up and the import) is its own;
//! `FORMATS_REPS` turns each (default 3), medians printed.
//!
//! Prints `formats.coco_import_100k_masks: <s> s`, `..._peak: <MiB> MiB`
//! and their `.ratio` lines (ours over theirs). Beside them, the floor under
//! any import into a SQLite store, from the same run: the same 100,000 rows
//! inserted by Python's sqlite3 into a table shaped like the store's
//! `shapes` alone, durably (`coco_anchor.py floor`): `..._sqlite_floor`, its
//! ratio to pycocotools' read, and ours over it.
//!
//! A large batch commits without SQLite's automatic checkpoint and leaves
//! it to a task of its own (the WAL is on disk at the commit either way):
//! `..._settled` is the import until that checkpoint is done, and the
//! floor's `..._settled` the same for the floor, which checkpoints after its
//! commit the same way.

#[path = "../../argus-formats/benches/support/fixture.rs"]
mod fixture;

use std::{
    fs,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use argus_core::model::{Colour, Label};
use argus_workspace::{Workspace, export::Cancel, import::ImportOptions};
use fixture::run;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn python() -> Result<String, String> {
    let python = std::env::var("ARGUS_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python).args(["-c", "import numpy, pycocotools.coco"]).output() {
        Ok(o) if o.status.success() => Ok(python),
        Ok(_) => Err(format!("`{python} -c 'import pycocotools.coco'` failed; `pip install pycocotools numpy` or set ARGUS_PYTHON")),
        Err(e) => Err(format!("could not run {python} ({e}); set ARGUS_PYTHON to a Python with pycocotools")),
    }
}

/// The import in this process: a fresh workspace in `data`, the project
/// and its video (untimed), then the import (timed).
fn phase(dir: &Path, data: &Path) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (seconds, settled, summary) = rt.block_on(async {
        let ws = Workspace::open(data).await.map_err(|e| e.message)?;
        let labels = fixture::CATEGORIES.iter().enumerate().map(|(i, n)| Label::new(n, Colour::palette(i))).collect();
        let (project, _) = ws.store().create_project("bench", labels).await.map_err(|e| e.to_string())?;
        let project = project.id.to_string();
        ws.import_video(&project, &dir.join(fixture::VIDEO).display().to_string(), |_| {}).await.map_err(|e| e.message)?;
        let t = Instant::now();
        let summary = ws
            .import_annotations(&project, &dir.join("annotations.json"), &ImportOptions::default(), |_| {}, &Cancel::new())
            .await
            .map_err(|e| e.message)?;
        let seconds = t.elapsed().as_secs_f64();
        ws.store().settled().await;
        Ok::<_, String>((seconds, t.elapsed().as_secs_f64(), summary))
    })?;
    if let Some(s) = summary.skipped.first() {
        return Err(format!("the import left out {} annotation(s), the first: {}: {}", summary.skipped.len(), s.at, s.reason));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "seconds {seconds}\nsettled_seconds {settled}\npeak_mib {}\nannotations {}", fixture::peak_mib(), summary.annotations)
        .map_err(|e| e.to_string())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--phase") {
        let [dir, data] = [args.get(i + 1), args.get(i + 2)].map(|a| a.map(PathBuf::from));
        let (Some(dir), Some(data)) = (dir, data) else { return Err("usage: formats_import --phase DIR DATA".into()) };
        return phase(&dir, &data);
    }
    let reps: usize = std::env::var("FORMATS_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let temp = tempfile::Builder::new().prefix("argus-formats-import-bench").tempdir().map_err(|e| e.to_string())?;
    let kept = std::env::var_os("FORMATS_DIR").map(PathBuf::from);
    let dir = kept.as_deref().unwrap_or(temp.path());
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;

    let t = Instant::now();
    let file = dir.join("annotations.json");
    let annotations = fixture::annotations();
    let out = BufWriter::with_capacity(1 << 20, fs::File::create(&file).map_err(|e| e.to_string())?);
    fixture::write_coco(out, &annotations).map_err(|e| e.to_string())?.into_inner().map_err(|e| e.to_string())?;
    drop(annotations);
    // A 1920x1080 video with a frame for every image: flat grey encodes fast.
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=1920x1080:r=25"])
        .args(["-frames:v", &fixture::FRAMES.to_string(), "-c:v", "libx264", "-preset", "ultrafast", "-g", "250", "-pix_fmt", "yuv420p"])
        .arg(dir.join(fixture::VIDEO))
        .status()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    if !status.success() {
        return Err("ffmpeg failed to make the video".into());
    }
    eprintln!("formats_import: fixture and video in {:.1} s, in {}", t.elapsed().as_secs_f64(), dir.display());

    let python = python();
    if let Err(why) = &python {
        eprintln!("formats_import: pycocotools ratios SKIPPED: {why}");
    }
    let anchor = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../argus-formats/benches/coco_anchor.py");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (mut ours, mut theirs, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..reps {
        let data = dir.join(format!("data-{rep}"));
        let _ = fs::remove_dir_all(&data);
        ours.push(run(Command::new(&exe).arg("--phase").arg(dir).arg(&data), "argus import")?);
        let _ = fs::remove_dir_all(&data);
        if let Ok(py) = &python {
            theirs.push(run(Command::new(py).arg(&anchor).arg("read").arg(&file), "pycocotools read")?);
            floor.push(run(Command::new(py).arg(&anchor).arg("floor").arg(&file).arg(dir.join("floor.db")), "sqlite floor")?);
        }
    }
    let n = fixture::MASKS as u64;
    if let Some(p) = ours.iter().find(|p| p.annotations != n) {
        eprintln!("formats_import: Argus imported {} annotations, not {n}", p.annotations);
    }
    let name = "coco_import_100k_masks";
    let (s, m) = (median(ours.iter().map(|p| p.seconds).collect()), median(ours.iter().map(|p| p.peak_mib).collect()));
    println!("formats.{name}: {s:.3} s");
    println!("formats.{name}_peak: {m:.0} MiB");
    let settled = |phases: &[fixture::Phase]| phases.iter().map(|p| p.settled).collect::<Option<Vec<f64>>>().map(median);
    let ss = settled(&ours);
    if let Some(ss) = ss {
        println!("formats.{name}_settled: {ss:.3} s (until the checkpoint the import left to run has copied the WAL into the database file)");
    }
    if theirs.is_empty() {
        return Ok(());
    }
    if let Some(p) = theirs.iter().find(|p| p.annotations != n) {
        eprintln!("formats_import: ratio SKIPPED: pycocotools read {} annotations, not {n}", p.annotations);
        return Ok(());
    }
    let (ts, tm) = (median(theirs.iter().map(|p| p.seconds).collect()), median(theirs.iter().map(|p| p.peak_mib).collect()));
    println!(
        "formats.{name}.ratio: {:.3} (vs pycocotools COCO(path) + annToRLE for every annotation of the same file: {ts:.3} s; median of {})",
        s / ts,
        theirs.len()
    );
    println!("formats.{name}_peak.ratio: {:.3} (vs the same: {tm:.0} MiB)", m / tm);
    if let Some(p) = floor.iter().find(|p| p.annotations != n) {
        eprintln!("formats_import: floor SKIPPED: the floor wrote {} rows, not {n}", p.annotations);
        return Ok(());
    }
    let fs = median(floor.iter().map(|p| p.seconds).collect());
    println!(
        "formats.{name}_sqlite_floor: {fs:.3} s (the same {n} rows into a table shaped like the store's shapes alone, Python sqlite3, one transaction, WAL, synchronous=FULL, checkpoint after the commit; median of {})",
        floor.len()
    );
    println!("formats.{name}_sqlite_floor.ratio: {:.3} (the floor vs pycocotools' read of the same file)", fs / ts);
    println!("formats.{name}_over_sqlite_floor: {:.3} (Argus's import vs the floor)", s / fs);
    if let (Some(ss), Some(fss)) = (ss, settled(&floor)) {
        println!("formats.{name}_sqlite_floor_settled: {fss:.3} s (the floor with its checkpoint)");
        println!("formats.{name}_settled_over_sqlite_floor: {:.3} (both with their checkpoints)", ss / fss);
    }
    Ok(())
}
