//! Test fixtures for argus-server and the crates that talk to it (feature
//! `testkit`): a fresh PostgreSQL database per test, copied from a migrated
//! template, and a real server on a loopback port with its own embedded
//! object store. Tests talk to it over real HTTP.
//!
//! Needs `DATABASE_URL` (a cluster where databases may be created);
//! `scripts/with-postgres` provides one.

use std::{path::PathBuf, time::Duration};

use sha2::{Digest, Sha256};

use crate::{AppState, Config};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The JWT secret of every test server.
pub const SECRET: &str = "test-secret-0123456789-0123456789-abcdef";

/// The cluster tests run against: `DATABASE_URL` (scripts/with-postgres sets
/// it to a throwaway cluster).
pub fn admin_url() -> Result<String, String> {
    std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set; run the tests through scripts/with-postgres (make test does)".to_owned())
}

fn with_db(url: &str, db: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else { return url.to_owned() };
    u.set_path(&format!("/{db}"));
    u.to_string()
}

fn template_name() -> String {
    let mut h = Sha256::new();
    for m in crate::db::MIGRATOR.iter() {
        h.update(m.version.to_le_bytes());
        h.update(&*m.sql);
    }
    format!("argus_tpl_{}", &hex::encode(h.finalize())[..12])
}

/// A fresh, migrated database; dropped when this value is.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    name: String,
    admin: String,
}

impl TestDb {
    pub async fn new() -> Result<Self, BoxError> {
        let admin = admin_url()?;
        let pool = sqlx::PgPool::connect(&admin).await?;
        let tpl = template_name();
        // One process builds the template; the others wait on the lock.
        let mut conn = pool.acquire().await?;
        sqlx::query("select pg_advisory_lock(4242)").execute(&mut *conn).await?;
        let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)").bind(&tpl).fetch_one(&mut *conn).await?;
        let built = if exists {
            Ok(())
        } else {
            async {
                sqlx::query(&format!("create database {tpl}")).execute(&mut *conn).await?;
                let tpl_pool = sqlx::PgPool::connect(&with_db(&admin, &tpl)).await?;
                crate::db::setup_roles(&tpl_pool, "argus_api", None).await?;
                crate::db::migrate(&tpl_pool, "argus_api").await?;
                tpl_pool.close().await;
                Ok::<_, BoxError>(())
            }
            .await
        };
        sqlx::query("select pg_advisory_unlock(4242)").execute(&mut *conn).await?;
        built?;
        let name = format!("argus_t_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("create database {name} template {tpl}")).execute(&mut *conn).await?;
        drop(conn);
        pool.close().await;
        Ok(Self { url: with_db(&admin, &name), name, admin })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let pool = sqlx::PgPool::connect(&admin).await.ok()?;
                sqlx::query(&format!("drop database if exists {name} with (force)")).execute(&pool).await.ok()?;
                pool.close().await;
                Some(())
            })
        })
        .join();
    }
}

/// A signed-in team owner and their project.
#[derive(Debug, Clone)]
pub struct Owner {
    pub user_id: String,
    pub token: String,
    pub team: String,
    pub project: String,
}

/// A running server on its own database.
#[allow(missing_debug_implementations)] // AppState holds pools and keys
pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub mail_file: PathBuf,
    pub db: std::sync::Arc<TestDb>,
    pub store: crate::storage::embedded::EmbeddedStore,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub fn base_config(db_url: &str, mail: &std::path::Path) -> Config {
    let mut c = Config::new(db_url, SECRET);
    c.auth.bcrypt_cost = 4;
    c.auth.mailer_autoconfirm = true;
    c.auth.refresh_token_reuse_interval = Duration::ZERO;
    c.mailer = crate::config::MailerConfig::File(mail.to_path_buf());
    c.db_pool_size = 8;
    c.site_url = "http://app.test".into();
    c
}

