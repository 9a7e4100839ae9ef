//! `argus-server`: the companion API's binary. See the library's docs.

use std::path::PathBuf;

use anyhow::{Context, Result};
use argus_server::{Config, auth, config::FileConfig, db, devdb::DevDatabase};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "argus-server", version, about = "The Argus companion API: Supabase-compatible auth, teams, projects, roles.")]
struct Cli {
    /// A TOML configuration file; environment variables override it.
    #[arg(long, global = true, env = "ARGUS_CONFIG")]
    config: Option<PathBuf>,
    /// Start on embedded defaults: a private PostgreSQL in the data directory
    /// (unless DATABASE_URL is set), a generated JWT secret, auto-confirmed
    /// sign-ups.
    #[arg(long, global = true)]
    dev: bool,
    /// Where --dev keeps its database and secrets.
    #[arg(long, global = true, env = "ARGUS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve the API (the default).
    Serve,
    /// Database set-up.
    Db {
        #[command(subcommand)]
        what: DbCmd,
    },
    /// Run the migrations and exit.
    Migrate,
    /// Create a user with a password (confirmed).
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, env = "ARGUS_NEW_USER_PASSWORD")]
        password: String,
    },
    /// Object storage.
    Storage {
        #[command(subcommand)]
        what: StorageCmd,
    },
    /// Keys.
    Keys {
        #[command(subcommand)]
        what: KeysCmd,
    },
}

#[derive(Debug, Subcommand)]
enum DbCmd {
    /// Create the database roles (anon, authenticated, service_role and the
    /// runtime role) if missing; idempotent.
    Setup,
}

#[derive(Debug, Subcommand)]
enum StorageCmd {
    /// Copy every object from one store to another, verifying each copy's
    /// sha256; run it again to resume (verified copies are skipped).
    Copy {
        /// A TOML file: endpoint, region, bucket, access_key_id, secret_access_key, path_style, allow_http, sse.
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        to: PathBuf,
        /// Only keys under this prefix.
        #[arg(long, default_value = "")]
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Print a new ES256 signing key as a JWK set for GOTRUE_JWT_KEYS.
    Generate,
    /// Print a long-lived API key (anon or service_role) signed with the configured key.
    Api {
        #[arg(long, default_value = "anon")]
        role: String,
    },
}

fn dev_dir(cli: &Cli) -> PathBuf {
    cli.data_dir.clone().unwrap_or_else(|| {
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("argus-server/dev")
    })
}

/// The dev secret, generated once and kept so sessions survive restarts.
fn dev_secret(dir: &std::path::Path) -> Result<String> {
    let path = dir.join("jwt-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_owned();
        if s.len() >= 32 {
            return Ok(s);
        }
    }
    std::fs::create_dir_all(dir)?;
    let s = auth::session::random_token(48);
    std::fs::write(&path, &s).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(s)
}

fn load(cli: &Cli) -> Result<(Config, Option<DevDatabase>)> {
    if !cli.dev {
        return Ok((Config::load(cli.config.as_deref())?, None));
    }
    let dir = dev_dir(cli);
    let mut dev_db = None;
    // SAFETY of set_var: called before any thread is started.
    if std::env::var_os("DATABASE_URL").is_none() {
        let d = DevDatabase::start(&dir).context("starting the private PostgreSQL for --dev")?;
        unsafe_set("DATABASE_URL", &d.url());
        dev_db = Some(d);
    }
    if std::env::var_os("GOTRUE_JWT_SECRET").is_none() && std::env::var_os("GOTRUE_JWT_KEYS").is_none() {
        unsafe_set("GOTRUE_JWT_SECRET", &dev_secret(&dir)?);
    }
    if std::env::var_os("GOTRUE_MAILER_AUTOCONFIRM").is_none() {
        unsafe_set("GOTRUE_MAILER_AUTOCONFIRM", "true");
    }
    let file = match &cli.config {
        Some(p) => toml::from_str(&std::fs::read_to_string(p)?)?,
        None => FileConfig::default(),
    };
    let env = std::env::vars().collect();
    Ok((Config::from_sources(file, &env)?, dev_db))
}

fn unsafe_set(k: &str, v: &str) {
    // Edition 2024 makes set_var unsafe; this runs on the main thread before
    // the runtime starts, so no other thread reads the environment.
    unsafe { std::env::set_var(k, v) }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Cmd::Storage { what: StorageCmd::Copy { from, to, prefix } }) = &cli.command {
        // needs no database or keys
        init_logs(false);
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        return rt.block_on(storage_copy(from, to, prefix));
    }
    let (config, dev_db) = load(&cli)?;
    init_logs(config.json_logs);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let r = rt.block_on(run(cli, config, dev_db.is_some()));
    drop(rt);
    drop(dev_db);
    r
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json { b.json().init() } else { b.init() }
}

