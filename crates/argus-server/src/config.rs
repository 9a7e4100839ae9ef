//! Configuration: a TOML file, then environment variables over it.
//!
//! The auth part also reads GoTrue's own variables (`GOTRUE_JWT_SECRET`,
//! `GOTRUE_JWT_KEYS`, `GOTRUE_MAILER_AUTOCONFIRM`, `GOTRUE_RATE_LIMIT_*`, ...),
//! so a self-hosted Supabase auth configuration works unchanged. Argus's own
//! variables start with `ARGUS_`.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use serde::Deserialize;

use crate::error::ConfigError;

/// Everything the server needs to run. Built by [`Config::load`] (file + env)
/// or directly in tests.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The owner connection: runs migrations and the set-up step.
    pub database_url: String,
    /// The runtime connection, as a role that does not own the tables.
    /// `None`: the owner URL with the user replaced by `runtime_role`.
    pub runtime_database_url: Option<String>,
    /// The database role the runtime connection logs in as.
    pub runtime_role: String,
    pub runtime_password: Option<String>,
    pub db_pool_size: u32,
    /// The externally visible base URL (GoTrue's `API_EXTERNAL_URL`), used in
    /// `iss` and in e-mailed links.
    pub external_url: String,
    /// Whether `external_url` was configured (else it follows the bound address).
    pub external_url_set: bool,
    /// Where links send the user after verification (`GOTRUE_SITE_URL`).
    pub site_url: String,
    /// Redirect targets allowed besides `site_url` (`GOTRUE_URI_ALLOW_LIST`),
    /// with `*` and `**` globs.
    pub uri_allow_list: Vec<String>,
    pub auth: AuthConfig,
    pub mailer: MailerConfig,
    pub rate_limits: RateLimits,
    pub cors_origins: Vec<String>,
    /// Read-only mode for provider migrations: writes answer 503.
    pub maintenance: bool,
    pub json_logs: bool,
    /// Take the client address from `X-Forwarded-For` (behind a load balancer).
    pub trust_proxy: bool,
    /// Object storage (`ARGUS_S3_*`); `None`: video uploads are unavailable.
    pub storage: Option<crate::storage::StorageConfig>,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// HS256 secret (`GOTRUE_JWT_SECRET`).
    pub jwt_secret: Option<String>,
    /// A JWK set (`GOTRUE_JWT_KEYS`): the key with `key_ops` containing
    /// "sign" signs; all verify.
    pub jwt_keys: Option<String>,
    pub jwt_exp: Duration,
    pub jwt_aud: String,
    pub disable_signup: bool,
    pub mailer_autoconfirm: bool,
    pub anonymous_users: bool,
    pub password_min_length: usize,
    pub bcrypt_cost: u32,
    pub refresh_token_rotation: bool,
    pub refresh_token_reuse_interval: Duration,
    /// One-time tokens (confirmation, recovery, magic link, OTP) expire after this.
    pub otp_exp: Duration,
    /// A trusted external issuer, e.g. a real Supabase project.
    pub external_issuer: Option<ExternalIssuer>,
    /// External OAuth / OpenID Connect providers by name.
    pub providers: BTreeMap<String, ProviderConfig>,
}

