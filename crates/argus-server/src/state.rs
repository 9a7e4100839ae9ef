//! Shared state and the request extractors every area uses.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};
use serde_json::Value;
use sqlx::PgPool;

use crate::{
    auth::{jwt::Keys, mailer::Mailer},
    config::Config,
    error::{ApiError, ConfigError},
    ops::Metrics,
};

/// Everything a handler needs; cheap to clone. The server keeps no state of
/// its own beyond this: sessions, tokens, counters and audit rows are in
/// PostgreSQL, so several instances serve one database.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    /// The runtime connection (a role that owns nothing).
    pub pool: PgPool,
    pub keys: Keys,
    pub mailer: Mailer,
    pub metrics: Metrics,
    /// Object storage, when configured.
    pub storage: Option<crate::storage::Storage>,
    maintenance: AtomicBool,
    /// Set when shutdown begins: long-lived responses (event streams) end.
    closing: AtomicBool,
    /// The key of maintenance-mode refresh tokens (see `auth::session`).
    pub stateless_key: [u8; 32],
    /// The clock of the changes this server makes itself (sync), kept
    /// after every HLC it receives.
    pub sync_clock: parking_lot::Mutex<argus_core::hlc::HlcClock>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, pool: PgPool) -> Result<Self, ConfigError> {
        use sha2::{Digest, Sha256};
        let keys = Keys::from_config(&config.auth)?;
        let mut h = Sha256::new();
        h.update(b"argus maintenance refresh v1\0");
        h.update(config.auth.jwt_secret.as_deref().unwrap_or_default());
        h.update(config.auth.jwt_keys.as_deref().unwrap_or_default());
        let stateless_key = h.finalize().into();
        let storage = config.storage.as_ref().map(crate::storage::Storage::new).transpose()?;
        Ok(Self(Arc::new(Inner {
            storage,
            mailer: Mailer::from_config(&config.mailer),
            maintenance: AtomicBool::new(config.maintenance),
            closing: AtomicBool::new(false),
            metrics: Metrics::default(),
            keys,
            pool,
            config,
            stateless_key,
            sync_clock: parking_lot::Mutex::new(argus_core::hlc::HlcClock::new(argus_core::id::DeviceId::new())),
        })))
    }

    pub fn maintenance(&self) -> bool {
        self.0.maintenance.load(Ordering::Relaxed)
    }

    pub fn set_maintenance(&self, on: bool) {
        self.0.maintenance.store(on, Ordering::Relaxed);
    }

    pub fn closing(&self) -> bool {
        self.0.closing.load(Ordering::Relaxed)
    }

    pub fn begin_closing(&self) {
        self.0.closing.store(true, Ordering::Relaxed);
    }
}

/// The client's address: the socket peer, or the first `X-Forwarded-For`
/// entry when the server is configured to trust its proxy.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.config.trust_proxy
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        {
            return Ok(ClientIp(ip.to_string()));
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(ClientIp(peer.unwrap_or_else(|| "unknown".into())))
    }
}

/// The `Authorization: Bearer` token, if any.
#[derive(Debug, Clone)]
pub struct Bearer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        Ok(Bearer(token))
    }
}

/// A signed-in user of the non-auth API: the verified claims, with `sub`
/// mapped to a local user for tokens of a trusted external issuer.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: uuid::Uuid,
    pub claims: Value,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Bearer(token) = Bearer::from_request_parts(parts, state).await.unwrap_or(Bearer(None));
        let token = token.ok_or(ApiError::Unauthorized)?;
        let (mut claims, source) = state.keys.verify(&token).map_err(|e| ApiError::InvalidToken(format!("invalid JWT: {e}")))?;
        if claims.get("role").and_then(Value::as_str) != Some("authenticated") {
            return Err(ApiError::Forbidden("this endpoint needs a user's access token, not an API key".into()));
        }
        if source == crate::auth::jwt::Source::External {
            let local = crate::auth::users::map_external_user(state, &claims).await.map_err(|e| match e.status.as_u16() {
                503 => ApiError::Maintenance,
                _ => ApiError::Internal(e.to_string()),
            })?;
            claims["sub"] = Value::String(local.to_string());
        }
        let user_id = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .ok_or_else(|| ApiError::InvalidToken("the token's sub is not a user id".into()))?;
        Ok(Caller { user_id, claims })
    }
}
