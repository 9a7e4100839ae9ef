//! `make bench ONLY=server`: the companion API under load, on a real
//! PostgreSQL (`DATABASE_URL`; `scripts/bench` runs this area under
//! `scripts/with-postgres`, which starts a throwaway cluster when it is unset).
//!
//! Figures (one `server.<name>: <value> <unit>` line each on stdout; details
//! and progress on stderr):
//! - `password_grant_per_s`: `POST /auth/v1/token?grant_type=password` with
//!   bcrypt at the configured cost (the default, `bcrypt::DEFAULT_COST` = 12),
//!   2x cores concurrent clients; when that is not GoTrue's cost (10), stderr
//!   also gives the rate for users whose hashes have cost 10;
//! - `jwt_verify_per_s`: the server's own `Keys::verify` on an access token,
//!   in-process, one thread;
//! - `get_projects_p99_c{50,200}`, `get_projects_rps_c{50,200}`: authenticated
//!   `GET /api/v1/projects` (a user in 3 teams with 50 projects) from a
//!   closed-loop load generator in this process (tokio tasks, one keep-alive
//!   connection each), 5 s warm-up then 20 s measured;
//! - `pgbench_get_projects_tps_c50` and `get_projects_rps_c50.ratio`: the
//!   floor, pgbench running the API's transaction (BEGIN; set_config role and
//!   claims; the same SELECT; COMMIT) with 50 clients as the runtime role, in
//!   the same run against the same database.
//!
//! The server runs in-process (`argus_server::prepare` + `serve` on
//! 127.0.0.1:0) on its own tokio runtime; the load generator has another, so
//! the two share the machine's cores as two processes would.
//! `ARGUS_BENCH_QUICK=1` shortens every phase (a smoke run, not for figures).

#[path = "../tests/util.rs"]
mod util;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use argus_server::Config;
use serde_json::{Value, json};
use argus_server::ensure;
use util::{TestDb, TestServer, token_of, user_id};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T = ()> = Result<T, BoxError>;

/// The API's `list_projects` query, as the server builds it. The bench also
/// checks it against the text the server sends, read from `pg_stat_activity`
/// during the warm-up.
fn project_query() -> String {
    argus_server::api::list_projects_sql()
}

/// `db::begin_as`'s statement, with pgbench's variable for `$1`.
const SET_CLAIMS: &str = "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', :claims, true)";

const TEAMS: usize = 3;
const PROJECTS: usize = 50;
const PGBENCH_CLIENTS: usize = 50;
/// Go's `bcrypt.DefaultCost`, which GoTrue hashes with.
const GOTRUE_BCRYPT_COST: u32 = 10;

/// Phase lengths.
#[derive(Debug, Clone, Copy)]
struct Phases {
    warm: Duration,
    measure: Duration,
    grant_warm: Duration,
    grant_measure: Duration,
    verify: Duration,
}