/// Tokens from another GoTrue (a Supabase project) are accepted when signed by
/// its secret or one of its JWKS keys; their `sub` maps to a local user.
#[derive(Debug, Clone)]
pub struct ExternalIssuer {
    /// The `iss` its tokens carry, e.g. `https://<ref>.supabase.co/auth/v1`.
    /// Empty: any issuer whose signature verifies.
    pub issuer: String,
    pub jwt_secret: Option<String>,
    /// A JWK set as JSON text (inline, or read from a file by `load`).
    pub jwks: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ProviderConfig {
    pub enabled: bool,
    pub client_id: String,
    pub secret: String,
    /// OpenID Connect issuer (discovery at `/.well-known/openid-configuration`).
    pub issuer: Option<String>,
    /// Plain OAuth 2.0 endpoints, for providers without discovery (GitHub).
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub emails_url: Option<String>,
    pub scopes: Vec<String>,
    pub redirect_uri: Option<String>,
}

#[derive(Debug, Clone)]
pub enum MailerConfig {
    /// Writes every message to the log (the default).
    Log,
    /// Appends every message as one JSON line to a file (tests read it).
    File(PathBuf),
    Smtp(SmtpConfig),
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub admin_email: String,
    pub sender_name: Option<String>,
}

/// Requests allowed per window, per IP address and per e-mail address
/// (GoTrue's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `POST /token?grant_type=refresh_token`, per 5 minutes.
    pub token_refresh: u32,
    /// Sign-up and password sign-in, per 5 minutes.
    pub sign_in_sign_ups: u32,
    /// `POST /verify`, per 5 minutes.
    pub verify: u32,
    /// `/otp`, `/magiclink`, `/recover`, per 5 minutes.
    pub otp: u32,
    /// E-mails sent, per hour (for the whole server).
    pub email_sent: u32,
    /// Anonymous sign-ins, per hour.
    pub anonymous_users: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { token_refresh: 150, sign_in_sign_ups: 30, verify: 30, otp: 30, email_sent: 30, anonymous_users: 30 }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_keys: None,
            jwt_exp: Duration::from_secs(3600),
            jwt_aud: "authenticated".into(),
            disable_signup: false,
            mailer_autoconfirm: false,
            anonymous_users: false,
            password_min_length: 6,
            // GoTrue's cost, so hashes move both ways at the same price
            bcrypt_cost: 10,
            refresh_token_rotation: true,
            refresh_token_reuse_interval: Duration::from_secs(10),
            otp_exp: Duration::from_secs(3600),
            external_issuer: None,
            providers: BTreeMap::new(),
        }
    }
}

