//! The one error type of the API and its wire shape (SPEC §2).
//!
//! Handlers return `Result<_, ApiError>`. Client errors carry the spec's status, type, code and
//! `param`; anything unexpected becomes [`ApiError::Internal`], which is logged with its cause and
//! answered as a bare `500 api_error` so internals never reach the caller.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

pub use crate::domain::error::{ApiError, ApiResult, ClientError, ErrorCode, ErrorType};
use crate::telemetry::current_request_id;

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: ErrorType,
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
    request_id: String,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl ApiError {
    /// What the caller may be told: a client error's message; an internal error is logged and
    /// told only that it happened (as `IntoResponse` does).
    pub fn public_message(self) -> String {
        match self {
            ApiError::Client(e) => e.message,
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                INTERNAL_MESSAGE.to_owned()
            }
        }
    }

    /// The error object's JSON text as it is answered (for idempotent answers stored before the
    /// response is made).
    pub fn body_text(&self) -> String {
        let request_id = current_request_id().unwrap_or_default();
        let (code, message, param, extra) = match self {
            ApiError::Client(e) => (e.code, e.message.as_str(), e.param.as_deref(), &e.extra),
            ApiError::Internal(_) => return String::new(),
        };
        let body =
            Envelope { error: Body { kind: code.kind(), code: code.as_str(), message, param, request_id, extra } };
        serde_json::to_string(&body).unwrap_or_default()
    }
}

const INTERNAL_MESSAGE: &str = "An internal error occurred";

/// No connection could be had (the pool timed out waiting for one, or is closing), PostgreSQL
/// cancelled a statement that ran past its `statement_timeout` (SQLSTATE 57014), or SQLite's
/// file stayed locked by another process past the busy timeout (`SQLITE_BUSY` and its extended
/// codes: another server's migration building an index, say). PostgreSQL's codes are five
/// characters, SQLite's numbers, so the two cannot be confused.
fn database_unavailable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| match cause.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) => true,
        Some(sqlx::Error::Database(e)) => matches!(e.code().as_deref(), Some("57014" | "5" | "261" | "517" | "773")),
        _ => false,
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = current_request_id().unwrap_or_default();
        let client = match self {
            ApiError::Client(e) => *e,
            ApiError::Internal(err) if database_unavailable(&err) => {
                // Every connection busy for the pool's 10 s, or the pool closing. A money
                // movement may have done part of its work first: its retry, with the same
                // Idempotency-Key, answers what it did, and recovery finishes it.
                tracing::warn!(
                    error = format!("{err:#}"),
                    "no database connection, or a statement past its timeout: answered 503"
                );
                ClientError {
                    code: ErrorCode::ServiceUnavailable,
                    message: "The database is busy; retry shortly, with the same Idempotency-Key if you sent one"
                        .into(),
                    param: None,
                    extra: Map::new(),
                    retry_after: Some(1),
                }
            }
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                ClientError {
                    code: ErrorCode::ApiError,
                    message: INTERNAL_MESSAGE.into(),
                    param: None,
                    extra: Map::new(),
                    retry_after: None,
                }
            }
        };
        let body = Envelope {
            error: Body {
                kind: client.code.kind(),
                code: client.code.as_str(),
                message: &client.message,
                param: client.param.as_deref(),
                request_id,
                extra: &client.extra,
            },
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (client.code.status(), [(header::CONTENT_TYPE, "application/json")], json).into_response();
        if let Some(seconds) = client.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
