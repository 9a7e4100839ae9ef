//! Sync benchmarks (`make bench ONLY=sync`), end to end against argus-server
//! (PostgreSQL on loopback, row-level security on) and the local store.
//!
//! The fixture: 10,000 mask shapes (100 tracks x 100 frames) of a 1080p
//! video, generated deterministically: each object is a blob whose outline
//! wobbles (a few harmonics), moving and changing shape from frame to frame,
//! as a segmentation's masks do. The mean RLE size is printed.
//!
//! - `sync.push_10k`: ms to push them (network, JSON, server, local store);
//! - `sync.push_10k.ratio`: against the floor, the same change rows written
//!   into the same tables (same indexes, RLS on, as the same role) by
//!   `psql` in one transaction: `COPY` into temporary tables (PostgreSQL
//!   refuses COPY FROM into a table whose RLS applies), then one
//!   `INSERT ... SELECT` per table under the policies. Target <= 3;
//! - `sync.pull_10k`: ms for a fresh machine to pull them;
//! - `sync.pull_changes_per_s`: changes per second the local store applies
//!   from pulled pages (the pages fetched beforehand). Target >= 20,000.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use argus_client::{Api, StaticToken, Syncer};
use argus_core::{
    id::UserId,
    mask::Rle,
    model::{Change, Colour, Geometry, Label, Role, Shape, ShapeKind, ShapeSource, Timestamp, Track},
};
use argus_server::testkit::{BoxError, TestServer};
use argus_store::{Actor, Command, Store};
use serde_json::{Value, json};

const W: u32 = 1920;
const H: u32 = 1080;

/// A blob around (cx, cy) with radius r whose outline wobbles.
fn blob(cx: f64, cy: f64, r: f64, phase: f64) -> Result<Rle, BoxError> {
    let mut px = vec![0u8; (W * H) as usize];
    let (y0, y1) = ((cy - r * 1.4).max(0.0) as u32, ((cy + r * 1.4) as u32).min(H));
    let (x0, x1) = ((cx - r * 1.4).max(0.0) as u32, ((cx + r * 1.4) as u32).min(W));
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (f64::from(x) - cx, f64::from(y) - cy);
            let a = dy.atan2(dx);
            let edge = r * (1.0 + 0.15 * (3.0 * a + phase).sin() + 0.07 * (7.0 * a - 2.0 * phase).sin() + 0.03 * (17.0 * a + phase).cos());
            if dx * dx + dy * dy <= edge * edge {
                px[(y * W + x) as usize] = 1;
            }
        }
    }
    Ok(Rle::from_bitmap_row_major(H, W, &px)?)
}

fn find_psql() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("psql")).find(|p| p.is_file()));
    on_path.or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        dirs.into_iter().rev().map(|d| d.join("bin/psql")).find(|p| p.is_file())
    })
}

