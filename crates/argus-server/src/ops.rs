//! Operations: liveness, readiness, Prometheus metrics, maintenance mode for
//! the non-auth API, and per-request logging with request ids.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::{MatchedPath, Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{error::ApiError, state::AppState};

/// Latency bucket bounds, seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request counters and latency histograms by method, route and status.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut m = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let s = m.entry((method.to_owned(), route.to_owned(), status)).or_default();
        s.count += 1;
        s.sum += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self, pool: &sqlx::PgPool, maintenance: bool) -> String {
        let mut out = String::new();
        let m = self.series.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP argus_http_requests_total HTTP requests answered.\n# TYPE argus_http_requests_total counter\n");
        for ((method, route, status), s) in m.iter() {
            let _ = writeln!(out, "argus_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}", s.count);
        }
        out.push_str("# HELP argus_http_request_duration_seconds Time to answer.\n# TYPE argus_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(&str, &str), Series> = BTreeMap::new();
        for ((method, route, _), s) in m.iter() {
            let e = by_route.entry((method, route)).or_default();
            e.count += s.count;
            e.sum += s.sum;
            for i in 0..BUCKETS.len() {
                e.buckets[i] += s.buckets[i];
            }
        }
        for ((method, route), s) in by_route {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "argus_http_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(out, "argus_http_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "argus_http_request_duration_seconds_sum{{method=\"{method}\",route=\"{route}\"}} {}", s.sum);
            let _ = writeln!(out, "argus_http_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\"}} {}", s.count);
        }
        let _ = writeln!(out, "# HELP argus_db_pool_connections Runtime pool connections.\n# TYPE argus_db_pool_connections gauge");
        let _ = writeln!(out, "argus_db_pool_connections{{state=\"idle\"}} {}", pool.num_idle());
        let _ = writeln!(out, "argus_db_pool_connections{{state=\"total\"}} {}", pool.size());
        let _ = writeln!(out, "# HELP argus_maintenance 1 while the server is read-only.\n# TYPE argus_maintenance gauge\nargus_maintenance {}", u8::from(maintenance));
        out
    }
}

/// Counts and times every request under its route template (not its path,
/// which would make one series per id).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    state.metrics.observe(&method, &route, resp.status().as_u16(), start.elapsed());
    resp
}

/// Maintenance mode for `/api`: reads go on, writes answer 503 with
/// Retry-After so desktop clients keep their changes and retry later.
pub async fn read_only(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.maintenance() && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return ApiError::Maintenance.into_response();
    }
    next.run(req).await
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Ready when the database answers on the runtime connection and every
/// migration this binary carries is applied.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let check = tokio::time::timeout(Duration::from_secs(3), crate::db::migrations_applied(&state.pool)).await;
    match check {
        Ok(Ok(true)) => Json(json!({"status": "ready", "maintenance": state.maintenance()})).into_response(),
        Ok(Ok(false)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "reason": "migrations are not all applied; run `argus-server migrate`"})),
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database error");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not ready", "reason": "database unreachable"}))).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not ready", "reason": "database timed out"}))).into_response(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(&state.pool, state.maintenance()),
    )
        .into_response()
}
