//! Signing in: a client for the Supabase Auth (GoTrue) contract, so the
//! same code signs in against argus-server and against a real Supabase
//! project's auth URL.
//!
//! The session (access and refresh token) is kept in a [`SessionStore`]:
//! the OS keyring by default. The access token is refreshed before it
//! expires (when it is asked for within `margin` of its expiry, and by
//! [`Auth::spawn_refresher`] in the background), once at a time however
//! many calls want it. A refresh the server refuses for good (revoked,
//! signed out elsewhere, reused) clears the session and answers
//! [`Error::SignInRequired`]; network failures keep it.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    Error, Result,
    api::{BoxFuture, TokenSource, http_client, http_error, network},
    session_store::SessionStore,
};

/// The signed-in user, as GoTrue describes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub is_anonymous: bool,
}

/// A GoTrue session.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub user: User,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("user", &self.user).field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// What a sign-up did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignUp {
    SignedIn(User),
    /// The server sent a confirmation e-mail; sign in after confirming.
    ConfirmationSent { email: String },
}

/// Which sessions a sign-out ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This one.
    Local,
    /// Every session of the user.
    Global,
    /// Every other one.
    Others,
}

fn now_s() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Codes with which GoTrue says a refresh token is done for.
const ENDED: &[&str] = &["refresh_token_not_found", "refresh_token_already_used", "session_expired", "session_not_found", "user_banned", "user_not_found"];

/// The auth client for one server.
pub struct Auth {
    base: String,
    http: reqwest::Client,
    anon_key: Option<String>,
    store: Box<dyn SessionStore>,
    state: tokio::sync::Mutex<Option<Session>>,
    margin: Duration,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("base", &self.base).field("store", &self.store).finish_non_exhaustive()
    }
}