async fn bench() -> Result<(), BoxError> {
    let psql = find_psql().ok_or("psql not found (Debian: apt-get install postgresql-client)")?;
    let srv = TestServer::start(|_| {}).await?;
    let owner = srv.owner_with_project("bench-sync@example.com").await?;
    let api = Api::new(&srv.url, Arc::new(StaticToken(Some(owner.token.clone()))))?;
    let dir = tempfile::tempdir()?;
    let a = Arc::new(Store::open(dir.path().join("a.db")).await?);
    let labels = vec![Label::new("car", Colour::palette(0)).with_kinds(&[ShapeKind::Mask])];
    let (project, schema) = a.create_project("Bench", labels).await?;
    let label = schema.labels()[0].clone();
    let video = a.add_video(argus_server::testkit::sample_video(project.id, &"e".repeat(64), W, H, 100)).await?;
    let _: Value = api.post(&format!("/api/v1/teams/{}/projects", owner.team), &json!({"id": project.id, "name": "Bench", "label_schema": {"labels": schema.labels()}})).await?;
    let lead = Actor { user: UserId::new(), role: Role::Lead };
    let mut runs = 0usize;
    for t in 0..100u32 {
        let track = Track::new(video.id, label.id, None, Timestamp(1));
        let mut shapes = Vec::with_capacity(100);
        for f in 0..100u64 {
            let (cx, cy) = (100.0 + f64::from(t % 10) * 170.0 + f as f64, 80.0 + f64::from(t / 10) * 95.0 + (f as f64 * 0.3).sin() * 10.0);
            let m = blob(cx, cy, 30.0 + f64::from(t % 7) * 4.0, f as f64 * 0.05 + f64::from(t))?;
            runs += m.counts().len();
            shapes.push(Shape::keyframe(track.id, f, Geometry::Mask(m), ShapeSource::Sam, Timestamp(1)));
        }
        a.apply(&lead, Command::CreateTrack { track, shapes }).await?;
    }
    let changes = a.pending_count(project.id).await?;
    eprintln!("fixture: {changes} changes, 10,000 1080p masks, mean RLE {:.0} runs", runs as f64 / 10_000.0);

    let syncer = Syncer::new(api.clone(), a.clone());
    let t = Instant::now();
    let mut report = argus_client::SyncReport::default();
    syncer.push(project.id, &mut report).await?;
    let push = t.elapsed();
    if report.pushed as u64 != changes {
        return Err(format!("pushed {} of {changes}", report.pushed).into());
    }

    // The floor: the same rows, COPY'd by psql as the same role, RLS on.
    let p2: Value = api.post(&format!("/api/v1/teams/{}/projects", owner.team), &json!({"name": "Floor"})).await?;
    let p2 = p2["id"].as_str().ok_or("no project")?.to_owned();
    let owner_url = srv.db.url.clone();
    let changes_csv = dir.path().join("changes.csv");
    let records_csv = dir.path().join("records.csv");
    let export = format!(
        "\\copy (select '{p2}', seq, gen_random_uuid(), hlc, kind, record_id, body, author, created_at from argus.changes where project_id = '{pid}' order by seq) to '{c}' csv\n\
         \\copy (select '{p2}', kind, record_id, hlc, deleted, seq, body from argus.records where project_id = '{pid}') to '{r}' csv\n",
        pid = project.id,
        c = changes_csv.display(),
        r = records_csv.display()
    );
    run_psql(&psql, &owner_url, &export)?;
    let claims = json!({"sub": owner.user_id, "role": "authenticated"}).to_string().replace('\'', "''");
    // PostgreSQL refuses COPY FROM into a table with row-level security
    // for a role it applies to, so the rows are COPY'd into temporary
    // tables and inserted from there in one statement per table, with the
    // policies checked, all in one transaction.
    let load = format!(
        "begin;\ncreate temp table c (project_id uuid, seq bigint, change_id uuid, hlc text, kind text, record_id uuid, body jsonb, author uuid, created_at timestamptz) on commit drop;\n\
         create temp table r (project_id uuid, kind text, record_id uuid, hlc text, deleted boolean, seq bigint, body jsonb) on commit drop;\n\
         \\copy c (project_id, seq, change_id, hlc, kind, record_id, body, author, created_at) from '{c}' csv\n\
         \\copy r (project_id, kind, record_id, hlc, deleted, seq, body) from '{r}' csv\n\
         grant select on c, r to authenticated;\n\
         select set_config('role', 'authenticated', true), set_config('request.jwt.claims', '{claims}', true);\n\
         insert into argus.changes select * from c;\ninsert into argus.records select * from r;\ncommit;\n",
        c = changes_csv.display(),
        r = records_csv.display()
    );
    let runtime_url = srv.state.config.runtime_url()?;
    let t = Instant::now();
    run_psql(&psql, &runtime_url, &load)?;
    let floor = t.elapsed();

    // A fresh machine pulls everything.
    let b = Arc::new(Store::open(dir.path().join("b.db")).await?);
    let t = Instant::now();
    let mut r = argus_client::SyncReport::default();
    Syncer::new(api.clone(), b.clone()).pull(project.id, &mut r).await?;
    let pull = t.elapsed();
    if r.pulled as u64 != changes {
        return Err(format!("pulled {} of {changes}", r.pulled).into());
    }

    // Applying pulled pages, the pages fetched beforehand.
    let mut pages: Vec<Vec<Change>> = Vec::new();
    let mut since = 0i64;
    loop {
        let page: Value = api.get(&format!("/api/v1/projects/{}/sync/pull?since={since}&limit=1000", project.id)).await?;
        let list: Vec<Change> = page["changes"].as_array().ok_or("no changes")?.iter().map(|c| serde_json::from_value(c["change"].clone())).collect::<Result<_, _>>()?;
        since = page["cursor"].as_i64().ok_or("no cursor")?;
        pages.push(list);
        if page["more"] != true {
            break;
        }
    }
    let c = Store::open(dir.path().join("c.db")).await?;
    let t = Instant::now();
    let mut applied = 0;
    for (i, page) in pages.iter().enumerate() {
        applied += c.apply_remote(project.id, page, Some(&i.to_string())).await?.applied.len();
    }
    let apply = t.elapsed();

    println!("sync.push_10k: {:.0} ms", push.as_secs_f64() * 1e3);
    println!("sync.push_10k.ratio: {:.1} (vs psql COPY of the same rows, RLS on, {:.0} ms)", push.as_secs_f64() / floor.as_secs_f64(), floor.as_secs_f64() * 1e3);
    println!("sync.pull_10k: {:.0} ms", pull.as_secs_f64() * 1e3);
    println!("sync.pull_changes_per_s: {:.0} changes/s", applied as f64 / apply.as_secs_f64());
    srv.stop().await;
    Ok(())
}

fn run_psql(psql: &Path, url: &str, script: &str) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let f = dir.path().join("script.sql");
    std::fs::write(&f, script)?;
    let out = std::process::Command::new(psql).args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"]).arg(&f).output()?;
    if !out.status.success() {
        return Err(format!("psql failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

fn main() {
    argus_server::testkit::bench_main("sync", bench);
}
