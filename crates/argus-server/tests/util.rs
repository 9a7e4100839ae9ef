//! Test servers on real PostgreSQL: each test gets its own database, copied
//! from a migrated template (one per cluster and migration set), and its own
//! server on a loopback port, talked to over real HTTP.

#![allow(dead_code)] // each test module uses a different subset

use std::{path::PathBuf, time::Duration};

use argus_server::{AppState, Config};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub const SECRET: &str = "test-secret-0123456789-0123456789-abcdef";

/// `ensure!(cond, "message {}", x)`: fail the test with a message.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+).into());
        }
    };
}

/// The cluster tests run against: `DATABASE_URL` (scripts/with-postgres sets
/// it to a throwaway cluster).
pub fn admin_url() -> Result<String, String> {
    std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set; run the tests through scripts/with-postgres (make test does)".to_owned())
}

fn with_db(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("DATABASE_URL is a URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

fn template_name() -> String {
    let mut h = Sha256::new();
    for m in argus_server::db::MIGRATOR.iter() {
        h.update(m.version.to_le_bytes());
        h.update(&*m.sql);
    }
    format!("argus_tpl_{}", &hex::encode(h.finalize())[..12])
}

/// A fresh, migrated database; dropped when this value is.
pub struct TestDb {
    pub url: String,
    name: String,
    admin: String,
}

impl TestDb {
    pub async fn new() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
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
                argus_server::db::setup_roles(&tpl_pool, "argus_api", None).await?;
                argus_server::db::migrate(&tpl_pool, "argus_api").await?;
                tpl_pool.close().await;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
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

/// A running server on its own database.
pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub http: reqwest::Client,
    pub mail_file: PathBuf,
    pub db: std::sync::Arc<TestDb>,
    pub store: argus_server::storage::embedded::EmbeddedStore,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub fn base_config(db_url: &str, mail: &std::path::Path) -> Config {
    let mut c = Config::new(db_url, SECRET);
    c.auth.bcrypt_cost = 4;
    c.auth.mailer_autoconfirm = true;
    c.auth.refresh_token_reuse_interval = Duration::ZERO;
    c.mailer = argus_server::config::MailerConfig::File(mail.to_path_buf());
    c.db_pool_size = 8;
    c.site_url = "http://app.test".into();
    c
}

impl TestServer {
    pub async fn start(configure: impl FnOnce(&mut Config)) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let db = std::sync::Arc::new(TestDb::new().await?);
        Self::on(db, configure).await
    }

    /// A server on an existing database (a second instance, for scale-out).
    pub async fn on(db: std::sync::Arc<TestDb>, configure: impl FnOnce(&mut Config)) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let dir = tempfile::tempdir()?;
        let mail_file = dir.path().join("mail.jsonl");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let store = argus_server::storage::embedded::EmbeddedStore::start(&dir.path().join("objects"), 0, "argus", "test-access", "test-secret-key").await?;
        let mut config = base_config(&db.url, &mail_file);
        config.external_url = format!("http://{addr}");
        config.storage = Some(store.config.clone());
        configure(&mut config);
        let state = argus_server::prepare(config).await?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(argus_server::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Ok(Self {
            url: format!("http://{addr}"),
            state,
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?,
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
        argus_server::auth::api_key(&self.state, role, 1)
    }

    /// POST JSON; returns the status and the body (JSON, or null).
    pub async fn post(&self, url: &str, token: Option<&str>, body: Value) -> Result<(u16, Value), reqwest::Error> {
        let mut r = self.http.post(url).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    pub async fn send(&self, method: reqwest::Method, url: &str, token: Option<&str>, body: Option<Value>) -> Result<(u16, Value), reqwest::Error> {
        let mut r = self.http.request(method, url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    pub async fn get(&self, url: &str, token: Option<&str>) -> Result<(u16, Value), reqwest::Error> {
        self.send(reqwest::Method::GET, url, token, None).await
    }

    /// Signs up (auto-confirmed) and returns the session.
    pub async fn sign_up(&self, email: &str, password: &str) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let (s, body) = self.post(&self.auth("/signup"), None, json!({"email": email, "password": password})).await?;
        ensure!(s == 200 && body["access_token"].is_string(), "sign-up of {email} gave {s}: {body}");
        Ok(body)
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Result<(u16, Value), reqwest::Error> {
        self.post(&self.auth("/token?grant_type=password"), None, json!({"email": email, "password": password})).await
    }

    /// The e-mails sent so far.
    pub fn mails(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.mail_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn last_mail_to(&self, email: &str) -> Option<Value> {
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
pub fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes())).expect("sign")
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn token_of(session: &Value) -> &str {
    session["access_token"].as_str().unwrap_or_default()
}

pub fn user_id(session: &Value) -> String {
    session["user"]["id"].as_str().unwrap_or_default().to_owned()
}