impl Config {
    /// A configuration with defaults for everything but the database and the
    /// JWT secret.
    pub fn new(database_url: impl Into<String>, jwt_secret: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 54321)),
            database_url: database_url.into(),
            runtime_database_url: None,
            runtime_role: "argus_api".into(),
            runtime_password: None,
            db_pool_size: 20,
            external_url: "http://127.0.0.1:54321".into(),
            external_url_set: false,
            site_url: "http://127.0.0.1:3000".into(),
            uri_allow_list: Vec::new(),
            auth: AuthConfig { jwt_secret: Some(jwt_secret.into()), ..AuthConfig::default() },
            mailer: MailerConfig::Log,
            rate_limits: RateLimits::default(),
            cors_origins: Vec::new(),
            maintenance: false,
            json_logs: false,
            trust_proxy: false,
            storage: None,
        }
    }

    /// Reads `path` (TOML, optional) and then the environment over it.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let file: FileConfig = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::Invalid(format!("cannot read config file {}: {e}", p.display())))?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError::Invalid(format!("config file {} is not valid: {e}", p.display())))?
            }
            None => FileConfig::default(),
        };
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_sources(file, &env)
    }

    /// The pure part of [`load`](Self::load), so tests can pass an environment.
    pub fn from_sources(file: FileConfig, env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let flag = |k: &str| -> Result<Option<bool>, ConfigError> {
            get(k).map(|v| parse_bool(k, &v)).transpose()
        };
        let num = |k: &str| -> Result<Option<u64>, ConfigError> {
            get(k)
                .map(|v| v.trim().parse::<u64>().map_err(|_| ConfigError::Invalid(format!("{k}={v} is not a whole number"))))
                .transpose()
        };

        let database_url = get("DATABASE_URL").or(file.database_url).ok_or_else(|| {
            ConfigError::Invalid(
                "no database: set DATABASE_URL (the owner connection) or start with --dev for a private PostgreSQL".into(),
            )
        })?;
        let mut c = Config::new(database_url, String::new());
        c.auth.jwt_secret = get("GOTRUE_JWT_SECRET").or(get("ARGUS_JWT_SECRET")).or(file.jwt_secret);
        c.auth.jwt_keys = get("GOTRUE_JWT_KEYS").or(file.jwt_keys);
        if c.auth.jwt_secret.is_none() && c.auth.jwt_keys.is_none() {
            return Err(ConfigError::Invalid(
                "no JWT signing key: set GOTRUE_JWT_SECRET (HS256, at least 32 characters) or GOTRUE_JWT_KEYS (a JWK set)".into(),
            ));
        }
        if let Some(s) = &c.auth.jwt_secret
            && s.len() < 32
        {
            return Err(ConfigError::Invalid("GOTRUE_JWT_SECRET must be at least 32 characters long".into()));
        }
        if let Some(v) = get("ARGUS_LISTEN").or(file.listen) {
            c.listen = v.parse().map_err(|_| ConfigError::Invalid(format!("ARGUS_LISTEN={v} is not an address like 127.0.0.1:54321")))?;
        }
        c.runtime_database_url = get("ARGUS_RUNTIME_DATABASE_URL").or(file.runtime_database_url);
        if let Some(r) = get("ARGUS_DB_RUNTIME_ROLE").or(file.runtime_role) {
            check_role_name(&r)?;
            c.runtime_role = r;
        }
        c.runtime_password = get("ARGUS_DB_RUNTIME_PASSWORD").or(file.runtime_password);
        if let Some(n) = num("ARGUS_DB_POOL_SIZE")?.or(file.db_pool_size) {
            c.db_pool_size = n.clamp(1, 1000) as u32;
        }
        let external = get("API_EXTERNAL_URL").or(file.external_url);
        c.external_url_set = external.is_some();
        c.external_url = external
            .unwrap_or_else(|| format!("http://{}", c.listen))
            .trim_end_matches('/')
            .to_owned();
        if let Some(v) = get("GOTRUE_SITE_URL").or(file.site_url) {
            c.site_url = v;
        }
        c.uri_allow_list = get("GOTRUE_URI_ALLOW_LIST")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or(file.uri_allow_list);
        c.cors_origins = get("ARGUS_CORS_ORIGINS")
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or(file.cors_origins);
        c.maintenance = flag("ARGUS_MAINTENANCE")?.or(file.maintenance).unwrap_or(false);
        c.json_logs = get("ARGUS_LOG_FORMAT").map(|v| v == "json").or(file.json_logs).unwrap_or(false);
        c.trust_proxy = flag("ARGUS_TRUST_PROXY")?.or(file.trust_proxy).unwrap_or(false);

        let a = &mut c.auth;
        if let Some(n) = num("GOTRUE_JWT_EXP")?.or(file.jwt_exp) {
            a.jwt_exp = Duration::from_secs(n.max(30));
        }
        if let Some(v) = get("GOTRUE_JWT_AUD") {
            a.jwt_aud = v;
        }
        a.disable_signup = flag("GOTRUE_DISABLE_SIGNUP")?.or(file.disable_signup).unwrap_or(false);
        a.mailer_autoconfirm = flag("GOTRUE_MAILER_AUTOCONFIRM")?.or(file.mailer_autoconfirm).unwrap_or(false);
        a.anonymous_users =
            flag("GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED")?.or(file.anonymous_users).unwrap_or(false);
        if let Some(n) = num("GOTRUE_PASSWORD_MIN_LENGTH")? {
            a.password_min_length = n as usize;
        }
        if let Some(n) = num("ARGUS_BCRYPT_COST")?.or(file.bcrypt_cost) {
            if !(4..=31).contains(&n) {
                return Err(ConfigError::Invalid(format!("ARGUS_BCRYPT_COST={n}: bcrypt's cost is 4 to 31")));
            }
            a.bcrypt_cost = n as u32;
        }
        if let Some(b) = flag("GOTRUE_SECURITY_REFRESH_TOKEN_ROTATION_ENABLED")? {
            a.refresh_token_rotation = b;
        }
        if let Some(n) = num("GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL")? {
            a.refresh_token_reuse_interval = Duration::from_secs(n);
        }
        if let Some(n) = num("GOTRUE_MAILER_OTP_EXP")? {
            a.otp_exp = Duration::from_secs(n.max(60));
        }
        let ext_secret = get("ARGUS_EXTERNAL_JWT_SECRET").or(file.external_jwt_secret);
        let ext_jwks = match get("ARGUS_EXTERNAL_JWKS").or(file.external_jwks) {
            Some(v) if v.trim_start().starts_with('{') => Some(v),
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => Some(fetch_jwks(&u)?),
            Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::Invalid(format!("ARGUS_EXTERNAL_JWKS: cannot read the JWK set file {path}: {e}"))
            })?),
            None => None,
        };
        if ext_secret.is_some() || ext_jwks.is_some() {
            a.external_issuer = Some(ExternalIssuer {
                issuer: get("ARGUS_EXTERNAL_JWT_ISSUER").or(file.external_jwt_issuer).unwrap_or_default(),
                jwt_secret: ext_secret,
                jwks: ext_jwks,
            });
        }
        a.providers = providers_from_env(env)?;

        c.storage = crate::storage::StorageConfig::from_env(env)?;
        let rl = &mut c.rate_limits;
        for (key, slot) in [
            ("GOTRUE_RATE_LIMIT_TOKEN_REFRESH", &mut rl.token_refresh),
            ("GOTRUE_RATE_LIMIT_SIGN_IN_SIGN_UPS", &mut rl.sign_in_sign_ups),
            ("GOTRUE_RATE_LIMIT_VERIFY", &mut rl.verify),
            ("GOTRUE_RATE_LIMIT_OTP", &mut rl.otp),
            ("GOTRUE_RATE_LIMIT_EMAIL_SENT", &mut rl.email_sent),
            ("GOTRUE_RATE_LIMIT_ANONYMOUS_USERS", &mut rl.anonymous_users),
        ] {
            if let Some(n) = num(key)? {
                *slot = n.min(u32::MAX as u64) as u32;
            }
        }

        c.mailer = if let Some(host) = get("GOTRUE_SMTP_HOST") {
            let port = num("GOTRUE_SMTP_PORT")?.unwrap_or(587);
            MailerConfig::Smtp(SmtpConfig {
                host,
                port: u16::try_from(port).map_err(|_| ConfigError::Invalid(format!("GOTRUE_SMTP_PORT={port} is not a port")))?,
                user: get("GOTRUE_SMTP_USER"),
                pass: get("GOTRUE_SMTP_PASS"),
                admin_email: get("GOTRUE_SMTP_ADMIN_EMAIL").unwrap_or_else(|| "argus@localhost".into()),
                sender_name: get("GOTRUE_SMTP_SENDER_NAME"),
            })
        } else if let Some(path) = get("ARGUS_MAILER_FILE").or(file.mailer_file) {
            MailerConfig::File(PathBuf::from(path))
        } else {
            MailerConfig::Log
        };
        Ok(c)
    }

    /// The runtime connection's URL.
    pub fn runtime_url(&self) -> Result<String, ConfigError> {
        if let Some(u) = &self.runtime_database_url {
            return Ok(u.clone());
        }
        let mut url = url::Url::parse(&self.database_url)
            .map_err(|e| ConfigError::Invalid(format!("DATABASE_URL is not a URL ({e})")))?;
        url.set_username(&self.runtime_role)
            .map_err(|_| ConfigError::Invalid("DATABASE_URL cannot carry a user name".into()))?;
        url.set_password(self.runtime_password.as_deref())
            .map_err(|_| ConfigError::Invalid("DATABASE_URL cannot carry a password".into()))?;
        Ok(url.to_string())
    }

    /// The `iss` of tokens this server issues.
    pub fn issuer(&self) -> String {
        format!("{}/auth/v1", self.external_url)
    }

    /// Whether `to` may be redirected to after a verification or sign-in.
    pub fn redirect_allowed(&self, to: &str) -> bool {
        if to.starts_with(&self.site_url) {
            return true;
        }
        self.uri_allow_list.iter().any(|pattern| glob_match(pattern, to))
    }
}

