//! The API's error: the spec's codes, each with its status and type (SPEC §2), and the error a
//! rule answers with. How it is answered over HTTP is `crate::error`'s.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};

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

/// Every error code the API answers with. A code implies its HTTP status and `error.type`
/// (SPEC §2), so the three can never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // 400: bad input
    ParameterMissing,
    ParameterInvalid,
    UnknownField,
    InvalidJson,
    AmountMismatch,
    AmountTooLarge,
    InvalidOdata,
    InvalidRoutingNumber,
    InvalidCode,
    // 401
    Unauthenticated,
    // 402: the card was refused, before or at the processor
    CardDeclined,
    IncorrectNumber,
    InvalidExpiry,
    InvalidCvc,
    AuthenticationRequired,
    // 403
    InsufficientScope,
    OriginNotAllowed,
    AccountForbidden,
    SessionMismatch,
    Forbidden,
    // 404, 405
    ResourceMissing,
    MethodNotAllowed,
    // 409: state conflicts
    AlreadyConfirmed,
    ConfirmInProgress,
    QuoteStale,
    IdempotencyInProgress,
    InvalidState,
    ResourceInUse,
    // 410, 413, 415, 422, 429
    SessionExpired,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    RateLimited,
    // 501, 503, 500
    NotImplemented,
    ProcessorUnavailable,
    EmailUnavailable,
    ServiceUnavailable,
    ApiError,
}

impl ErrorCode {
    /// The error a failed payment's stored decline code answers with: a challenge the customer
    /// must pass (its decline code is this error's own code), or else a card decline.
    pub fn of_decline(decline_code: &str) -> ErrorCode {
        if decline_code == ErrorCode::AuthenticationRequired.as_str() {
            ErrorCode::AuthenticationRequired
        } else {
            ErrorCode::CardDeclined
        }
    }

    /// The code as the error object spells it.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            ParameterMissing => "parameter_missing",
            ParameterInvalid => "parameter_invalid",
            UnknownField => "unknown_field",
            InvalidJson => "invalid_json",
            AmountMismatch => "amount_mismatch",
            AmountTooLarge => "amount_too_large",
            InvalidOdata => "invalid_odata",
            InvalidRoutingNumber => "invalid_routing_number",
            InvalidCode => "invalid_code",
            Unauthenticated => "unauthenticated",
            CardDeclined => "card_declined",
            IncorrectNumber => "incorrect_number",
            InvalidExpiry => "invalid_expiry",
            InvalidCvc => "invalid_cvc",
            AuthenticationRequired => "authentication_required",
            InsufficientScope => "insufficient_scope",
            OriginNotAllowed => "origin_not_allowed",
            AccountForbidden => "account_forbidden",
            SessionMismatch => "session_mismatch",
            Forbidden => "forbidden",
            ResourceMissing => "resource_missing",
            MethodNotAllowed => "method_not_allowed",
            AlreadyConfirmed => "already_confirmed",
            ConfirmInProgress => "confirm_in_progress",
            QuoteStale => "quote_stale",
            IdempotencyInProgress => "idempotency_in_progress",
            InvalidState => "invalid_state",
            ResourceInUse => "resource_in_use",
            SessionExpired => "session_expired",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            IdempotencyKeyReused => "idempotency_key_reused",
            RateLimited => "rate_limited",
            NotImplemented => "not_implemented",
            ProcessorUnavailable => "processor_unavailable",
            EmailUnavailable => "email_unavailable",
            ServiceUnavailable => "service_unavailable",
            ApiError => "api_error",
        }
    }

    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            ParameterMissing | ParameterInvalid | UnknownField | InvalidJson | AmountMismatch | AmountTooLarge
            | InvalidOdata | InvalidRoutingNumber | InvalidCode => StatusCode::BAD_REQUEST,
            Unauthenticated => StatusCode::UNAUTHORIZED,
            CardDeclined | IncorrectNumber | InvalidExpiry | InvalidCvc | AuthenticationRequired => {
                StatusCode::PAYMENT_REQUIRED
            }
            InsufficientScope | OriginNotAllowed | AccountForbidden | SessionMismatch | Forbidden => {
                StatusCode::FORBIDDEN
            }
            ResourceMissing => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AlreadyConfirmed
            | ConfirmInProgress
            | QuoteStale
            | IdempotencyInProgress
            | InvalidState
            | ResourceInUse => StatusCode::CONFLICT,
            SessionExpired => StatusCode::GONE,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ProcessorUnavailable | EmailUnavailable | ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn kind(self) -> ErrorType {
        use ErrorCode::*;
        match self {
            Unauthenticated => ErrorType::AuthenticationError,
            InsufficientScope | OriginNotAllowed | AccountForbidden | SessionMismatch | Forbidden => {
                ErrorType::PermissionError
            }
            CardDeclined | IncorrectNumber | InvalidExpiry | InvalidCvc | AuthenticationRequired => {
                ErrorType::CardError
            }
            IdempotencyInProgress | IdempotencyKeyReused => ErrorType::IdempotencyError,
            RateLimited => ErrorType::RateLimitError,
            ProcessorUnavailable | EmailUnavailable | ServiceUnavailable | ApiError => ErrorType::ApiError,
            _ => ErrorType::InvalidRequestError,
        }
    }
}

