//! The browser calls, with the credential in the Authorization header (never anywhere else).
//! JSON is miniserde's (see `crate::wire`). The network code is not generic: a call answers the
//! body's text and [`json`] reads it as the expected type, so the async machinery is compiled
//! once rather than once per answer type.

use gloo_net::http::{Method, RequestBuilder};
use miniserde::{Deserialize, Serialize};

use crate::wire::{ErrorEnvelope, ErrorObject};

/// Why a call did not give the answer hoped for.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// No answer (offline, blocked by CORS, server down) or one we cannot read.
    Network,
    /// An answer in the spec's error shape.
    Api { status: u16, error: Box<ErrorObject> },
}

impl Failure {
    pub fn code(&self) -> &str {
        match self {
            Failure::Network => "network_error",
            Failure::Api { error, .. } => &error.code,
        }
    }
}

/// A successful answer's body, or why there is none.
pub type Answer = Result<String, Failure>;

/// JSON text of a value.
pub fn to_json<T: Serialize>(value: &T) -> String {
    miniserde::json::to_string(value)
}

/// The answer as the type the caller expects.
pub fn json<T: Deserialize>(answer: Answer) -> Result<T, Failure> {
    miniserde::json::from_str(&answer?).map_err(|_| Failure::Network)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `https://checkout.example/v1/hosted-sessions/cs_…` (or a wallet session).
    pub base: String,
    pub credential: String,
}

impl Client {
    async fn call(&self, method: Method, tail: &str, body: Option<String>, idempotency_key: Option<String>) -> Answer {
        let mut builder = RequestBuilder::new(&format!("{}/{tail}", self.base))
            .method(method)
            .header("Authorization", &format!("Bearer {}", self.credential));
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", &key);
        }
        let request = match body {
            Some(body) => builder.header("Content-Type", "application/json").body(body),
            None => builder.build(),
        };
        let response = request.map_err(|_| Failure::Network)?.send().await.map_err(|_| Failure::Network)?;
        let status = response.status();
        let text = response.text().await.map_err(|_| Failure::Network)?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        match miniserde::json::from_str::<ErrorEnvelope>(&text) {
            Ok(envelope) => Err(Failure::Api { status, error: Box::new(envelope.error) }),
            Err(_) => Err(Failure::Network),
        }
    }

    pub async fn get(&self, tail: &str) -> Answer {
        self.call(Method::GET, tail, None, None).await
    }

    /// A POST with a JSON body (`body` is JSON text, see [`to_json`]).
    pub async fn post(&self, tail: &str, body: String, idempotency_key: Option<String>) -> Answer {
        self.call(Method::POST, tail, Some(body), idempotency_key).await
    }

    pub async fn delete(&self, tail: &str) -> Answer {
        self.call(Method::DELETE, tail, None, None).await
    }
}
