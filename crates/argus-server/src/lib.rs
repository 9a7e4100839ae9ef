//! argus-server: the companion API of the Argus desktop app.
//!
//! - `/auth/v1`: the Supabase Auth (GoTrue) HTTP contract, so supabase-js,
//!   supabase-py and the desktop sign in against it unchanged; it also
//!   accepts tokens of a configured external issuer (a real Supabase project).
//! - `/api/v1`: teams, projects, members, invitations, audit log, each query
//!   run under PostgreSQL row-level security as the caller.
//! - `/healthz`, `/readyz`, `/metrics`, and `/openapi.json` (the `/api/v1`
//!   document, generated from the handlers' annotations).
//!
//! It is shaped so that it can move between hosts without code changes: all
//! state (sessions, refresh tokens, rate-limit counters, audit rows) lives in
//! PostgreSQL, Argus's tables live in schemas of their own (`argus`,
//! `argus_auth`), and the roles the policies name are Supabase's. The same
//! migrations run on a private PostgreSQL (`--dev`), on Supabase and on
//! RDS/Aurora, and several instances can serve one database.

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod devdb;
pub mod error;
pub mod ops;
pub mod state;
pub mod storage;
pub mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod videos;

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    http::{HeaderName, HeaderValue, Method, Request, header},
    middleware,
    routing::get,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use config::Config;
pub use error::ConfigError;
pub use state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP API over `state`.
pub fn app(state: AppState) -> Router {
    let api = api::router().merge(videos::router()).merge(sync::router()).layer(middleware::from_fn_with_state(state.clone(), ops::read_only));
    let cors = cors(&state.config.cors_origins);
    Router::new()
        .nest("/auth/v1", auth::router())
        .nest("/api/v1", api)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(api::openapi))
        .layer(middleware::from_fn_with_state(state.clone(), ops::track))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("apikey"),
            HeaderName::from_static("x-client-info"),
            HeaderName::from_static("x-supabase-api-version"),
            REQUEST_ID,
        ])
        .expose_headers([REQUEST_ID, HeaderName::from_static("x-supabase-api-version"), HeaderName::from_static("x-sb-error-code")])
        .max_age(Duration::from_secs(3600))
}

/// Connects, migrates (owner connection) and builds the state (runtime
/// connection). The database roles must exist (`argus-server db setup`).
pub async fn prepare(config: Config) -> Result<AppState, ConfigError> {
    let owner = db::connect(&config.database_url, 2, "owner").await?;
    db::migrate(&owner, &config.runtime_role).await?;
    owner.close().await;
    let pool = db::connect(&config.runtime_url()?, config.db_pool_size, "runtime").await.map_err(|e| {
        ConfigError::Database(format!(
            "{e}; the runtime role {} must be able to log in (run `argus-server db setup`, and set ARGUS_DB_RUNTIME_PASSWORD if the server asks for one)",
            config.runtime_role
        ))
    })?;
    AppState::new(config, pool)
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes the
/// requests in flight (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state.clone());
    let shutdown = async move {
        shutdown.await;
        // event streams end at their next poll, so shutdown does not wait on them
        state.begin_closing();
    };
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