impl TestServer {
    pub async fn start(configure: impl FnOnce(&mut Config)) -> Result<Self, BoxError> {
        let db = std::sync::Arc::new(TestDb::new().await?);
        Self::on(db, configure).await
    }

    /// A server on an existing database (a second instance, for scale-out).
    pub async fn on(db: std::sync::Arc<TestDb>, configure: impl FnOnce(&mut Config)) -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        let mail_file = dir.path().join("mail.jsonl");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let store = crate::storage::embedded::EmbeddedStore::start(&dir.path().join("objects"), 0, "argus", "test-access", "test-secret-key").await?;
        let mut config = base_config(&db.url, &mail_file);
        config.external_url = format!("http://{addr}");
        config.storage = Some(store.config.clone());
        configure(&mut config);
        let state = crate::prepare(config).await?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(crate::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Ok(Self {
            url: format!("http://{addr}"),
            state,
            mail_file,
            db,
            store,
            _dir: dir,
            stop: Some(tx),
            task: Some(task),
        })
    }

    pub fn auth(&self, path: &str) -> String {
        format!("{}/auth/v1{path}", self.url)
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    /// A long-lived key with `role` (anon or service_role), as Supabase mints them.
    pub fn key(&self, role: &str) -> String {
        crate::auth::api_key(&self.state, role, 1)
    }

    /// The e-mails sent so far.
    pub fn mails(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.mail_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Signs up `email` (auto-confirmed) and makes them the owner of a team
    /// with one project (a `car` mask label), over the real API.
    pub async fn owner_with_project(&self, email: &str) -> Result<Owner, BoxError> {
        let (url, email) = (self.url.clone(), email.to_owned());
        tokio::task::spawn_blocking(move || -> Result<Owner, BoxError> {
            let post = |path: &str, token: Option<&str>, body: serde_json::Value| -> Result<serde_json::Value, BoxError> {
                let mut r = ureq::post(&format!("{url}{path}"));
                if let Some(t) = token {
                    r = r.header("authorization", &format!("Bearer {t}"));
                }
                Ok(r.send_json(body)?.body_mut().read_json()?)
            };
            let text = |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_owned).ok_or_else(|| format!("no {k} in {v}"));
            let session = post("/auth/v1/signup", None, serde_json::json!({"email": email, "password": "password-1"}))?;
            let token = text(&session, "access_token")?;
            let team = post("/api/v1/teams", Some(&token), serde_json::json!({"name": format!("team of {email}")}))?;
            let team = text(&team, "id")?;
            let schema = serde_json::json!({"labels": [{"id": uuid::Uuid::now_v7(), "name": "car", "colour": "#ff0000", "kinds": ["mask", "bbox"]}]});
            let p = post(&format!("/api/v1/teams/{team}/projects"), Some(&token), serde_json::json!({"name": "Street", "label_schema": schema}))?;
            Ok(Owner { user_id: text(&session["user"], "id")?, token, team, project: text(&p, "id")? })
        })
        .await?
    }

    pub fn last_mail_to(&self, email: &str) -> Option<serde_json::Value> {
        self.mails().into_iter().rev().find(|m| m["to"] == email)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}


/// Signs a token with the test secret.
pub fn sign(claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes())).unwrap_or_default()
}

pub type TestResult = Result<(), BoxError>;
pub type Fut = std::pin::Pin<Box<dyn std::future::Future<Output = TestResult>>>;
/// A named test, as [`tests!`] lists them.
pub type NamedTest = (&'static str, fn() -> Fut);

/// `ensure!(cond, "message {}", x)`: fail the test with a message.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+).into());
        }
    };
}

/// `tests![module::test_fn, ...]`: the list [`run`] takes.
#[macro_export]
macro_rules! tests {
    ($($path:path),* $(,)?) => {
        vec![$((stringify!($path), (|| Box::pin($path()) as $crate::testkit::Fut) as fn() -> $crate::testkit::Fut)),*]
    };
}

