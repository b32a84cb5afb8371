//! `Json<T>`: axum's JSON extractor, but every rejection answers SPEC §2's error object.
//!
//! - body over the limit → 413 `payload_too_large`
//! - not JSON at all → 400 `invalid_json`
//! - a property the type does not know (types use `deny_unknown_fields`) → 400 `unknown_field`,
//!   `param` naming it with its path (`payment_method.card.pin`)
//! - a required property missing → 400 `parameter_missing`; a wrong type or value → 400
//!   `parameter_invalid`, each with `param`

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// Request and response bodies: 64 KiB at most (SPEC §2).
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// The body's bytes, refused unless it is JSON (or has no content type) and within the limit.
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        // The media type without its parameters: `application/json` or a `+json` suffix
        // (RFC 6839), never a longer name that merely begins alike (`application/jsonp`).
        let ct = content_type.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        let is_json = essence == "application/json"
            || essence
                .strip_prefix("application/")
                .is_some_and(|subtype| subtype.len() > 5 && subtype.ends_with("+json"));
        if !is_json {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "Send the body as application/json"));
        }
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            ApiError::new(ErrorCode::InvalidJson, "The request body could not be read")
        }
    })
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse(&read_body(req, state).await?).map(Json)
    }
}

/// A JSON object body that may also be left out entirely (actions whose fields are all
/// optional, such as a capture of the whole authorization): no body reads as `{}`.
#[derive(Debug, Clone)]
pub struct OptionalBody(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for OptionalBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(serde_json::Value::Object(Default::default())));
        }
        parse(&bytes).map(OptionalBody)
    }
}

/// The body of an action that takes no fields (expire, rotate, test, redeliver, send a code):
/// none, or `{}`. A property is refused as every body's unknown property is (400
/// `unknown_field`), so a caller who sent one (`{"webhook_id": …}` to a redelivery that goes to
/// every subscription) learns it was not read. A keyed action reads it from the body it has
/// already parsed (`Deserialize`).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

impl<S: Send + Sync> FromRequest<S> for NoFields {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let OptionalBody(value) = OptionalBody::from_request(req, state).await?;
        from_value(value)
    }
}

/// Parses a JSON body into `T`, mapping serde's errors onto the spec's codes.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > BODY_LIMIT {
        return Err(ApiError::payload_too_large());
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        classify(&path, &inner)
    })?;
    if let Some(param) = nul_in(bytes) {
        return Err(ApiError::invalid(&param, format!("{param} may not contain the NUL character (U+0000)")));
    }
    Ok(value)
}

/// Where a JSON text holds a string with U+0000 (which PostgreSQL's text cannot keep): the
/// path of the first such value, as serde names paths (`line_items[0].name`). Cheap when the
/// text has no backslash at all, as nearly every body.
fn nul_in(bytes: &[u8]) -> Option<String> {
    let escaped = |i: usize| bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1;
    let found = bytes.contains(&b'\\')
        && bytes.windows(6).enumerate().any(|(i, w)| w.eq_ignore_ascii_case(b"\\u0000") && !escaped(i));
    if !found {
        return None;
    }
    fn walk(v: &serde_json::Value, path: &str) -> Option<String> {
        let at = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
        match v {
            serde_json::Value::String(s) if s.contains('\0') => Some(path.to_owned()),
            serde_json::Value::Array(items) => {
                items.iter().enumerate().find_map(|(i, item)| walk(item, &format!("{path}[{i}]")))
            }
            serde_json::Value::Object(map) => {
                map.iter().find_map(
                    |(k, item)| {
                        if k.contains('\0') { Some(at(&k.replace('\0', ""))) } else { walk(item, &at(k)) }
                    },
                )
            }
            _ => None,
        }
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    walk(&value, "").map(|p| if p.is_empty() { "body".to_owned() } else { p })
}

/// Reads an already-parsed JSON value into `T`, with the same error mapping.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        classify(&path, &inner)
    })
}

fn classify(path: &str, err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let message = strip_position(&err.to_string());
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::new(ErrorCode::InvalidJson, format!("The body is not valid JSON: {message}"))
        }
        Category::Data => {
            // serde_path_to_error's path is "." at the top level.
            let at = |field: &str| {
                if path.is_empty() || path == "." { field.to_owned() } else { format!("{path}.{field}") }
            };
            if let Some(field) = backticked(&message, "unknown field `") {
                // The path already ends at the unknown property.
                let param =
                    if path == field || path.ends_with(&format!(".{field}")) { path.to_owned() } else { at(&field) };
                ApiError::new(ErrorCode::UnknownField, format!("Unknown property: {param}")).with_param(param)
            } else if let Some(field) = backticked(&message, "missing field `") {
                ApiError::missing(at(&field))
            } else if path.is_empty() || path == "." {
                ApiError::new(
                    ErrorCode::ParameterInvalid,
                    format!("The body has the wrong shape: {}", without_value(&message)),
                )
            } else {
                ApiError::invalid(path, format!("{path}: {}", without_value(&message)))
            }
        }
    }
}

