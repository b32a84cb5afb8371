//! The one error type of the API and its wire shape (SPEC §2).
//!
//! Handlers return `Result<_, ApiError>`. Client errors carry the spec's status, type, code and
//! `param`; anything unexpected becomes [`ApiError::Internal`], which is logged with its cause and
//! answered as a bare `500 api_error` so internals never reach the caller.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::telemetry::current_request_id;

/// `error.type` of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    InvalidRequestError,
    AuthenticationError,
    PermissionError,
    CardError,
    IdempotencyError,
    RateLimitError,
    ApiError,
}

/// A 4xx answer: everything the error object shows, and nothing else.
#[derive(Debug, Clone)]
pub struct ClientError {
    pub status: StatusCode,
    pub kind: ErrorType,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    /// Extra members of the error object (`decline_code`, `attempts_remaining`, `payment_id`).
    pub extra: Map<String, Value>,
    /// Seconds for a `Retry-After` header (429s).
    pub retry_after: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{} {}: {}", .0.status, .0.code, .0.message)]
    Client(Box<ClientError>),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, kind: ErrorType, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Client(Box::new(ClientError {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
            extra: Map::new(),
            retry_after: None,
        }))
    }

    /// Names the request parameter at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        if let ApiError::Client(e) = &mut self {
            e.param = Some(param.into());
        }
        self
    }

    /// Adds a member to the error object (e.g. `decline_code`).
    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let ApiError::Client(e) = &mut self {
            e.extra.insert(key.to_owned(), value.into());
        }
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        if let ApiError::Client(e) = &mut self {
            e.retry_after = Some(seconds.max(1));
        }
        self
    }

    /// The spec code, for tests and logs (`api_error` for internal errors).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Client(e) => e.code,
            ApiError::Internal(_) => "api_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Client(e) => e.status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    // --- The common cases, named as the spec names them. ---

    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorType::InvalidRequestError, "parameter_invalid", message)
            .with_param(param)
    }

    pub fn missing(param: impl Into<String>) -> Self {
        let param = param.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequestError,
            "parameter_missing",
            format!("{param} is required"),
        )
        .with_param(param)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorType::InvalidRequestError, code, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorType::AuthenticationError, "unauthenticated", message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorType::PermissionError, code, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorType::InvalidRequestError, "resource_missing", format!("No such {what}"))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorType::InvalidRequestError, code, message)
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::InvalidRequestError,
            "payload_too_large",
            "The request body is larger than 64 KiB",
        )
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorType::RateLimitError,
            "rate_limited",
            "Too many requests; retry later",
        )
        .with_retry_after(retry_after)
    }

    /// The error object a status would carry when something other than a handler (routing,
    /// axum's own rejections, a layer) refused the request.
    pub fn from_status(status: StatusCode) -> Self {
        let (kind, code, message) = match status {
            StatusCode::NOT_FOUND => (ErrorType::InvalidRequestError, "resource_missing", "No such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                (ErrorType::InvalidRequestError, "method_not_allowed", "This method is not allowed on this route")
            }
            StatusCode::PAYLOAD_TOO_LARGE => return Self::payload_too_large(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (ErrorType::InvalidRequestError, "unsupported_media_type", "Unsupported Content-Type")
            }
            StatusCode::UNAUTHORIZED => (ErrorType::AuthenticationError, "unauthenticated", "Authentication required"),
            StatusCode::FORBIDDEN => (ErrorType::PermissionError, "forbidden", "Not allowed"),
            StatusCode::TOO_MANY_REQUESTS => (ErrorType::RateLimitError, "rate_limited", "Too many requests"),
            s if s.is_client_error() => {
                (ErrorType::InvalidRequestError, "parameter_invalid", "The request could not be understood")
            }
            _ => (ErrorType::ApiError, "api_error", "An internal error occurred"),
        };
        Self::new(status, kind, code, message)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = current_request_id().unwrap_or_default();
        let client = match self {
            ApiError::Client(e) => *e,
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                match ApiError::from_status(StatusCode::INTERNAL_SERVER_ERROR) {
                    ApiError::Client(e) => *e,
                    ApiError::Internal(_) => unreachable!("from_status builds client errors"),
                }
            }
        };
        let body = Envelope {
            error: Body {
                kind: client.kind,
                code: client.code,
                message: &client.message,
                param: client.param.as_deref(),
                request_id,
                extra: &client.extra,
            },
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (client.status, [(header::CONTENT_TYPE, "application/json")], json).into_response();
        if let Some(seconds) = client.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
