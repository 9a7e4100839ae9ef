//! End-to-end tests that drive the `argus-cli` binary.
//!
//! - `kill9`: a child applies 1,000 rapid edits and is SIGKILLed at a random
//!   point, 20 times; every acknowledged edit must be there after a restart,
//!   no command half-applied, and `PRAGMA integrity_check` ok.
//! - the ordinary subcommands: project new/list, shapes, undo, redo, and
//!   typed errors with a non-zero exit code.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command as Proc, Stdio},
    time::{SystemTime, UNIX_EPOCH},
};

use argus_core::{
    id::{ProjectId, TrackId, VideoId},
    mask::Rle,
    model::{Geometry, Rotation, Shape, ShapeSource, Timestamp, Track, Video},
    time::Rational,
};
use argus_store::{Command, Store};

const BIN: &str = env!("CARGO_BIN_EXE_argus-cli");
const W: u32 = 32;
const H: u32 = 24;
const FRAMES: u64 = 100;

fn cli(db: &Path, args: &[&str]) -> std::process::Output {
    Proc::new(BIN).arg("--db").arg(db).args(args).output().expect("run argus-cli")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Creates a project via the CLI and adds a small video through the store
/// (the CLI's import-video needs FFmpeg and a real file).
async fn setup(db: &Path) -> (ProjectId, VideoId, argus_core::id::LabelId) {
    let out = cli(db, &["--json", "project", "new", "Street", "--label", "car:mask,bbox", "--label", "person"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    let project: ProjectId = serde_json::from_value(created["project"]["id"].clone()).expect("project id");
    let label = serde_json::from_value(created["schema"]["labels"][0]["id"].clone()).expect("label id");
    let store = Store::open(db).await.expect("open");
    let video = store
        .add_video(Video {
            id: VideoId::new(),
            project_id: project,
            name: "clip.mp4".into(),
            sha256: "c".repeat(64),
            width: W,
            height: H,
            frame_rate: Rational::new(25, 1).expect("rate"),
            frame_count: FRAMES,
            duration: Rational::new(4, 1).expect("duration"),
            codec: "h264".into(),
            rotation: Rotation::R0,
            local_path: None,
            object_key: None,
            remote: Default::default(),
            created_at: Timestamp(0),
        })
        .await
        .expect("video");
    store.close().await;
    (project, video.id, label)
}

fn mask(seed: u64) -> Rle {
    let on = (seed % 200) as u32 + 1;
    let before = (seed % 300) as u32;
    Rle::new(H, W, vec![before, on, W * H - before - on]).expect("mask")
}

fn new_shape(track: TrackId, frame: u64, seed: u64) -> Shape {
    Shape::keyframe(track, frame, Geometry::Mask(mask(seed)), ShapeSource::Sam, Timestamp(0))
}

/// Each edit creates a track with two shapes: three records that must
/// appear together or not at all.
fn edit(video: VideoId, label: argus_core::id::LabelId, i: u64) -> (TrackId, Command) {
    let track = Track::new(video, label, None, Timestamp(0));
    let shapes = vec![new_shape(track.id, i % FRAMES, i), new_shape(track.id, (i + 1) % FRAMES, i + 7)];
    (track.id, Command::CreateTrack { track, shapes })
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_never_loses_an_acknowledged_edit_nor_half_applies_one() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("argus.db");
    let (project, video, label) = setup(&db).await;
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1;
    eprintln!("kill9 seed {seed}");
    let mut rng = argus_server::testkit::XorShift::new(seed);
    let mut acked_tracks: Vec<TrackId> = Vec::new();
    let mut killed_mid_stream = 0;

    for round in 0..20u64 {
        let base = round * 1000;
        let edits: Vec<(TrackId, Command)> = (0..1000).map(|i| edit(video, label, base + i)).collect();
        let mut input = String::new();
        for (_, cmd) in &edits {
            input.push_str(&serde_json::to_string(cmd).expect("json"));
            input.push('\n');
        }
        let input_path = dir.path().join("edits.jsonl");
        std::fs::write(&input_path, input).expect("write edits");
        // Kill after a random number of acknowledgements (0 = right away).
        let kill_after = rng.next_u64() % 1000;
        let mut child = Proc::new(BIN)
            .arg("--db")
            .arg(&db)
            .args(["--json", "apply", "--project", &project.to_string()])
            .stdin(std::fs::File::open(&input_path).expect("open edits"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut acks = 0u64;
        let mut line = String::new();
        while acks < kill_after {
            line.clear();
            if reader.read_line(&mut line).expect("read ack") == 0 {
                break;
            }
            acks += 1;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        // Acknowledgements already written before the kill count too.
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            acks += 1;
        }
        if acks < 1000 {
            killed_mid_stream += 1;
        }
        acked_tracks.extend(edits.iter().take(acks as usize).map(|(t, _)| *t));

        let store = Store::open(&db).await.expect("reopen after kill -9");
        store.integrity_check().await.expect("integrity_check ok");
        let tracks = store.tracks(video).await.expect("tracks");
        let present: std::collections::HashSet<TrackId> = tracks.iter().map(|t| t.id).collect();
        for t in &acked_tracks {
            assert!(present.contains(t), "round {round}: acknowledged track {t} is missing (seed {seed})");
        }
        // At most one unacknowledged edit (committed, killed before its ack) may be there.
        assert!(tracks.len() <= acked_tracks.len() + (round as usize + 1), "round {round}: unexpected tracks");
        for t in &tracks {
            assert_eq!(store.keyframes(t.id).await.expect("shapes").len(), 2, "round {round}: track {} is half-applied", t.id);
        }
        let (undo, _) = store.history_depth(project).await.expect("history");
        // One undo entry per applied edit, up to the default depth of 1000.
        assert_eq!(undo, tracks.len().min(1000) as u64, "round {round}: undo entries");
        // project + schema + video, then 3 changes per edit.
        assert_eq!(store.pending_count(project).await.expect("outbox"), 3 + 3 * tracks.len() as u64, "round {round}: outbox");
        store.close().await;
    }
    assert!(killed_mid_stream >= 15, "most rounds must be killed mid-stream ({killed_mid_stream}/20)");
}

#[tokio::test]
async fn project_shapes_undo_redo_through_the_cli() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("argus.db");
    let (project, video, label) = setup(&db).await;

    let out = cli(&db, &["project", "list"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.starts_with("ID") && text.contains("Street") && text.contains(&project.to_string()), "{text}");

    let (track, cmd) = edit(video, label, 3);
    let mut child = Proc::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["--json", "apply", "--project", "Street"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    writeln!(child.stdin.take().expect("stdin"), "{}", serde_json::to_string(&cmd).expect("json")).expect("write");
    let out = child.wait_with_output().expect("apply");
    assert!(out.status.success());
    let ack: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("ack");
    assert_eq!((ack["line"].as_u64(), ack["ok"].as_bool(), ack["changes"].as_u64()), (Some(1), Some(true), Some(3)));

    let out = cli(&db, &["--json", "shapes", "--video", &video.to_string(), "--frame", "3"]);
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).expect("row")).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["track_id"], serde_json::json!(track.to_string()));
    assert_eq!(rows[0]["area"].as_u64(), Some(mask(3).area()));
    assert_eq!(rows[0]["geometry"]["data"]["size"], serde_json::json!([H, W]));

    let out = cli(&db, &["undo", "--project", &project.to_string()]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("undid: create track"), "{}", stdout(&out));
    let out = cli(&db, &["--json", "shapes", "--video", &video.to_string(), "--frame", "3"]);
    assert!(stdout(&out).trim().is_empty());
    let out = cli(&db, &["redo", "--project", "Street"]);
    assert!(out.status.success());
    let out = cli(&db, &["shapes", "--video", &video.to_string(), "--frame", "4"]);
    assert!(stdout(&out).contains("mask") && stdout(&out).contains(" px"), "{}", stdout(&out));

    // Errors: typed message on stderr, non-zero exit, nothing changed.
    let out = cli(&db, &["redo", "--project", "Street"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to redo"));
    let out = cli(&db, &["project", "new", "Street", "--label", "car"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = cli(&db, &["project", "new", "X", "--label", "car:triangle"]);
    assert!(!out.status.success());
    // Attributes: per object and per frame, each type; bad ones are refused with the grammar.
    let out = cli(&db, &["--json", "project", "new", "Attrs", "--label", "car", "--attribute", "car.parked=bool",
        "--attribute", "car.colour=enum(red|blue|other)@frame", "--attribute", "car.doors=number(2..5)",
        "--attribute", "car.plate=text"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    let attrs = &created["schema"]["labels"][0]["attributes"];
    assert_eq!(attrs.as_array().map(Vec::len), Some(4), "{created}");
    assert_eq!(attrs[1]["per_frame"], true);
    assert_eq!(attrs[1]["options"], serde_json::json!(["red", "blue", "other"]));
    assert_eq!(attrs[2]["min"], 2.0);
    for bad in ["car.x=colour", "car=bool", "truck.x=bool", "car.x=enum()", "car.x=number(a..b)"] {
        let out = cli(&db, &["project", "new", &format!("Bad {bad}"), "--label", "car", "--attribute", bad]);
        assert!(!out.status.success(), "{bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("LABEL.NAME=TYPE") || err.contains("no label"), "{bad}: {err}");
    }
    let mut bad = new_shape(track, FRAMES + 1, 1);
    bad.track_id = track;
    let mut child = Proc::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["apply", "--project", "Street"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    writeln!(child.stdin.take().expect("stdin"), "{}", serde_json::to_string(&Command::SetShape { shape: bad }).expect("json"))
        .expect("write");
    let out = child.wait_with_output().expect("apply");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1") && err.contains("past the end of the video"), "{err}");
}

/// JSON lines of a successful `argus-cli --json ...`.
fn json_lines(db: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = cli(db, &all);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    stdout(&out).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// The stderr of a call that must fail.
fn refused(db: &Path, args: &[&str]) -> String {
    let out = cli(db, args);
    assert!(!out.status.success(), "{args:?} should fail: {}", stdout(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_review_through_the_cli() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("argus.db");
    let (project, video, label) = setup(&db).await;
    let (track, cmd) = edit(video, label, 3);
    {
        let store = Store::open(&db).await.expect("open");
        let actor = store.actor(project, store.local_user()).await.expect("actor");
        store.apply_in(project, &actor, cmd).await.expect("track");
        store.close().await;
    }
    let v = video.to_string();

    let opened = json_lines(&db, &["review", "open", "--video", &v, "--frames", "10-20"]);
    assert_eq!(opened.len(), 1, "the opened review: {opened:?}");
    assert_eq!((opened[0]["state"].as_str(), opened[0]["covers"].as_str()), (Some("pending"), Some("frames 10–20")));
    let id = opened[0]["id"].as_str().expect("id").to_owned();
    let on_track = json_lines(&db, &["review", "open", "--video", &v, "--track", &track.to_string()]);
    assert_eq!(on_track[0]["covers"].as_str(), Some("car #1"));

    assert!(refused(&db, &["review", "reject", &id, "--comment", "  "]).contains("what to fix"));
    assert!(refused(&db, &["review", "open", "--video", &v, "--frames", "20-10"]).contains("in order"));
    assert!(refused(&db, &["review", "open", "--video", &v, "--frames", "ten"]).contains("A-B"));
    let rejected = json_lines(&db, &["review", "reject", &id, "--comment", "the car's mirror is missing"]);
    assert_eq!((rejected[0]["state"].as_str(), rejected[0]["reviewer"].as_str()), (Some("rejected"), Some("you")));
    json_lines(&db, &["review", "comment", &id, "--body", "fixed on this frame", "--frame", "15"]);
    assert!(refused(&db, &["review", "approve", &id]).contains("reopen it first"));
    json_lines(&db, &["review", "reopen", &id]);
    json_lines(&db, &["review", "approve", &id]);

    let listed = json_lines(&db, &["review", "list", "--video", &v]);
    assert_eq!(listed.len(), 2, "both reviews, oldest first: {listed:?}");
    assert_eq!(listed[0]["id"].as_str(), Some(id.as_str()));
    assert_eq!(listed[0]["state"].as_str(), Some("approved"));
    let thread: Vec<(Option<&str>, Option<u64>)> =
        listed[0]["comments"].as_array().expect("thread").iter().map(|c| (c["body"].as_str(), c["frame"].as_u64())).collect();
    assert_eq!(
        thread,
        [(Some("rejected: the car's mirror is missing"), None), (Some("fixed on this frame"), Some(15))],
        "the verdicts' comments and the comment pinned to frame 15"
    );
    assert_eq!(listed[1]["state"].as_str(), Some("pending"));
    let table = stdout(&cli(&db, &["review", "list", "--video", &v]));
    assert!(table.starts_with("REVIEW") && table.contains("approved") && table.contains("car #1"), "{table}");
    // Each step was one undo step: undo takes the approval back.
    assert!(cli(&db, &["undo", "--project", "Street"]).status.success());
    assert_eq!(json_lines(&db, &["review", "list", "--video", &v])[0]["state"].as_str(), Some("pending"));
}
