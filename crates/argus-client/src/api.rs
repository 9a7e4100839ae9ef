//! The HTTP client for argus-server's API (and the GoTrue-shaped auth API):
//! JSON in and out, the bearer token from a [`TokenSource`], typed errors,
//! and retries with backoff for the calls that are safe to repeat.

use std::{fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{Error, Result};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the access token comes from: a signed-in session that refreshes
/// itself, or a fixed key.
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// The token to send now (`None`: anonymous).
    fn access_token(&self) -> BoxFuture<'_, Result<Option<String>>>;
    /// The server refused `refused`: renew the token if possible. `true`
    /// when a retry with the new token makes sense.
    fn renew(&self, refused: String) -> BoxFuture<'_, Result<bool>>;
}

/// A fixed bearer token (a service key, or a session managed elsewhere).
#[derive(Clone)]
pub struct StaticToken(pub Option<String>);

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "StaticToken(<set>)" } else { "StaticToken(None)" })
    }
}

impl TokenSource for StaticToken {
    fn access_token(&self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
    fn renew(&self, _: String) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Ok(false) })
    }
}

/// Exponential backoff with full jitter (AWS's recommendation): attempt
/// `n` waits a random time up to `min(max, base * 2^n)`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// Tries in all, the first included.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_millis(200), max: Duration::from_secs(20), attempts: 8 }
    }
}

impl Backoff {
    /// How long to wait before retry number `n` (0-based).
    pub fn delay(&self, n: u32) -> Duration {
        let cap = self.base.saturating_mul(1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX)).min(self.max);
        cap.mul_f64(fastrand::f64())
    }
}

/// The shared HTTP client: rustls with ring, no system OpenSSL, timeouts
/// that end a dead connection without cutting a slow upload short.
pub fn http_client() -> Result<reqwest::Client> {
    // Idempotent; fails only when another provider was installed first,
    // which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("argus-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot set up HTTPS: {e}")))
}

/// argus-server's API at `base` (e.g. `https://argus.example.com`).
#[derive(Clone, Debug)]
pub struct Api {
    base: Arc<str>,
    http: reqwest::Client,
    tokens: Arc<dyn TokenSource>,
    backoff: Backoff,
}

impl Api {
    pub fn new(base: &str, tokens: Arc<dyn TokenSource>) -> Result<Self> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Invalid(format!("the server address {base:?} must start with https:// (or http:// on loopback)")));
        }
        Ok(Self { base: base.into(), http: http_client()?, tokens, backoff: Backoff::default() })
    }

    pub fn with_backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Calls `method path` with a JSON body; `Ok(None)` for an empty answer
    /// (204). Transient failures are retried with backoff when `retry` is
    /// set (the call is safe to repeat); a refused token is renewed once.
    pub async fn call<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<&(dyn ErasedJson + Sync)>, retry: bool) -> Result<Option<T>> {
        self.call_with(method, path, body, retry, false).await
    }

    /// POST that is safe to repeat, its body gzip-compressed (for servers
    /// that accept `Content-Encoding: gzip`, as argus-server's sync does).
    pub async fn post_gzip<T: DeserializeOwned>(&self, path: &str, body: &(dyn ErasedJson + Sync)) -> Result<T> {
        self.call_with(Method::POST, path, Some(body), true, true).await?.ok_or_else(|| empty(path))
    }

    async fn call_with<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<&(dyn ErasedJson + Sync)>, retry: bool, gzip: bool) -> Result<Option<T>> {
        let url = format!("{}{path}", self.base);
        let body = body.map(|b| b.to_value()).transpose()?;
        let gzipped = match (&body, gzip) {
            (Some(b), true) => {
                use std::io::Write;
                let json = serde_json::to_vec(b).map_err(|e| Error::Invalid(format!("cannot encode the request: {e}")))?;
                let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 4), flate2::Compression::fast());
                enc.write_all(&json).and_then(|_| enc.finish()).map(bytes::Bytes::from).map(Some).map_err(|e| Error::Invalid(format!("cannot compress the request: {e}")))?
            }
            _ => None,
        };
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            let token = self.tokens.access_token().await?;
            let mut req = self.http.request(method.clone(), &url);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            if let Some(z) = &gzipped {
                req = req.header(reqwest::header::CONTENT_TYPE, "application/json").header(reqwest::header::CONTENT_ENCODING, "gzip").body(z.clone());
            } else if let Some(b) = &body {
                req = req.json(b);
            }
            let outcome = match req.send().await {
                Err(e) => Err(network(&url, &e)),
                Ok(resp) => read(&method, path, &url, resp).await,
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err(Error::Unauthorized { message }) if !renewed => {
                    renewed = true;
                    if !self.tokens.renew(token.unwrap_or_default()).await? {
                        return Err(Error::Unauthorized { message });
                    }
                }
                Err(e) if retry && e.is_transient() && attempt + 1 < self.backoff.attempts => {
                    tracing::debug!(error = %e, attempt, "retrying");
                    tokio::time::sleep(self.backoff.delay(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None, true).await?.ok_or_else(|| empty(path))
    }

    /// POST that is not safe to repeat (it creates something): never retried.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &(dyn ErasedJson + Sync)) -> Result<T> {
        self.call(Method::POST, path, Some(body), false).await?.ok_or_else(|| empty(path))
    }

    /// POST that is safe to repeat: retried on transient failures.
    pub async fn post_idempotent<T: DeserializeOwned>(&self, path: &str, body: &(dyn ErasedJson + Sync)) -> Result<T> {
        self.call(Method::POST, path, Some(body), true).await?.ok_or_else(|| empty(path))
    }

    /// PUT (sets a resource to the body: safe to repeat, so retried).
    pub async fn put<T: DeserializeOwned>(&self, path: &str, body: &(dyn ErasedJson + Sync)) -> Result<T> {
        self.call(Method::PUT, path, Some(body), true).await?.ok_or_else(|| empty(path))
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        self.call::<Value>(Method::DELETE, path, None, true).await.map(|_| ())
    }
}

