//! The browser calls, with the credential in the Authorization header (never anywhere else).
//! JSON is miniserde's (see `crate::wire`). The network code is not generic: a call answers the
//! body's text and [`json`] reads it as the expected type, so the async machinery is compiled
//! once rather than once per answer type.

use gloo_net::http::{Method, RequestBuilder};
use leptos::prelude::{Action, GetValue, StoredValue};
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

/// A call made as a Leptos action: a POST (or a DELETE without body) to `tail`, with an
/// Idempotency-Key if it has one. `tag` comes back with the answer (what a quote was for).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Call {
    pub tail: String,
    pub body: Option<String>,
    pub key: Option<String>,
    pub tag: String,
}

/// The answer to a [`Call`], with its tag.
pub type Reply = (String, Answer);

/// A local action making [`Call`]s; its pending state is the spinner and the guard against a
/// second submit. Every action of the element has this one type, so Leptos compiles its action
/// code once (the element's size budget).
pub type CallAction = leptos::prelude::Action<Call, Reply>;

pub fn action(client: StoredValue<Client>) -> CallAction {
    Action::new_local(move |call: &Call| {
        let (client, call) = (client.get_value(), call.clone());
        async move {
            let method = if call.body.is_some() { Method::POST } else { Method::DELETE };
            (call.tag, client.call(method, &call.tail, call.body, call.key).await)
        }
    })
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
}