/// Tests and logs compare codes with the spec's spelling.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 4xx answer: everything the error object shows, and nothing else.
#[derive(Debug, Clone)]
pub struct ClientError {
    pub code: ErrorCode,
    pub message: String,
    pub param: Option<String>,
    /// Extra members of the error object (`decline_code`, `attempts_remaining`, `payment_id`).
    pub extra: Map<String, Value>,
    /// Seconds for a `Retry-After` header (429s).
    pub retry_after: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{} {}: {}", .0.code.status(), .0.code, .0.message)]
    Client(Box<ClientError>),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Client(Box::new(ClientError {
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

    /// The spec code (`api_error` for internal errors).
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Client(e) => e.code,
            ApiError::Internal(_) => ErrorCode::ApiError,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    // --- The common cases, named as the spec names them. ---

    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ParameterInvalid, message).with_param(param)
    }

    pub fn missing(param: impl Into<String>) -> Self {
        let param = param.into();
        Self::new(ErrorCode::ParameterMissing, format!("{param} is required")).with_param(param)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::ResourceMissing, format!("No such {what}"))
    }

    /// 409 `invalid_state`: the object's status does not allow this.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidState, message)
    }

    pub fn session_expired(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::SessionExpired, message)
    }

    pub fn payload_too_large() -> Self {
        Self::new(ErrorCode::PayloadTooLarge, "The request body is larger than 64 KiB")
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self::new(ErrorCode::RateLimited, "Too many requests; retry later").with_retry_after(retry_after)
    }

    /// The error object a status would carry when something other than a handler (routing,
    /// axum's own rejections, a layer) refused the request.
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => (ErrorCode::ResourceMissing, "No such route"),
            StatusCode::METHOD_NOT_ALLOWED => (ErrorCode::MethodNotAllowed, "This method is not allowed on this route"),
            StatusCode::PAYLOAD_TOO_LARGE => return Self::payload_too_large(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (ErrorCode::UnsupportedMediaType, "Unsupported Content-Type"),
            StatusCode::UNAUTHORIZED => (ErrorCode::Unauthenticated, "Authentication required"),
            StatusCode::FORBIDDEN => (ErrorCode::Forbidden, "Not allowed"),
            StatusCode::TOO_MANY_REQUESTS => (ErrorCode::RateLimited, "Too many requests"),
            StatusCode::SERVICE_UNAVAILABLE => (ErrorCode::ServiceUnavailable, "The service is unavailable"),
            s if s.is_client_error() => (ErrorCode::ParameterInvalid, "The request could not be understood"),
            _ => (ErrorCode::ApiError, "An internal error occurred"),
        };
        Self::new(code, message)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        // The one input PostgreSQL refuses that the extractors may pass: U+0000 in text
        // (SQLSTATE 22021). It is the caller's text, so a 400 (SPEC §2: never a 5xx for input).
        if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("22021") {
            return ApiError::new(ErrorCode::ParameterInvalid, "Text may not contain the NUL character (U+0000)");
        }
        ApiError::Internal(e.into())
    }
}