/// serde quotes the value it refused (``invalid type: integer `4242…`, expected a string``); a
/// card number or CVC sent as a number would be echoed, and a keyed request's refusal is kept
/// as its answer. Only the kind of value and what was expected are said.
fn without_value(message: &str) -> String {
    let Some(cut) = message.rfind(", expected ") else { return message.to_owned() };
    let (head, tail) = message.split_at(cut);
    match head.find(['`', '"']) {
        Some(quote) => format!("{}{tail}", head[..quote].trim_end()),
        None => message.to_owned(),
    }
}

/// The name in ``prefix`name` ...`` from a serde message.
fn backticked(message: &str, prefix: &str) -> Option<String> {
    // serde starts these messages with the prefix; found elsewhere, it is inside a refused value.
    let rest = message.strip_prefix(prefix)?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// serde_json appends " at line 1 column 7"; the caller sees `param` instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Card {
        number: String,
        exp_month: u8,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        amount: i64,
        card: Option<Card>,
    }

    fn code_and_param(body: &str) -> (String, Option<String>) {
        match parse::<Body>(body.as_bytes()).unwrap_err() {
            ApiError::Client(e) => (e.code.as_str().to_owned(), e.param),
            ApiError::Internal(e) => panic!("internal: {e}"),
        }
    }

    #[test]
    fn a_refused_value_is_not_repeated() {
        let message = |body: &str| match parse::<Body>(body.as_bytes()).unwrap_err() {
            ApiError::Client(e) => e.message,
            ApiError::Internal(e) => panic!("internal: {e}"),
        };
        let m = message(r#"{"amount":1,"card":{"number":4242424242424242,"exp_month":1}}"#);
        assert_eq!(m, "card.number: invalid type: integer, expected a string");
        let m = message(r#"{"amount":"4242424242424242, expected x"}"#);
        assert!(!m.contains("4242"), "{m}");
        assert!(m.ends_with("expected i64"), "{m}");
        // A value that reads like serde's own message is still only a value.
        let m = message(r#"{"amount":"unknown field `4242424242424242`"}"#);
        assert!(!m.contains("4242"), "{m}");
        assert_eq!(
            code_and_param(r#"{"amount":"missing field `4242`"}"#),
            ("parameter_invalid".into(), Some("amount".into()))
        );
        // Messages that quote no value are kept whole.
        assert_eq!(without_value("invalid length 3, expected 2 elements"), "invalid length 3, expected 2 elements");
        assert_eq!(
            without_value("unknown variant `cash`, expected one of `card`, `ach`"),
            "unknown variant, expected one of `card`, `ach`"
        );
    }

    #[test]
    fn maps_serde_errors_to_spec_codes_with_params() {
        assert_eq!(code_and_param("{\"amount\": 1,"), ("invalid_json".into(), None));
        assert_eq!(code_and_param("not json"), ("invalid_json".into(), None));
        assert_eq!(code_and_param(r#"{"amount":1,"colour":"red"}"#), ("unknown_field".into(), Some("colour".into())));
        assert_eq!(
            code_and_param(r#"{"amount":1,"card":{"number":"4242","exp_month":1,"pin":"1"}}"#),
            ("unknown_field".into(), Some("card.pin".into()))
        );
        assert_eq!(code_and_param(r#"{}"#), ("parameter_missing".into(), Some("amount".into())));
        assert_eq!(code_and_param(r#"{"amount":"ten"}"#), ("parameter_invalid".into(), Some("amount".into())));
        assert_eq!(
            code_and_param(r#"{"amount":1,"card":{"number":"4242","exp_month":300}}"#),
            ("parameter_invalid".into(), Some("card.exp_month".into()))
        );
        assert_eq!(code_and_param("[1,2]").0, "parameter_invalid");
        assert_eq!(
            code_and_param(r#"{"amount":1,"card":{"number":4242424242424242,"exp_month":1}}"#),
            ("parameter_invalid".into(), Some("card.number".into()))
        );
        assert!(parse::<Body>(br#"{"amount": 5}"#).is_ok());
    }
}