fn empty(path: &str) -> Error {
    Error::Protocol { url: path.to_owned(), reason: "an empty answer where a JSON body was expected".into() }
}

/// A request body: anything serializable, object-safe.
pub trait ErasedJson {
    fn to_value(&self) -> Result<Value>;
}

impl<T: Serialize> ErasedJson for T {
    fn to_value(&self) -> Result<Value> {
        serde_json::to_value(self).map_err(|e| Error::Invalid(format!("cannot encode the request: {e}")))
    }
}

pub(crate) fn network(url: &str, e: &reqwest::Error) -> Error {
    // The URL may be presigned: keep its query (the signature) out of errors.
    let shown = url.split('?').next().unwrap_or(url).to_owned();
    let mut reason = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        reason = format!("{reason}: {s}");
        src = s.source();
    }
    let reason = reason.replace(url, &shown);
    Error::Network { url: shown, reason }
}

/// Reads an answer: JSON on success, a typed error otherwise.
async fn read<T: DeserializeOwned>(method: &Method, path: &str, url: &str, resp: reqwest::Response) -> Result<Option<T>> {
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| network(url, &e))?;
    if status.is_success() {
        if status == StatusCode::NO_CONTENT || bytes.is_empty() {
            return Ok(None);
        }
        return serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::Protocol { url: path.to_owned(), reason: e.to_string() });
    }
    Err(http_error(method.as_str(), path, status.as_u16(), &bytes))
}

/// The error an answer carries: argus-server's `{code, message}`, GoTrue's
/// `{error_code, msg}`, OAuth's `{error, error_description}`, S3's XML, or
/// the text itself.
pub(crate) fn http_error(method: &str, path: &str, status: u16, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let (code, message) = match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
            (
                s("error_code").or_else(|| s("code")).or_else(|| s("error")),
                s("message").or_else(|| s("msg")).or_else(|| s("error_description")).or_else(|| s("error")),
            )
        }
        Err(_) => {
            let tag = |t: &str| text.split(&format!("<{t}>")).nth(1).and_then(|r| r.split(&format!("</{t}>")).next()).map(str::to_owned);
            (tag("Code"), tag("Message"))
        }
    };
    let message = message.unwrap_or_else(|| {
        let t = text.trim();
        if t.is_empty() { format!("HTTP {status}") } else { t.chars().take(300).collect() }
    });
    // GoTrue answers a bad or expired JWT, or one whose session is gone,
    // with 403 and a code; argus-server's API with 401.
    if status == 401 || (status == 403 && matches!(code.as_deref(), Some("bad_jwt" | "session_not_found"))) {
        return Error::Unauthorized { message };
    }
    Error::Http { method: method.to_owned(), path: path.split('?').next().unwrap_or(path).to_owned(), status, code, message }
}