async fn run(cli: Cli, config: Config, dev: bool) -> Result<()> {
    let config_data_dir = dev_dir(&cli);
    match cli.command.unwrap_or(Cmd::Serve) {
        Cmd::Db { what: DbCmd::Setup } => {
            let owner = db::connect(&config.database_url, 2, "owner").await?;
            db::setup_roles(&owner, &config.runtime_role, config.runtime_password.as_deref()).await?;
            println!("database roles ready: anon, authenticated, service_role, {}", config.runtime_role);
        }
        Cmd::Migrate => {
            let owner = db::connect(&config.database_url, 2, "owner").await?;
            db::migrate(&owner, &config.runtime_role).await?;
            println!("migrations applied");
        }
        Cmd::CreateUser { email, password } => {
            let state = argus_server::prepare(config).await?;
            let user = argus_server::auth::admin_create_user(&state, &email, &password).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created {email} ({user})");
        }
        Cmd::Storage { what: StorageCmd::Copy { from, to, prefix } } => storage_copy(&from, &to, &prefix).await?,
        Cmd::Keys { what: KeysCmd::Generate } => {
            println!("{}", serde_json::json!({"keys": [auth::jwt::generate_es256_jwk()]}));
        }
        Cmd::Keys { what: KeysCmd::Api { role } } => {
            let keys = auth::jwt::Keys::from_config(&config.auth)?;
            let now = chrono::Utc::now().timestamp();
            println!("{}", keys.sign(&serde_json::json!({"iss": "argus", "role": role, "iat": now, "exp": now + 10 * 365 * 24 * 3600})));
        }
        Cmd::Serve => {
            if dev {
                let owner = db::connect(&config.database_url, 2, "owner").await?;
                db::setup_roles(&owner, &config.runtime_role, config.runtime_password.as_deref()).await?;
                owner.close().await;
            }
            let mut config = config;
            let listen = config.listen;
            let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            if !config.external_url_set {
                // The bound port (the configured one may be 0).
                config.external_url = format!("http://{addr}");
            }
            // --dev (or ARGUS_S3_EMBEDDED_DIR) without ARGUS_S3_ENDPOINT: the
            // embedded object store, in the data directory.
            let mut _store = None;
            let embedded_dir = std::env::var_os("ARGUS_S3_EMBEDDED_DIR").map(PathBuf::from).or_else(|| dev.then(|| config_data_dir.clone()));
            if let (Some(dir), None) = (embedded_dir, &config.storage) {
                let secret = dev_secret(&dir.join("s3"))?;
                let store = argus_server::storage::embedded::EmbeddedStore::start(&dir.join("objects"), 0, "argus", "argus-dev", &secret).await?;
                let mut sc = store.config.clone();
                let env = std::env::vars().collect();
                if let Some(ttl) = argus_server::storage::presign_ttl_from_env(&env)? {
                    sc.presign_ttl = ttl;
                }
                config.storage = Some(sc);
                _store = Some(store);
            }
            let state = argus_server::prepare(config).await?;
            if let Some(s) = &state.config.storage {
                println!("object store: {} (bucket {})", s.endpoint, s.bucket);
            }
            if dev {
                println!("argus-server --dev: private database at {}", state.config.database_url);
                println!("  anon key:         {}", auth::api_key(&state, "anon", 10));
                println!("  service_role key: {}", auth::api_key(&state, "service_role", 10));
                println!("  sign up:  curl -X POST http://{addr}/auth/v1/signup -H 'content-type: application/json' -d '{{\"email\":\"you@example.com\",\"password\":\"a-password\"}}'");
                println!("  or:       argus-server --dev create-user --email you@example.com --password a-password");
            }
            println!("listening on http://{addr}");
            use std::io::Write;
            let _ = std::io::stdout().flush();
            argus_server::serve(listener, state, argus_server::shutdown_signal()).await?;
        }
    }
    Ok(())
}

async fn storage_copy(from: &std::path::Path, to: &std::path::Path, prefix: &str) -> Result<()> {
    use argus_server::storage::{Storage, copy};
    let src = Storage::new(&copy::StoreFile::load(from)?)?;
    let dst = Storage::new(&copy::StoreFile::load(to)?)?;
    let report = copy::copy_all(&src, &dst, prefix, |key, copied| {
        println!("{} {key}", if copied { "copied " } else { "present" });
    })
    .await?;
    println!("done: {} copied ({} bytes), {} already present and verified", report.copied, report.bytes, report.skipped);
    Ok(())
}