impl Phases {
    fn from_env() -> Self {
        if std::env::var("ARGUS_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0") {
            let s = Duration::from_secs;
            Self { warm: s(1), measure: s(3), grant_warm: s(1), grant_measure: s(2), verify: Duration::from_millis(300) }
        } else {
            let s = Duration::from_secs;
            Self { warm: s(5), measure: s(20), grant_warm: s(2), grant_measure: s(10), verify: s(2) }
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("server bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res {
    if let Err(why) = util::admin_url() {
        return Err(format!("{why} (`make bench ONLY=server` runs the bench under scripts/with-postgres)").into());
    }
    let phases = Phases::from_env();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let pgbench = find_pgbench().ok_or("pgbench not found on PATH nor in /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql-15)")?;
    let started = Instant::now();

    // Two runtimes: the server's and the load generator's.
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(cores).thread_name("server").enable_all().build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(cores).thread_name("load").enable_all().build()?;

    let db = Arc::new(client_rt.block_on(TestDb::new())?);
    let defaults = Config::new("postgres://unused", "unused");
    let (bcrypt_cost, pool_size) = (defaults.auth.bcrypt_cost, defaults.db_pool_size);
    let srv = server_rt.block_on(TestServer::on(db.clone(), |c| {
        // The production defaults (util's test config lowers both).
        c.auth.bcrypt_cost = bcrypt_cost;
        c.db_pool_size = pool_size;
        // GoTrue's sign-in limit (30 per 5 minutes per IP) would refuse the
        // sign-in load from one address; the counting itself still runs.
        c.rate_limits.sign_in_sign_ups = 1 << 30;
    }))?;
    eprintln!(
        "server: {} ({} cores), server pool {} connections (config.db_pool_size, the default), bcrypt cost {} (config.auth.bcrypt_cost, the default)",
        srv.url, cores, srv.state.config.db_pool_size, srv.state.config.auth.bcrypt_cost
    );

    let result = client_rt.block_on(check_max_connections(pool_size)).and_then(|()| {
        let fixture = client_rt.block_on(fixture(&srv, cores))?;
        eprintln!("server: fixture ready after {:.1} s", started.elapsed().as_secs_f64());
        measure(&srv, &client_rt, &fixture, &pgbench, cores, phases)
    });
    server_rt.block_on(srv.stop());
    drop(db);
    eprintln!("server: total {:.0} s", started.elapsed().as_secs_f64());
    result
}

/// The PostgreSQL connections the bench holds at once: the server's pool,
/// pgbench's clients and a few for set-up and checks.
async fn check_max_connections(pool_size: u32) -> Res {
    let admin = sqlx::PgPool::connect(&util::admin_url()?).await?;
    let max: String = sqlx::query_scalar("show max_connections").fetch_one(&admin).await?;
    let in_use: i64 = sqlx::query_scalar("select count(*) from pg_stat_activity where backend_type = 'client backend'").fetch_one(&admin).await?;
    admin.close().await;
    let max: i64 = max.parse()?;
    let need = i64::from(pool_size) + PGBENCH_CLIENTS as i64 + 5;
    eprintln!("server: PostgreSQL max_connections {max}, {in_use} in use, the bench needs about {need} more");
    if max - in_use < need {
        return Err(format!("PostgreSQL allows {max} connections and {in_use} are in use; the bench needs {need} (raise max_connections)").into());
    }
    Ok(())
}

#[derive(Debug)]
struct Fixture {
    /// The measured user's access token and the claims the server runs its
    /// queries with.
    token: String,
    claims: String,
    /// One (email, password) per sign-in client.
    signers: Vec<(String, String)>,
    /// The same with bcrypt hashes of GoTrue's cost, when the configured
    /// cost differs.
    gotrue_signers: Vec<(String, String)>,
}

fn label_schema() -> Value {
    json!({"labels": [
        {"id": uuid::Uuid::now_v7(), "name": "car", "colour": "#ff0000", "kinds": ["mask", "bbox"]},
        {"id": uuid::Uuid::now_v7(), "name": "person", "colour": "#00ff00", "kinds": ["mask"]},
        {"id": uuid::Uuid::now_v7(), "name": "bicycle", "colour": "#0000ff", "kinds": ["polygon"]},
    ]})
}

/// 3 owners with a team each, 50 projects spread over the teams, a user who
/// is an annotator in all 50 (and so a member of the 3 teams), and the
/// password-grant clients' users.
async fn fixture(srv: &TestServer, cores: usize) -> Res<Fixture> {
    let mut owners = Vec::new();
    let mut teams = Vec::new();
    for i in 0..TEAMS {
        let owner = srv.sign_up(&format!("owner{i}@bench.test"), &format!("owner-password-{i}")).await?;
        let (st, team) = srv.post(&srv.api("/teams"), Some(token_of(&owner)), json!({"name": format!("Team {i}")})).await?;
        ensure!(st == 201, "creating team {i} gave {st}: {team}");
        teams.push(team["id"].as_str().unwrap_or_default().to_owned());
        owners.push(owner);
    }
    let user = srv.sign_up("annotator@bench.test", "annotator-password").await?;
    let uid = user_id(&user);
    for j in 0..PROJECTS {
        let t = j % TEAMS;
        let body = json!({"name": format!("Project {j}"), "description": format!("Street scenes, batch {j}"), "label_schema": label_schema()});
        let (st, p) = srv.post(&srv.api(&format!("/teams/{}/projects", teams[t])), Some(token_of(&owners[t])), body).await?;
        ensure!(st == 201, "creating project {j} gave {st}: {p}");
        let pid = p["id"].as_str().unwrap_or_default();
        let (st, m) = srv
            .send(reqwest::Method::PUT, &srv.api(&format!("/projects/{pid}/members/{uid}")), Some(token_of(&owners[t])), Some(json!({"role": "annotator"})))
            .await?;
        ensure!(st == 200, "adding the user to project {j} gave {st}: {m}");
    }
    let token = token_of(&user).to_owned();
    let (st, list) = srv.get(&srv.api("/projects"), Some(&token)).await?;
    let n = list.as_array().map_or(0, Vec::len);
    ensure!(st == 200 && n == PROJECTS, "GET /api/v1/projects as the user gave {st} with {n} projects, expected {PROJECTS}");
    ensure!(list.as_array().is_some_and(|a| a.iter().all(|p| p["role"] == "annotator")), "the user should be an annotator in every project");
    let (st, t) = srv.get(&srv.api("/teams"), Some(&token)).await?;
    ensure!(st == 200 && t.as_array().map_or(0, Vec::len) == TEAMS, "the user should be in {TEAMS} teams, GET /api/v1/teams gave {st}: {t}");
    let bytes = serde_json::to_vec(&list)?.len();
    eprintln!("server: the user sees {n} projects in {TEAMS} teams; the response is about {bytes} bytes of JSON");

    let (claims, _) = srv.state.keys.verify(&token).map_err(|e| format!("the server refuses its own token: {e}"))?;
    let signers = sign_up_signers(srv, "signer", 2 * cores).await?;
    let mut gotrue_signers = Vec::new();
    if srv.state.config.auth.bcrypt_cost != GOTRUE_BCRYPT_COST {
        let other = TestServer::on(srv.db.clone(), |c| {
            c.auth.bcrypt_cost = GOTRUE_BCRYPT_COST;
            c.rate_limits.sign_in_sign_ups = 1 << 30;
        })
        .await?;
        let s = sign_up_signers(&other, "gotrue", 2 * cores).await;
        other.stop().await;
        gotrue_signers = s?;
    }
    Ok(Fixture { token, claims: claims.to_string(), signers, gotrue_signers })
}

/// `n` users for the password-grant clients, signed up through `srv` (so
/// their bcrypt hashes have its cost).
async fn sign_up_signers(srv: &TestServer, prefix: &str, n: usize) -> Res<Vec<(String, String)>> {
    let mut signers = Vec::new();
    for k in 0..n {
        let (email, password) = (format!("{prefix}{k}@bench.test"), format!("{prefix}-password-{k}"));
        srv.sign_up(&email, &password).await?;
        signers.push((email, password));
    }
    Ok(signers)
}

fn measure(srv: &TestServer, rt: &tokio::runtime::Runtime, fx: &Fixture, pgbench: &Path, cores: usize, ph: Phases) -> Res {
    // JWT verification, in-process on this thread (the server is idle).
    let keys = &srv.state.keys;
    keys.verify(&fx.token).map_err(|e| format!("verify: {e}"))?;
    let t0 = Instant::now();
    let mut n: u64 = 0;
    while t0.elapsed() < ph.verify {
        for _ in 0..64 {
            std::hint::black_box(keys.verify(std::hint::black_box(&fx.token)).is_ok());
        }
        n += 64;
    }
    let verify_per_s = n as f64 / t0.elapsed().as_secs_f64();
    println!("server.jwt_verify_per_s: {verify_per_s:.0} verifies/s (HS256 access token, Keys::verify in-process, 1 thread)");

    // Password grants: the users' hashes have the configured cost.
    let grant = |signers: &[(String, String)]| -> Res<Load> {
        let token_url = srv.auth("/token?grant_type=password");
        let signers = Arc::new(signers.to_vec());
        rt.block_on(load(signers.len(), ph.grant_warm, ph.grant_measure, move |i, c| {
            let (email, password) = &signers[i];
            c.post(&token_url).json(&json!({"email": email, "password": password}))
        }))
    };
    let cost = srv.state.config.auth.bcrypt_cost;
    let clients = fx.signers.len();
    let grants = grant(&fx.signers)?;
    grants.report(&format!("password grant, bcrypt cost {cost}"));
    println!("server.password_grant_per_s: {:.1} sign-ins/s (bcrypt cost {cost}, {clients} concurrent clients = 2x {cores} cores)", grants.rate());
    if cost != GOTRUE_BCRYPT_COST {
        // GoTrue hashes at Go's bcrypt.DefaultCost (10); a database migrated
        // from Supabase keeps those hashes, and sign-in verifies at the
        // stored cost. These users were signed up through a second instance
        // with that cost; they sign in on this one.
        let g = grant(&fx.gotrue_signers)?;
        g.report(&format!("password grant, bcrypt cost {GOTRUE_BCRYPT_COST} hashes (GoTrue's)"));
    }

    // GET /api/v1/projects at 50, then its pgbench floor, then at 200.
    let projects_url = srv.api("/projects");
    let get = |c: usize, check_query: bool| -> Res<Load> {
        let (url, token) = (projects_url.clone(), fx.token.clone());
        rt.block_on(async {
            let watch = check_query.then(|| tokio::spawn(watch_queries(srv.state.config.runtime_role.clone(), ph.warm.mul_f64(0.8))));
            let l = load(c, ph.warm, ph.measure, move |_, cl| cl.get(&url).bearer_auth(&token)).await?;
            if let Some(w) = watch {
                check_query_text(w.await??)?;
            }
            Ok(l)
        })
    };
    let c50 = get(50, true)?;
    c50.report("GET /api/v1/projects c50");
    eprintln!("server: server pool after c50: {} connections open", srv.state.pool.size());

    let runtime_url = srv.state.config.runtime_url()?;
    rt.block_on(check_anchor(&runtime_url, &fx.claims))?;
    let tps = run_pgbench(pgbench, &runtime_url, &fx.claims, cores, ph)?;

    let c200 = get(200, false)?;
    c200.report("GET /api/v1/projects c200");

    let pool = srv.state.config.db_pool_size;
    let note = |c: usize| format!("{c} keep-alive connections, server pool {pool}");
    println!("server.get_projects_p99_c50: {:.2} ms ({})", c50.p(0.99), note(50));
    println!("server.get_projects_rps_c50: {:.0} req/s ({})", c50.rate(), note(50));
    println!("server.get_projects_p99_c200: {:.2} ms ({})", c200.p(0.99), note(200));
    println!("server.get_projects_rps_c200: {:.0} req/s ({})", c200.rate(), note(200));
    println!(
        "server.pgbench_get_projects_tps_c50: {tps:.0} tps (pgbench -M prepared, {PGBENCH_CLIENTS} clients, as {}, the API's transaction)",
        srv.state.config.runtime_role
    );
    println!("server.get_projects_rps_c50.ratio: {:.3} (vs pgbench, same transaction, 50 clients, same run)", c50.rate() / tps);
    Ok(())
}

// ------------------------------------------------------------------ load generator

/// Completed requests of a closed-loop run: latencies (µs) of those that
/// finished inside the measured window, and failures anywhere.
#[derive(Debug)]
struct Load {
    micros: Vec<u64>,
    window: Duration,
    errors: u64,
    first_error: Option<String>,
}

impl Load {
    fn rate(&self) -> f64 {
        self.micros.len() as f64 / self.window.as_secs_f64()
    }

    /// The `q` quantile in ms (nearest rank).
    fn p(&self, q: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.micros.len() as f64).ceil() as usize).clamp(1, self.micros.len());
        self.micros[rank - 1] as f64 / 1000.0
    }

    fn report(&self, what: &str) {
        eprintln!(
            "server: {what}: {} requests in {:.0} s = {:.1}/s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} p99.9 {:.2} max {:.2}; {} errors",
            self.micros.len(),
            self.window.as_secs_f64(),
            self.rate(),
            self.p(0.5),
            self.p(0.9),
            self.p(0.99),
            self.p(0.999),
            self.p(1.0),
            self.errors
        );
    }
}

/// `conc` tasks, each with its own client (one keep-alive connection), send
/// `req(task, client)` back to back for `warm + measure`; requests that
/// complete within the last `measure` are counted. Fails when any request
/// failed.
async fn load<F>(conc: usize, warm: Duration, measure: Duration, req: F) -> Res<Load>
where
    F: Fn(usize, &reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let req = Arc::new(req);
    let start = Instant::now();
    let (from, until) = (start + warm, start + warm + measure);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..conc {
        let req = req.clone();
        let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(1).tcp_nodelay(true).build()?;
        tasks.spawn(async move {
            let (mut micros, mut errors, mut first_error) = (Vec::new(), 0u64, None);
            loop {
                let t0 = Instant::now();
                if t0 >= until {
                    break;
                }
                let outcome = match req(i, &client).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.map(drop).map_err(|e| e.to_string()),
                    Ok(r) => Err(format!("HTTP {}: {}", r.status(), r.text().await.unwrap_or_default())),
                    Err(e) => Err(e.to_string()),
                };
                let t1 = Instant::now();
                match outcome {
                    Ok(()) if t1 >= from && t1 <= until => micros.push((t1 - t0).as_micros() as u64),
                    Ok(()) => {}
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (micros, errors, first_error)
        });
    }
    let mut all = Load { micros: Vec::new(), window: measure, errors: 0, first_error: None };
    while let Some(r) = tasks.join_next().await {
        let (m, e, f) = r?;
        all.micros.extend(m);
        all.errors += e;
        if all.first_error.is_none() {
            all.first_error = f;
        }
    }
    all.micros.sort_unstable();
    if all.errors > 0 {
        return Err(format!("{} of the requests failed; the first: {}", all.errors, all.first_error.unwrap_or_default()).into());
    }
    Ok(all)
}

/// The texts of the runtime role's `argus.projects` queries seen in
/// `pg_stat_activity` for `during`.
async fn watch_queries(role: String, during: Duration) -> Res<BTreeSet<String>> {
    let admin = sqlx::PgPool::connect(&util::admin_url()?).await?;
    let mut seen = BTreeSet::new();
    let end = Instant::now() + during;
    while Instant::now() < end {
        let q: Vec<String> = sqlx::query_scalar("select query from pg_stat_activity where usename = $1 and query like '%order by p.updated_at desc, p.id%'")
            .bind(&role)
            .fetch_all(&admin)
            .await?;
        seen.extend(q);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    admin.close().await;
    Ok(seen)
}

fn check_query_text(seen: BTreeSet<String>) -> Res {
    let pq = project_query();
    if seen.is_empty() {
        eprintln!("server: WARNING: the server's query was not seen in pg_stat_activity (not a superuser?); pgbench runs the bench's copy unchecked");
        return Ok(());
    }
    for q in &seen {
        if q.trim() != project_query() {
            return Err(format!("the server's query changed; update project_query() in benches/server.rs\n  server: {q}\n  bench:  {pq}").into());
        }
    }
    eprintln!("server: pgbench's SELECT is the one the server sent (checked in pg_stat_activity)");
    Ok(())
}

// ------------------------------------------------------------------ pgbench

/// The anchor's transaction, run once through sqlx as the runtime role:
/// row-level security must let it see exactly the user's projects.
async fn check_anchor(runtime_url: &str, claims: &str) -> Res {
    let pq = project_query();
    let pool = sqlx::PgPool::connect(runtime_url).await?;
    let mut tx = pool.begin().await?;
    sqlx::query(&SET_CLAIMS.replace(":claims", "$1")).bind(claims).execute(&mut *tx).await?;
    let n: i64 = sqlx::query_scalar(&format!("select count(*) from ({pq}) q")).fetch_one(&mut *tx).await?;
    ensure!(n == PROJECTS as i64, "the anchor's transaction sees {n} projects, expected {PROJECTS}");
    // Where the floor's time goes: PostgreSQL's own timing of the SELECT on
    // one otherwise idle connection (median of 11).
    let mut exec = Vec::new();
    for _ in 0..11 {
        let plan: Value = sqlx::query_scalar(&format!("explain (analyze, format json) {pq}")).fetch_one(&mut *tx).await?;
        exec.push(plan[0]["Execution Time"].as_f64().unwrap_or(f64::NAN));
    }
    tx.commit().await?;
    pool.close().await;
    exec.sort_by(f64::total_cmp);
    eprintln!("server: the SELECT alone (EXPLAIN ANALYZE, one connection, no load): {:.2} ms execution (median of 11)", exec[exec.len() / 2]);
    Ok(())
}

fn find_pgbench() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("pgbench")).find(|p| p.is_file()));
    on_path.or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort_by_key(|d| d.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<u32>().ok()).unwrap_or(0));
        dirs.into_iter().rev().map(|d| d.join("bin/pgbench")).find(|p| p.is_file())
    })
}

