//! The browser calls, with the credential in the Authorization header (never anywhere else).

use gloo_net::http::{Request, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::{ErrorEnvelope, ErrorObject};

/// Why a call did not give the answer hoped for.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// No answer (offline, blocked by CORS, server down).
    Network,
    /// An answer in the spec's error shape.
    Api { status: u16, error: ErrorObject },
}

impl Failure {
    pub fn code(&self) -> &str {
        match self {
            Failure::Network => "network_error",
            Failure::Api { error, .. } => &error.code,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `https://checkout.example/v1/hosted-sessions/cs_…` (or a wallet session).
    pub base: String,
    pub credential: String,
}

impl Client {
    fn authorized(&self, builder: RequestBuilder) -> RequestBuilder {
        builder.header("Authorization", &format!("Bearer {}", self.credential))
    }

    async fn run<T: DeserializeOwned>(&self, request: Result<Request, gloo_net::Error>) -> Result<T, Failure> {
        let response = request.map_err(|_| Failure::Network)?.send().await.map_err(|_| Failure::Network)?;
        let status = response.status();
        let text = response.text().await.map_err(|_| Failure::Network)?;
        if (200..300).contains(&status) {
            let text = if text.is_empty() { "null" } else { &text };
            return serde_json::from_str(text).map_err(|_| Failure::Network);
        }
        match serde_json::from_str::<ErrorEnvelope>(&text) {
            Ok(envelope) => Err(Failure::Api { status, error: envelope.error }),
            Err(_) => Err(Failure::Network),
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, tail: &str) -> Result<T, Failure> {
        let request = self.authorized(Request::get(&format!("{}/{tail}", self.base))).build();
        self.run(request).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        tail: &str,
        body: &B,
        idempotency_key: Option<&str>,
    ) -> Result<T, Failure> {
        let mut builder = self.authorized(Request::post(&format!("{}/{tail}", self.base)));
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        self.run(builder.json(body)).await
    }

    pub async fn delete(&self, tail: &str) -> Result<(), Failure> {
        let request = self.authorized(Request::delete(&format!("{}/{tail}", self.base))).build();
        self.run::<Option<serde_json::Value>>(request).await.map(|_| ())
    }
}
