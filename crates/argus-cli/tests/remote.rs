//! `argus-cli upload` and `argus-cli sync` against a real argus-server
//! (PostgreSQL, the embedded S3 store), killed with SIGKILL at random
//! points. An upload resumes without sending again a part the store held,
//! and the stored object's SHA-256 is the file's; a sync, killed while it
//! pushes and while it pulls, finishes after a restart with both sides
//! holding exactly the same changes.
//!
//! The seed is printed; `ARGUS_TEST_SEED=N` replays a run.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use argus_client::{Api, StaticToken, upload::Presigned};
use argus_server::{
    ensure,
    testkit::{BoxError, TestResult, TestServer, XorShift, query_text},
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;
const PARTS: usize = 32;

fn cli(db: &Path, url: &str, token: &str, project: &str, file: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_argus-cli"));
    c.arg("--db").arg(db).arg("--json").arg("upload");
    c.args(["--server", url, "--token", token, "--project", project, "--concurrency", "3"]).arg(file);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// When to kill a run.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// While the file is being hashed, before the server knows of it.
    Hashing,
    /// After this many more parts were reported stored.
    Parts(u32),
}

/// Runs the CLI until `trigger`, then SIGKILLs it `delay_ms` later.
fn run_and_kill(mut cmd: Command, trigger: Trigger, delay_ms: u64) -> Result<(), BoxError> {
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut first_sent: Option<u64> = None;
    let mut hit = false;
    for line in BufReader::new(stdout).lines() {
        let v: Value = serde_json::from_str(&line?)?;
        match (trigger, v["event"].as_str()) {
            (Trigger::Hashing, Some("hashing")) if v["done"].as_u64() < v["total"].as_u64() => hit = true,
            (Trigger::Parts(n), Some("sending")) => {
                let done = v["parts_done"].as_u64().unwrap_or(0);
                // The first report of a run says what the store held at its start.
                let base = *first_sent.get_or_insert(done);
                hit = done >= base + u64::from(n);
            }
            (_, Some("done")) => return Err(format!("the upload finished before the kill ({trigger:?}): {v}").into()),
            _ => {}
        }
        if hit {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    child.kill()?;
    let status = child.wait()?;
    ensure!(hit, "the run ended ({status}) before reaching {trigger:?}");
    Ok(())
}

async fn killed_five_times_it_resumes_without_resending_parts() -> TestResult {
    let seed: u64 = std::env::var("ARGUS_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("kill test seed: {seed} (ARGUS_TEST_SEED={seed} replays it)");
    let mut rng = XorShift::new(seed | 1);
    let srv = TestServer::start(|_| {}).await?;
    let owner = srv.owner_with_project("killer@example.com").await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("long-take.mp4");
    let mut data = vec![0u8; PARTS * 8 * MIB - 4321];
    XorShift::new(seed | 1).fill(&mut data);
    std::fs::write(&file, &data)?;
    let want = hex::encode(Sha256::digest(&data));
    drop(data);
    let db = dir.path().join("argus.db");

    // Five kills: one while hashing, four between (and during) parts.
    let triggers = [Trigger::Hashing, Trigger::Parts(2 + rng.below(4) as u32), Trigger::Parts(1 + rng.below(5) as u32), Trigger::Parts(2 + rng.below(3) as u32), Trigger::Parts(1 + rng.below(4) as u32)];
    // After each kill: every multipart upload on the server, with how many
    // times the store has taken each of its parts.
    let mut snapshots: Vec<BTreeMap<String, BTreeMap<i32, u32>>> = Vec::new();
    for t in triggers {
        let (u, tok, p) = (srv.url.clone(), owner.token.clone(), owner.project.clone());
        let (db2, file2) = (db.clone(), file.clone());
        let delay = rng.below(40);
        tokio::task::spawn_blocking(move || run_and_kill(cli(&db2, &u, &tok, &p, &file2), t, delay)).await??;
        // Let the store finish what reached it before the kill.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ids = query_text(&srv.db, "select string_agg(upload_id, ',') from argus.videos where upload_id is not null").await?.unwrap_or_default();
        snapshots.push(ids.split(',').filter(|u| !u.is_empty()).map(|u| (u.to_owned(), srv.store.part_writes(u))).collect());
    }
    let last = snapshots.last().cloned().unwrap_or_default();
    ensure!(last.len() == 1, "after five kills the server holds {} uploads, not one: {last:?}", last.len());
    let (upload_id, held) = last.iter().next().map(|(u, parts)| (u.clone(), parts.len())).ok_or("no upload")?;
    ensure!(held > 0 && held < PARTS, "after five kills the store holds {held} of {PARTS} parts; the kills did not land mid-upload");

    // The sixth run finishes.
    let (u, tok, p) = (srv.url.clone(), owner.token.clone(), owner.project.clone());
    let (db2, file2) = (db.clone(), file.clone());
    let output = tokio::task::spawn_blocking(move || cli(&db2, &u, &tok, &p, &file2).output()).await??;
    ensure!(output.status.success(), "the last run failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let done: Value = stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|v| v["event"] == "done").ok_or("no done line")?;
    ensure!(done["resumed"] == true && done["video"]["status"] == "processing", "{done}");
    // Bytes a killed client had already handed to its kernel still arrive,
    // so the store may hold more parts than it did just after the kill.
    let (reused, sent) = (done["parts_reused"].as_u64().unwrap_or(0), done["parts_sent"].as_u64().unwrap_or(0));
    ensure!(reused >= held as u64 && reused + sent == PARTS as u64, "{done} (the store held {held} parts after the last kill)");

    let fin = srv.store.part_writes(&upload_id);
    ensure!(fin.len() == PARTS, "{} of {PARTS} parts stored: {fin:?}", fin.len());
    for (round, snap) in snapshots.iter().enumerate() {
        for (part, count) in snap.get(&upload_id).into_iter().flatten() {
            ensure!(fin.get(part) == Some(count), "part {part}, held by the store after kill {}, was sent again ({count} -> {:?})", round + 1, fin.get(part));
        }
    }
    // Parts sent again at all are only those cut off by a kill.
    let resent: u32 = fin.values().map(|c| c - 1).sum();
    ensure!(resent == 0, "{resent} part(s) were stored twice: {fin:?}");

    let api = Api::new(&srv.url, Arc::new(StaticToken(Some(owner.token.clone()))))?;
    let video = done["video"]["id"].as_str().ok_or("no video id")?;
    let dl: Presigned = api.get(&format!("/api/v1/videos/{video}/download")).await?;
    let got = api.http().get(&dl.url).send().await?.error_for_status()?.bytes().await?;
    ensure!(hex::encode(Sha256::digest(&got)) == want, "the stored object's SHA-256 is not the file's");
    ensure!(done["video"]["sha256"] == want.as_str(), "the server recorded another hash: {done}");
    srv.stop().await;
    Ok(())
}

/// `argus-cli sync` on `db`, killed after `delay_ms` (if still running).
fn sync_and_kill(db: &Path, url: &str, token: &str, project: &str, delay_ms: u64) -> Result<bool, BoxError> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_argus-cli"))
        .arg("--db")
        .arg(db)
        .args(["--json", "sync", "--server", url, "--token", token, "--project", project, "--batch", "100", "--page", "150"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = std::time::Instant::now() + Duration::from_millis(delay_ms);
    while std::time::Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill()?;
    child.wait()?;
    Ok(true)
}

fn sync_to_end(db: &Path, url: &str, token: &str, project: &str) -> Result<Value, BoxError> {
    let out = Command::new(env!("CARGO_BIN_EXE_argus-cli"))
        .arg("--db")
        .arg(db)
        .args(["--json", "sync", "--server", url, "--token", token, "--project", project])
        .output()?;
    ensure!(out.status.success(), "sync failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Every track and shape of the video, for comparing two machines.
async fn snapshot(db: &Path, video: argus_core::id::VideoId, frames: u64) -> Result<Vec<String>, BoxError> {
    let store = argus_store::Store::open(db).await?;
    let mut all: Vec<String> = store.tracks(video).await?.iter().map(|t| format!("track {} {}", t.id, t.number)).collect();
    for f in 0..frames {
        for s in store.frame_shapes(video, f).await? {
            all.push(format!("shape {} {}", s.id, serde_json::to_string(&s.geometry)?));
        }
    }
    store.close().await;
    all.sort();
    Ok(all)
}

async fn sync_killed_ten_times_while_pushing_and_pulling_finishes() -> TestResult {
    use argus_core::{
        geometry::BBox,
        id::UserId,
        model::{Colour, Geometry, Label, Role, Shape, ShapeKind, ShapeSource, Timestamp, Track},
    };
    let seed: u64 = std::env::var("ARGUS_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("sync kill test seed: {seed} (ARGUS_TEST_SEED={seed} replays it)");
    let mut rng = XorShift::new(seed | 1);
    let srv = TestServer::start(|_| {}).await?;
    let owner = srv.owner_with_project("syncer@example.com").await?;
    let dir = tempfile::tempdir()?;
    let (a_db, b_db) = (dir.path().join("a.db"), dir.path().join("b.db"));
    // Machine A: a project made offline, 3,000 shapes in 30 tracks.
    let store = argus_store::Store::open(&a_db).await?;
    let labels = vec![Label::new("car", Colour::palette(0)).with_kinds(&[ShapeKind::BBox])];
    let (project, schema) = store.create_project("Street", labels).await?;
    let label = schema.labels()[0].clone();
    let video = store.add_video(argus_server::testkit::sample_video(project.id, &"d".repeat(64), 640, 360, 200)).await?;
    let lead = argus_store::Actor { user: UserId::new(), role: Role::Lead };
    for t in 0..30 {
        let track = Track::new(video.id, label.id, None, Timestamp(1));
        let shapes: Vec<Shape> = (0..100u64)
            .map(|f| Shape::keyframe(track.id, f, Geometry::BBox(BBox { x: f64::from(t), y: f as f64, width: 9.0, height: 9.0 }), ShapeSource::Manual, Timestamp(1)))
            .collect();
        store.apply(&lead, argus_store::Command::CreateTrack { track, shapes }).await?;
    }
    store.close().await;
    let api = Api::new(&srv.url, Arc::new(StaticToken(Some(owner.token.clone()))))?;
    let _: Value = api.post(&format!("/api/v1/teams/{}/projects", owner.team), &serde_json::json!({"id": project.id, "name": "Street", "label_schema": {"labels": schema.labels()}})).await?;
    let pid = project.id.to_string();
    let count = |srv: &TestServer| {
        let sql = format!("select count(*) || '/' || count(distinct change_id) from argus.changes where project_id = '{pid}'");
        let db = srv.db.clone();
        async move { query_text(&db, &sql).await }
    };
    let expected = 3 + 30 * 101;

    // Ten kills while A pushes, ten while B (an empty machine) pulls.
    let mut kills = 0;
    for (db, what) in [(&a_db, "push"), (&b_db, "pull")] {
        for _ in 0..10 {
            let (db, url, tok, p) = (db.clone(), srv.url.clone(), owner.token.clone(), pid.clone());
            let delay = 30 + rng.below(400);
            if tokio::task::spawn_blocking(move || sync_and_kill(&db, &url, &tok, &p, delay)).await?? {
                kills += 1;
            }
        }
        let (db, url, tok, p) = (db.clone(), srv.url.clone(), owner.token.clone(), pid.clone());
        let done = tokio::task::spawn_blocking(move || sync_to_end(&db, &url, &tok, &p)).await??;
        ensure!(done["refused"].as_array().is_some_and(Vec::is_empty) && done["skipped"].as_array().is_some_and(Vec::is_empty), "{what}: {done}");
        let c = count(&srv).await?.unwrap_or_default();
        ensure!(c == format!("{expected}/{expected}"), "after the {what} kills the server holds {c} changes (all/distinct), expected {expected}");
    }
    ensure!(kills >= 10, "only {kills} of 20 runs were killed mid-way; the test proves little");
    let store = argus_store::Store::open(&a_db).await?;
    ensure!(store.pending_count(project.id).await? == 0, "A still has changes to send");
    store.close().await;
    ensure!(snapshot(&a_db, video.id, 100).await? == snapshot(&b_db, video.id, 100).await?, "the two machines differ");
    srv.stop().await;
    Ok(())
}

/// Runs argus-cli with `args` and a session file; its JSON answer, or the error.
fn cli_json(db: &Path, session: &Path, args: &[&str]) -> Result<Result<Value, String>, BoxError> {
    let out = Command::new(env!("CARGO_BIN_EXE_argus-cli"))
        .arg("--db")
        .arg(db)
        .arg("--json")
        .args(args)
        .arg("--session-file")
        .arg(session)
        .env("ARGUS_SESSION_PASSPHRASE", "a long passphrase")
        .env("ARGUS_PASSWORD", "password-1")
        .env_remove("ARGUS_TOKEN")
        .output()?;
    if !out.status.success() {
        return Ok(Err(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_owned();
    Ok(Ok(serde_json::from_str(&last)?))
}

async fn login_push_clone_and_logout_from_the_command_line() -> TestResult {
    let srv = TestServer::start(|_| {}).await?;
    let owner = srv.owner_with_project("cli-lead@example.com").await?;
    let dir = tempfile::tempdir()?;
    let (session, a, b) = (dir.path().join("session.json"), dir.path().join("a.db"), dir.path().join("b.db"));
    let url = srv.url.clone();
    let (sess, a2, b2, team) = (session.clone(), a.clone(), b.clone(), owner.team.clone());
    let dir2 = dir.path().to_path_buf();
    let steps = tokio::task::spawn_blocking(move || -> Result<(), BoxError> {
        let login = cli_json(&a2, &sess, &["login", "--server", &url, "--email", "cli-lead@example.com"])?.map_err(|e| format!("login: {e}"))?;
        ensure!(login["event"] == "signed_in" && login["session"].as_str().is_some_and(|s| s.contains("encrypted")), "{login}");
        let raw = std::fs::read_to_string(&sess)?;
        ensure!(!raw.contains("refresh_token"), "the session file is readable: {raw}");
        let out = Command::new(env!("CARGO_BIN_EXE_argus-cli")).arg("--db").arg(&a2).args(["--json", "project", "new", "Street", "--label", "car"]).output()?;
        ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let created: Value = serde_json::from_slice(&out.stdout)?;
        let pid = created["project"]["id"].as_str().ok_or("no project id")?.to_owned();
        // A real video file in the project (the ffmpeg CLI makes it; bootstrap installs it).
        let clip = dir2.join("street.mkv");
        let made = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=96x64:r=10:d=1", "-c:v", "ffv1"])
            .arg(&clip)
            .output()
            .map_err(|e| format!("the ffmpeg CLI is needed to make the test video: {e}"))?;
        ensure!(made.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&made.stderr));
        let out = Command::new(env!("CARGO_BIN_EXE_argus-cli")).arg("--db").arg(&a2).args(["--json", "import-video", "--project", "Street"]).arg(&clip).output()?;
        ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let video: Value = serde_json::from_slice(&out.stdout)?;
        let vid = video["id"].as_str().ok_or("no video id")?.to_owned();
        let pushed = cli_json(&a2, &sess, &["push", "--server", &url, "--team", &team, "--project", "Street"])?.map_err(|e| format!("push: {e}"))?;
        ensure!(pushed["pushed"].as_u64() >= Some(3) && pushed["videos"][0]["outcome"] == "uploaded", "{pushed}");
        let cloned = cli_json(&b2, &sess, &["clone", "--server", &url, "--project", &pid])?.map_err(|e| format!("clone: {e}"))?;
        ensure!(cloned["pulled"].as_u64() >= Some(3) && cloned["fetched"].as_array().is_some_and(Vec::is_empty), "{cloned}");
        ensure!(cloned["videos"][0]["id"] == vid.as_str() && cloned["videos"][0]["server"] == "processing", "{cloned}");
        // The file when it is needed, into --dir, the same bytes.
        let files = dir2.join("b-videos");
        let fetched = cli_json(&b2, &sess, &["fetch", "--server", &url, "--video", &vid, "--dir", files.to_str().ok_or("path")?])?.map_err(|e| format!("fetch: {e}"))?;
        let got = PathBuf::from(fetched["path"].as_str().ok_or("no path")?);
        ensure!(got.starts_with(&files) && std::fs::read(&got)? == std::fs::read(&clip)?, "{fetched}");
        // Or every file at clone time.
        let c = dir2.join("c.db");
        let all = cli_json(&c, &sess, &["clone", "--server", &url, "--project", &pid, "--videos", "all", "--dir", dir2.join("c-videos").to_str().ok_or("path")?])?
            .map_err(|e| format!("clone --videos all: {e}"))?;
        ensure!(all["fetched"].as_array().map(Vec::len) == Some(1), "{all}");
        let out = Command::new(env!("CARGO_BIN_EXE_argus-cli")).arg("--db").arg(&b2).args(["--json", "project", "list"]).output()?;
        ensure!(String::from_utf8_lossy(&out.stdout).contains(&pid), "the clone has no project {pid}");
        let bye = cli_json(&a2, &sess, &["logout", "--server", &url])?.map_err(|e| format!("logout: {e}"))?;
        ensure!(bye["server_told"] == true && !sess.exists(), "{bye}");
        let err = cli_json(&a2, &sess, &["sync", "--server", &url, "--project", &pid])?.err().ok_or("synced after logout")?;
        ensure!(err.contains("not signed in"), "{err}");
        // Without a keyring or a session file, login says what to do.
        let out = Command::new(env!("CARGO_BIN_EXE_argus-cli"))
            .arg("--db")
            .arg(&a2)
            .args(["login", "--server", &url, "--email", "cli-lead@example.com"])
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/argus-test-bus")
            .env_remove("ARGUS_SESSION_FILE")
            .env("ARGUS_PASSWORD", "password-1")
            .output()?;
        let msg = String::from_utf8_lossy(&out.stderr);
        ensure!(!out.status.success() && msg.contains("passphrase-encrypted file"), "{msg}");
        Ok(())
    })
    .await?;
    steps?;
    srv.stop().await;
    Ok(())
}

fn main() {
    argus_server::testkit::run(argus_server::tests![
        killed_five_times_it_resumes_without_resending_parts,
        sync_killed_ten_times_while_pushing_and_pulling_finishes,
        login_push_clone_and_logout_from_the_command_line,
    ]);
}