/// pgbench with the API's transaction: a warm-up run, then the measured
/// one; returns its tps (without initial connection time).
fn run_pgbench(bin: &Path, runtime_url: &str, claims: &str, cores: usize, ph: Phases) -> Res<f64> {
    let pq = project_query();
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("get_projects.sql");
    std::fs::write(&script, format!("BEGIN;\n{SET_CLAIMS};\n{pq};\nCOMMIT;\n"))?;
    let url = url::Url::parse(runtime_url)?;
    let secs = |d: Duration| d.as_secs().max(1).to_string();
    let run = |t: &str| -> Res<String> {
        let mut cmd = Command::new(bin);
        cmd.args(["-n", "-M", "prepared", "-c", &PGBENCH_CLIENTS.to_string(), "-j", &cores.to_string(), "-T", t])
            .arg("-f")
            .arg(&script)
            .arg("-D")
            .arg(format!("claims={claims}"))
            .args(["-h", url.host_str().unwrap_or("127.0.0.1"), "-p", &url.port().unwrap_or(5432).to_string(), "-U", url.username()])
            .arg(url.path().trim_start_matches('/'));
        if let Some(pw) = url.password() {
            cmd.env("PGPASSWORD", pw);
        }
        let out = cmd.output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!("pgbench failed ({}): {}{}", out.status, text, String::from_utf8_lossy(&out.stderr)).into());
        }
        if let Some(fails) = text.lines().find_map(|l| l.strip_prefix("number of failed transactions: "))
            && !fails.starts_with("0 ")
        {
            return Err(format!("pgbench had failed transactions: {fails}").into());
        }
        Ok(text)
    };
    run(&secs(ph.warm))?;
    let text = run(&secs(ph.measure))?;
    for l in text.lines().filter(|l| l.starts_with("latency") || l.starts_with("number of transactions actually processed")) {
        eprintln!("server: pgbench c{PGBENCH_CLIENTS}: {l}");
    }
    text.lines()
        .filter(|l| l.contains("without initial connection time"))
        .find_map(|l| l.strip_prefix("tps = ")?.split_whitespace().next()?.parse::<f64>().ok())
        .ok_or_else(|| format!("no \"tps = ... (without initial connection time)\" in pgbench's output:\n{text}").into())
}