/// `*` matches within a path segment or host label, `**` matches anything.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p {
            [] => s.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| go(rest, &s[i..])),
            [b'*', rest @ ..] => {
                (0..=s.len()).take_while(|&i| i == 0 || !matches!(s[i - 1], b'/' | b'.')).any(|i| go(rest, &s[i..]))
            }
            [c, rest @ ..] => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

/// A JWK set from a URL (a Supabase project's
/// `https://<ref>.supabase.co/auth/v1/.well-known/jwks.json`), read at start.
fn fetch_jwks(url: &str) -> Result<String, ConfigError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(15)))
        .http_status_as_error(true)
        .build()
        .into();
    agent
        .get(url)
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .map_err(|e| ConfigError::Invalid(format!("ARGUS_EXTERNAL_JWKS: cannot fetch the JWK set from {url}: {e}")))
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid(format!("{key}={v} is not a boolean; use true or false"))),
    }
}

fn check_role_name(r: &str) -> Result<(), ConfigError> {
    if !r.is_empty() && r.len() < 64 && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!("database role '{r}' must be lowercase letters, digits and _")))
    }
}

/// `GOTRUE_EXTERNAL_<PROVIDER>_{ENABLED,CLIENT_ID,SECRET,URL,REDIRECT_URI}`;
/// GitHub and Google are presets.
fn providers_from_env(env: &BTreeMap<String, String>) -> Result<BTreeMap<String, ProviderConfig>, ConfigError> {
    let mut out: BTreeMap<String, ProviderConfig> = BTreeMap::new();
    for (k, v) in env {
        let Some(rest) = k.strip_prefix("GOTRUE_EXTERNAL_") else { continue };
        let Some((name, field)) = [
            "_ENABLED",
            "_CLIENT_ID",
            "_SECRET",
            "_AUTHORIZE_URL",
            "_TOKEN_URL",
            "_USERINFO_URL",
            "_EMAILS_URL",
            "_URL",
            "_REDIRECT_URI",
            "_SCOPES",
        ]
            .iter()
            .find_map(|f| rest.strip_suffix(f).map(|n| (n.to_ascii_lowercase(), *f)))
        else {
            continue;
        };
        if name == "anonymous_users" || name.is_empty() {
            continue;
        }
        let p = out.entry(name.clone()).or_insert_with(|| preset(&name));
        match field {
            "_ENABLED" => p.enabled = parse_bool(k, v)?,
            "_CLIENT_ID" => p.client_id = v.clone(),
            "_SECRET" => p.secret = v.clone(),
            "_URL" => p.issuer = Some(v.trim_end_matches('/').to_owned()),
            // Plain OAuth 2.0 endpoints (no discovery): used instead of the issuer's.
            "_AUTHORIZE_URL" => p.authorize_url = Some(v.clone()),
            "_TOKEN_URL" => p.token_url = Some(v.clone()),
            "_USERINFO_URL" => p.userinfo_url = Some(v.clone()),
            "_EMAILS_URL" => p.emails_url = Some(v.clone()),
            "_REDIRECT_URI" => p.redirect_uri = Some(v.clone()),
            "_SCOPES" => p.scopes = v.split([',', ' ']).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            _ => {}
        }
    }
    Ok(out)
}