/// Runs async tests with libtest's command line, each on its own runtime.
/// Without `DATABASE_URL` each is reported ignored with the reason; under
/// `CI=true` that is a failure instead.
pub fn run(list: Vec<NamedTest>) -> ! {
    run_with(list, admin_url().err())
}

/// [`run`] for tests that need no database.
pub fn run_local(list: Vec<NamedTest>) -> ! {
    run_with(list, None)
}

/// Installs rustls's ring provider for the process (idempotent): test
/// clients (reqwest) may be built without a provider of their own.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn run_with(list: Vec<NamedTest>, skip: Option<String>) -> ! {
    install_tls_provider();
    let args = libtest_mimic::Arguments::from_args();
    if let Some(r) = &skip
        && std::env::var("CI").as_deref() == Ok("true")
    {
        eprintln!("CI=true and these tests cannot run: {r}");
        std::process::exit(1);
    }
    let trials = list
        .into_iter()
        .map(|(name, f)| {
            let t = libtest_mimic::Trial::test(name, move || {
                let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())?;
                rt.block_on(f()).map_err(|e| e.to_string().into())
            });
            match &skip {
                Some(r) => {
                    eprintln!("SKIPPED {name}: {r}");
                    t.with_ignored_flag(true)
                }
                None => t,
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

/// Runs SQL on the test database as its owner (bypassing row-level security).
pub async fn exec_as_owner(db: &TestDb, sql: &str) -> TestResult {
    let owner = sqlx::PgPool::connect(&db.url).await?;
    sqlx::query(sql).execute(&owner).await?;
    owner.close().await;
    Ok(())
}

/// The first column of the first row of `sql`, as text, read as the owner.
pub async fn query_text(db: &TestDb, sql: &str) -> Result<Option<String>, BoxError> {
    let owner = sqlx::PgPool::connect(&db.url).await?;
    let v: Option<Option<String>> = sqlx::query_scalar(sql).fetch_optional(&owner).await?;
    owner.close().await;
    Ok(v.flatten())
}

/// A video record for tests and benchmarks: `frames` frames of
/// `width` x `height` at 25 fps, H.264, with the id derived from its content
/// (`VideoId::for_content`), not on this machine.
pub fn sample_video(project: argus_core::id::ProjectId, sha256: &str, width: u32, height: u32, frames: u64) -> argus_core::model::Video {
    use argus_core::{model::Timestamp, time::Rational};
    let rate = Rational::integer(25);
    argus_core::model::Video {
        id: argus_core::id::VideoId::for_content(project, sha256),
        project_id: project,
        name: "sample.mp4".into(),
        sha256: sha256.to_owned(),
        width,
        height,
        frame_rate: rate,
        frame_count: frames,
        duration: Rational::new(i64::try_from(frames).unwrap_or(i64::MAX), 25).unwrap_or(rate),
        codec: "h264".into(),
        rotation: Default::default(),
        local_path: None,
        object_key: None,
        remote: Default::default(),
        created_at: Timestamp(0),
    }
}

/// The `main` of a benchmark that needs PostgreSQL: skipped (said on
/// stderr) without `DATABASE_URL`, exit code 1 on error.
pub fn bench_main<F: std::future::Future<Output = Result<(), BoxError>>>(name: &str, bench: impl FnOnce() -> F) {
    if let Err(why) = admin_url() {
        eprintln!("bench {name}: skipped: {why}");
        return;
    }
    install_tls_provider();
    let result = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(BoxError::from).and_then(|rt| rt.block_on(bench()));
    if let Err(e) = result {
        eprintln!("bench {name}: {e}");
        std::process::exit(1);
    }
}

/// A small seeded generator (xorshift64) for test data, fault choices and
/// kill points: the same seed gives the same sequence, so a printed seed
/// replays a run.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// Starts at `seed` (0, which xorshift cannot leave, is taken as 1).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (0 for `n` = 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Fills `buf` with the next numbers' little-endian bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            c.copy_from_slice(&self.next_u64().to_le_bytes()[..c.len()]);
        }
    }
}