impl Auth {
    /// The auth API of the server at `base` (its auth lives under
    /// `/auth/v1`). `anon_key` is the project's public key where a gateway
    /// asks for one (Supabase). A session kept in `store` is picked up.
    pub fn new(base: &str, anon_key: Option<String>, store: Box<dyn SessionStore>) -> Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        let session = match store.load()? {
            Some(json) => match serde_json::from_str::<Session>(&json) {
                Ok(s) => Some(s),
                Err(_) => {
                    // Unreadable: forget it rather than fail every start.
                    store.clear()?;
                    None
                }
            },
            None => None,
        };
        Ok(Self { base, http: http_client()?, anon_key, store, state: tokio::sync::Mutex::new(session), margin: Duration::from_secs(60) })
    }

    /// Refresh this long before the access token expires (default 60 s).
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Where the session is kept, for the user.
    pub fn storage(&self) -> String {
        self.store.describe()
    }

    pub async fn user(&self) -> Option<User> {
        self.state.lock().await.as_ref().map(|s| s.user.clone())
    }

    pub async fn session(&self) -> Option<Session> {
        self.state.lock().await.clone()
    }

    async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Result<Value> {
        let url = format!("{}/auth/v1{path}", self.base);
        let mut r = self.http.post(&url).header("x-supabase-api-version", "2024-01-01").json(&body);
        if let Some(k) = &self.anon_key {
            r = r.header("apikey", k);
        }
        if let Some(t) = bearer.or(self.anon_key.as_deref()) {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.map_err(|e| network(&url, &e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| network(&url, &e))?;
        if !status.is_success() {
            return Err(http_error("POST", &format!("/auth/v1{path}"), status.as_u16(), &bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Protocol { url, reason: e.to_string() })
    }

    fn session_of(&self, v: Value) -> Result<Session> {
        let bad = |why: &str| Error::Protocol { url: format!("{}/auth/v1/token", self.base), reason: why.to_owned() };
        let text = |k: &str| v[k].as_str().map(str::to_owned).ok_or_else(|| bad(&format!("no {k} in the session")));
        let expires_at = v["expires_at"].as_i64().or_else(|| v["expires_in"].as_i64().map(|s| now_s() + s)).ok_or_else(|| bad("no expiry"))?;
        let user: User = serde_json::from_value(v["user"].clone()).map_err(|e| bad(&e.to_string()))?;
        Ok(Session { access_token: text("access_token")?, refresh_token: text("refresh_token")?, expires_at, user })
    }

    async fn keep(&self, slot: &mut Option<Session>, s: Session) -> Result<()> {
        let json = serde_json::to_string(&s).map_err(|e| Error::Invalid(e.to_string()))?;
        *slot = Some(s);
        // Keep it before anyone uses it: a crash must not lose a rotated
        // refresh token (the old one is revoked now).
        self.store.save(&json)
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Result<User> {
        let v = self.post("/token?grant_type=password", None, json!({"email": email, "password": password, "gotrue_meta_security": {}})).await?;
        let s = self.session_of(v)?;
        let user = s.user.clone();
        let mut slot = self.state.lock().await;
        self.keep(&mut slot, s).await?;
        Ok(user)
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> Result<SignUp> {
        let v = self.post("/signup", None, json!({"email": email, "password": password, "data": {}, "gotrue_meta_security": {}})).await?;
        if v.get("access_token").is_some() {
            let s = self.session_of(v)?;
            let user = s.user.clone();
            let mut slot = self.state.lock().await;
            self.keep(&mut slot, s).await?;
            return Ok(SignUp::SignedIn(user));
        }
        Ok(SignUp::ConfirmationSent { email: email.to_owned() })
    }

    /// Ends the session on the server (as far as it can be reached) and
    /// forgets it here in any case. `Ok(false)` when the server could not
    /// be told (it ends when its refresh token expires).
    pub async fn sign_out(&self, scope: Scope) -> Result<bool> {
        let mut slot = self.state.lock().await;
        let told = match slot.as_ref() {
            None => true,
            Some(s) => {
                let q = match scope {
                    Scope::Local => "local",
                    Scope::Global => "global",
                    Scope::Others => "others",
                };
                match self.post(&format!("/logout?scope={q}"), Some(&s.access_token), Value::Null).await {
                    Ok(_) => true,
                    // Already gone there: as good as done.
                    Err(Error::Http { status: 401 | 403 | 404, .. } | Error::Unauthorized { .. }) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not end the session on the server");
                        false
                    }
                }
            }
        };
        if scope != Scope::Others {
            *slot = None;
            self.store.clear()?;
        }
        Ok(told)
    }

    /// Refreshes now, with the lock held by the caller.
    async fn refresh_locked(&self, slot: &mut Option<Session>) -> Result<()> {
        let Some(s) = slot.as_ref() else {
            return Err(Error::SignInRequired { reason: "you are not signed in".into() });
        };
        match self.post("/token?grant_type=refresh_token", None, json!({"refresh_token": s.refresh_token})).await {
            Ok(v) => {
                let s = self.session_of(v)?;
                self.keep(slot, s).await
            }
            Err(Error::Http { status: 400 | 401 | 403 | 404, code, message, .. }) if code.as_deref().is_none_or(|c| ENDED.contains(&c)) => {
                *slot = None;
                self.store.clear()?;
                Err(Error::SignInRequired { reason: message })
            }
            Err(Error::Unauthorized { message }) => {
                *slot = None;
                self.store.clear()?;
                Err(Error::SignInRequired { reason: message })
            }
            Err(e) => Err(e),
        }
    }

    /// Refreshes the session now.
    pub async fn refresh(&self) -> Result<()> {
        let mut slot = self.state.lock().await;
        self.refresh_locked(&mut slot).await
    }

    /// A task that refreshes the session shortly before each expiry, and
    /// retries with backoff while the server cannot be reached. It ends
    /// when the session does (sign-out, or refused).
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let Some(auth) = me.upgrade() else { return };
                let wait = match auth.state.lock().await.as_ref() {
                    None => return,
                    Some(s) => Duration::from_secs((s.expires_at - now_s() - auth.margin.as_secs() as i64).max(1) as u64),
                };
                drop(auth);
                let wait = if failures > 0 { crate::Backoff::default().delay(failures).max(Duration::from_millis(500)) } else { wait };
                tokio::time::sleep(wait).await;
                let Some(auth) = me.upgrade() else { return };
                let mut slot = auth.state.lock().await;
                let due = slot.as_ref().is_some_and(|s| s.expires_at - now_s() <= auth.margin.as_secs() as i64);
                if !due {
                    failures = 0;
                    continue;
                }
                match auth.refresh_locked(&mut slot).await {
                    Ok(()) => failures = 0,
                    Err(Error::SignInRequired { .. }) => return,
                    Err(e) => {
                        tracing::info!(error = %e, "session refresh failed; retrying");
                        failures += 1;
                    }
                }
            }
        })
    }
}

impl TokenSource for Auth {
    fn access_token(&self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            let mut slot = self.state.lock().await;
            let Some(s) = slot.as_ref() else {
                return Err(Error::SignInRequired { reason: "you are not signed in".into() });
            };
            if s.expires_at - now_s() <= self.margin.as_secs() as i64 {
                self.refresh_locked(&mut slot).await?;
            }
            Ok(slot.as_ref().map(|s| s.access_token.clone()))
        })
    }

    fn renew(&self, refused: String) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let mut slot = self.state.lock().await;
            match slot.as_ref() {
                None => Ok(false),
                // Someone renewed it meanwhile: retry with theirs.
                Some(s) if s.access_token != refused => Ok(true),
                Some(_) => self.refresh_locked(&mut slot).await.map(|()| true),
            }
        })
    }
}