/// Built-in provider settings.
pub fn preset(name: &str) -> ProviderConfig {
    match name {
        "github" => ProviderConfig {
            authorize_url: Some("https://github.com/login/oauth/authorize".into()),
            token_url: Some("https://github.com/login/oauth/access_token".into()),
            userinfo_url: Some("https://api.github.com/user".into()),
            emails_url: Some("https://api.github.com/user/emails".into()),
            scopes: vec!["user:email".into()],
            ..ProviderConfig::default()
        },
        "google" => ProviderConfig {
            issuer: Some("https://accounts.google.com".into()),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            ..ProviderConfig::default()
        },
        _ => ProviderConfig { scopes: vec!["openid".into(), "email".into(), "profile".into()], ..ProviderConfig::default() },
    }
}

/// The config file's shape (every field optional; the environment wins).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub runtime_database_url: Option<String>,
    pub runtime_role: Option<String>,
    pub runtime_password: Option<String>,
    pub db_pool_size: Option<u64>,
    pub external_url: Option<String>,
    pub site_url: Option<String>,
    #[serde(default)]
    pub uri_allow_list: Vec<String>,
    #[serde(default)]
    pub cors_origins: Vec<String>,
    pub maintenance: Option<bool>,
    pub json_logs: Option<bool>,
    pub trust_proxy: Option<bool>,
    pub jwt_secret: Option<String>,
    pub jwt_keys: Option<String>,
    pub jwt_exp: Option<u64>,
    pub disable_signup: Option<bool>,
    pub mailer_autoconfirm: Option<bool>,
    pub anonymous_users: Option<bool>,
    pub bcrypt_cost: Option<u64>,
    pub mailer_file: Option<String>,
    pub external_jwt_issuer: Option<String>,
    pub external_jwt_secret: Option<String>,
    pub external_jwks: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn gotrue_variables_are_read() {
        let c = Config::from_sources(
            FileConfig::default(),
            &env(&[
                ("DATABASE_URL", "postgres://owner@127.0.0.1/db"),
                ("GOTRUE_JWT_SECRET", SECRET),
                ("GOTRUE_JWT_EXP", "600"),
                ("GOTRUE_DISABLE_SIGNUP", "true"),
                ("GOTRUE_MAILER_AUTOCONFIRM", "true"),
                ("GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED", "true"),
                ("GOTRUE_RATE_LIMIT_TOKEN_REFRESH", "7"),
                ("GOTRUE_EXTERNAL_GITHUB_ENABLED", "true"),
                ("GOTRUE_EXTERNAL_GITHUB_CLIENT_ID", "abc"),
                ("GOTRUE_URI_ALLOW_LIST", "http://127.0.0.1:*/callback, argus://**"),
            ]),
        )
        .expect("config");
        assert_eq!(c.auth.jwt_exp, Duration::from_secs(600));
        assert!(c.auth.disable_signup && c.auth.mailer_autoconfirm && c.auth.anonymous_users);
        assert_eq!(c.rate_limits.token_refresh, 7);
        assert_eq!(c.rate_limits.sign_in_sign_ups, 30);
        let gh = &c.auth.providers["github"];
        assert!(gh.enabled && gh.client_id == "abc" && gh.token_url.is_some());
        assert!(!c.auth.providers.contains_key("anonymous_users"));
        assert!(c.redirect_allowed("http://127.0.0.1:4711/callback"));
        assert!(c.redirect_allowed("argus://auth/done"));
        assert!(!c.redirect_allowed("http://evil.example/callback"));
        assert_eq!(c.runtime_url().expect("url"), "postgres://argus_api@127.0.0.1/db");
    }

    #[test]
    fn bad_values_say_what_to_fix() {
        let base = [("DATABASE_URL", "postgres://x@y/z"), ("GOTRUE_JWT_SECRET", SECRET)];
        for (k, v, needle) in [
            ("GOTRUE_MAILER_AUTOCONFIRM", "maybe", "not a boolean"),
            ("GOTRUE_JWT_EXP", "soon", "not a whole number"),
            ("ARGUS_LISTEN", "here", "not an address"),
            ("GOTRUE_JWT_SECRET", "short", "at least 32"),
            ("ARGUS_DB_RUNTIME_ROLE", "Robert'); drop", "lowercase"),
        ] {
            let mut e = env(&base);
            e.insert(k.into(), v.into());
            let err = Config::from_sources(FileConfig::default(), &e).expect_err(k).to_string();
            assert!(err.contains(needle), "{k}: {err}");
        }
        let err = Config::from_sources(FileConfig::default(), &env(&[("GOTRUE_JWT_SECRET", SECRET)]))
            .expect_err("no db")
            .to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn the_file_is_read_and_the_environment_wins() {
        let file: FileConfig = toml::from_str(
            "database_url = 'postgres://a@b/c'\njwt_secret = '0123456789abcdef0123456789abcdef'\nmaintenance = true\nlisten = '127.0.0.1:9000'",
        )
        .expect("toml");
        let c = Config::from_sources(file, &env(&[("ARGUS_LISTEN", "127.0.0.1:9001")])).expect("config");
        assert!(c.maintenance);
        assert_eq!(c.listen.port(), 9001);
        assert!(toml::from_str::<FileConfig>("colour = 'red'").is_err(), "unknown keys are refused");
    }

    #[test]
    fn globs() {
        assert!(glob_match("http://localhost:*/cb", "http://localhost:8080/cb"));
        assert!(!glob_match("http://localhost:*/cb", "http://localhost:8080/x/cb"));
        assert!(glob_match("https://**.example.com/**", "https://a.b.example.com/x/y"));
        assert!(!glob_match("https://*.example.com", "https://a.b.example.com"));
    }
}
