//! Errors: one type for the auth API (GoTrue's JSON shapes and codes) and
//! one for the rest of the API. Database and internal details are logged with
//! the request id, never sent.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// Why the server could not be configured or started.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Database(String),
    #[error("{0}")]
    Io(String),
}

impl From<sqlx::Error> for ConfigError {
    fn from(e: sqlx::Error) -> Self {
        ConfigError::Database(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for ConfigError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        ConfigError::Database(format!("migrations failed: {e}"))
    }
}

/// The API version header both official clients send; with it, errors use
/// the new body shape.
pub const API_VERSION_HEADER: &str = "x-supabase-api-version";
pub const API_VERSION: &str = "2024-01-01";

/// An auth error, as GoTrue answers it.
#[derive(Debug, Clone)]
pub struct AuthError {
    pub status: StatusCode,
    /// GoTrue's `error_code`, e.g. `invalid_credentials`.
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait, for 429 and 503.
    pub retry_after: Option<u64>,
    /// For `weak_password`: the reasons (`length`, `characters`, `pwned`).
    pub weak_password: Option<Vec<String>>,
}

/// Attached to an auth error response so the version middleware can re-shape it.
#[derive(Debug, Clone)]
pub struct AuthErrorBody(pub AuthError);

impl AuthError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None, weak_password: None }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::bad_request("validation_failed", message)
    }
    pub fn invalid_credentials() -> Self {
        Self::bad_request("invalid_credentials", "Invalid login credentials")
    }
    pub fn no_authorization() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "no_authorization",
            "This endpoint requires a Bearer token",
        )
    }
    pub fn bad_jwt(why: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::FORBIDDEN, "bad_jwt", format!("invalid JWT: unable to parse or verify signature, {why}"))
    }
    pub fn not_admin() -> Self {
        Self::new(StatusCode::FORBIDDEN, "not_admin", "User not allowed")
    }
    pub fn session_not_found() -> Self {
        Self::new(StatusCode::FORBIDDEN, "session_not_found", "Session from session_id claim in JWT does not exist")
    }
    pub fn user_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "user_not_found", "User not found")
    }
    pub fn rate_limited(code: &'static str, retry_after: u64) -> Self {
        let message = if code == "over_email_send_rate_limit" {
            "email rate limit exceeded"
        } else {
            "Request rate limit reached"
        };
        Self { retry_after: Some(retry_after), ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message) }
    }
    pub fn maintenance() -> Self {
        Self {
            retry_after: Some(60),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "The server is in maintenance (read-only); sign-in and token refresh keep working, try this again later",
            )
        }
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected_failure", "Internal server error")
    }

    /// The body in the shape the request asked for.
    pub fn body(&self, new_shape: bool) -> serde_json::Value {
        let mut v = if new_shape {
            json!({"code": self.code, "message": self.message})
        } else {
            json!({"code": self.status.as_u16(), "error_code": self.code, "msg": self.message})
        };
        if let Some(reasons) = &self.weak_password {
            v["weak_password"] = json!({ "reasons": reasons });
        }
        v
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        // Legacy shape here; `auth::api_version` re-shapes it when the request
        // carries the version header.
        let mut resp = (self.status, Json(self.body(false))).into_response();
        if let Ok(v) = HeaderValue::from_str(self.code) {
            resp.headers_mut().insert("x-sb-error-code", v);
        }
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp.extensions_mut().insert(AuthErrorBody(self));
        resp
    }
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        if is_read_only(&e) {
            return AuthError::maintenance();
        }
        tracing::error!(error = %e, "database error in auth");
        AuthError::internal()
    }
}

/// An error of the non-auth API: `{"code": "...", "message": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first: this endpoint needs a Bearer access token")]
    Unauthorized,
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("the server is in maintenance (read-only); your changes stay on this device, try again later")]
    Maintenance,
    #[error("internal server error")]
    Internal(String),
}

impl ApiError {
    fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "no_authorization"),
            ApiError::InvalidToken(_) => (StatusCode::UNAUTHORIZED, "bad_jwt"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Maintenance => (StatusCode::SERVICE_UNAVAILABLE, "maintenance"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let mut resp = (status, Json(json!({"code": code, "message": self.to_string()}))).into_response();
        if matches!(self, ApiError::Maintenance) {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(60));
        }
        resp
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if is_read_only(&e) {
            return ApiError::Maintenance;
        }
        if let sqlx::Error::Database(db) = &e {
            match db.code().as_deref() {
                // insufficient_privilege: a row-level security check failed
                Some("42501") => {
                    return ApiError::Forbidden("your role in this project does not allow that".into());
                }
                Some("23505") => {
                    let what = match db.constraint() {
                        Some("project_members_pkey") => "that user is already a member of the project",
                        Some("team_members_pkey") => "that user is already a member of the team",
                        Some("invitations_open_key") => "that e-mail address already has an open invitation",
                        _ => "that already exists",
                    };
                    return ApiError::Conflict(what.into());
                }
                Some("23503") => return ApiError::NotFound("a record this refers to does not exist".into()),
                Some("23514") | Some("22P02") => {
                    return ApiError::Unprocessable(format!("invalid value: {}", db.message()));
                }
                _ => {}
            }
        }
        ApiError::Internal(e.to_string())
    }
}

/// `25006 read_only_sql_transaction`: the database is a read-only replica or
/// in maintenance.
fn is_read_only(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("25006"))
}
