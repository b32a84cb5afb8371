//! Idempotency: the claim a request's `Idempotency-Key` makes on a key space, and the answer
//! it stores, so a retry gets the first answer byte for byte (SPEC §4, §5, §7).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::auth::sealed;
use crate::config::MasterKey;
use crate::error::{ApiError, ErrorCode};
use crate::extract::parse_json_value;
use crate::store::batch::Stmt;
use crate::store::idempotency::Print;
use crate::store::{Db, idempotency};
use crate::telemetry::REQUEST_ID_HEADER;

/// What identifies "the same request": method, path and the body with its keys sorted. Keyed
/// by the master key: the body may hold a card number, and a bare hash of it, kept beside the
/// card's brand, last 4 and expiry, could be searched out in minutes. Keys taken before this
/// was keyed hold the bare SHA-256, which still matches (`legacy`) for as long as such keys are
/// kept, so a retry across the upgrade replays instead of answering 422.
pub fn fingerprint(master: &MasterKey, method: &str, path: &str, body: &Value) -> Print {
    let request = format!("{method} {path}\n{}", canonical(body));
    let mut mac = Hmac::<Sha256>::new_from_slice(&master.0).expect("HMAC takes any key length");
    mac.update(b"govifi.idempotency.");
    mac.update(request.as_bytes());
    let legacy = hex::encode(Sha256::digest(request.as_bytes()));
    Print { current: hex::encode(mac.finalize().into_bytes()), legacy: Some(legacy) }
}

/// JSON with object keys sorted at every level, whatever order they arrived in.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> =
                keys.iter().map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&map[*k]))).collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// A request's idempotency key (or nothing, without the header) and whether it holds it.
#[derive(Debug)]
pub struct Idempotency {
    key: Option<Held>,
}

#[derive(Debug)]
struct Held {
    scope: String,
    key: String,
    fingerprint: Print,
    taken: AtomicBool,
    /// A recorded money movement now holds the key (see [`Idempotency::hand_to_operation`]).
    handed: AtomicBool,
}

/// The answer for a key this request cannot have: its first request's answer again, byte for
/// byte; 409 while that request runs; 422 when the key was used with another body.
fn refusal(claim: idempotency::Claim) -> Option<Response> {
    match claim {
        idempotency::Claim::New => None,
        idempotency::Claim::Replay { status, body, request_id } => {
            let mut response = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            // The answer names the request that produced it.
            if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                response.headers_mut().insert(REQUEST_ID_HEADER, id);
            }
            Some(response)
        }
        idempotency::Claim::Mismatch => Some(
            ApiError::new(ErrorCode::IdempotencyKeyReused, "This Idempotency-Key was used with a different request")
                .into_response(),
        ),
        idempotency::Claim::InProgress => Some(
            ApiError::new(
                ErrorCode::IdempotencyInProgress,
                "A request with this Idempotency-Key is still being processed; retry shortly",
            )
            .into_response(),
        ),
    }
}

impl Idempotency {
    fn held(scope: String, key: String, fingerprint: &Print, taken: bool) -> Self {
        Idempotency {
            key: Some(Held {
                scope,
                key,
                fingerprint: fingerprint.clone(),
                taken: AtomicBool::new(taken),
                handed: AtomicBool::new(false),
            }),
        }
    }

    /// Takes `key` in `scope` now; the `Err` is the answer when it cannot (see [`refusal`]).
    pub async fn claim(db: &Db, scope: String, key: Option<String>, fingerprint: &Print) -> Result<Self, Response> {
        let Some(key) = key else { return Ok(Idempotency { key: None }) };
        match idempotency::claim(db, &scope, &key, fingerprint).await {
            Ok(claim) => match refusal(claim) {
                Some(answer) => Err(answer),
                None => Ok(Self::held(scope, key, fingerprint, true)),
            },
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }

    /// Looks at `key` without taking it (the request takes it later, with [`Self::take_stmt`],
    /// inside the transaction that claims the work).
    pub async fn check(db: &Db, scope: String, key: Option<String>, fingerprint: &Print) -> Result<Self, Response> {
        let Some(key) = key else { return Ok(Idempotency { key: None }) };
        match idempotency::inspect(db, &scope, &key, fingerprint).await {
            Ok(claim) => match refusal(claim) {
                Some(answer) => Err(answer),
                None => Ok(Self::held(scope, key, fingerprint, false)),
            },
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }

    /// The statement that takes the key inside the caller's transaction, for its batch (none when
    /// there is no key, or it is already held). When it changed a row, [`Self::mark_taken`]; when not,
    /// another request holds the key: give up the transaction and answer [`Self::taken_elsewhere`].
    pub fn take_stmt(&self) -> Option<Stmt> {
        let h = self.key.as_ref().filter(|h| !h.taken.load(Ordering::SeqCst))?;
        Some(idempotency::take_stmt(&h.scope, &h.key, &h.fingerprint.current))
    }

    pub fn mark_taken(&self) {
        if let Some(h) = &self.key {
            h.taken.store(true, Ordering::SeqCst);
        }
    }

    /// After a write that would have taken this key wrote nothing: the answer if another
    /// request holds the key (read from what is committed), or `None` if the key is free (the
    /// write was refused for another reason).
    pub async fn held_elsewhere(&self, db: &Db) -> Result<Option<Response>, sqlx::Error> {
        let Some(h) = self.key.as_ref().filter(|h| !h.taken.load(Ordering::SeqCst)) else { return Ok(None) };
        Ok(refusal(idempotency::inspect(db, &h.scope, &h.key, &h.fingerprint).await?))
    }

    /// The answer when another request took the key first. A key that is free again (its
    /// holder gave it up, or has not committed yet) counts as in use: a retry will find out.
    pub async fn taken_elsewhere(&self, db: &Db) -> Result<Response, sqlx::Error> {
        let held = self.held_elsewhere(db).await?;
        Ok(held.unwrap_or_else(|| refusal(idempotency::Claim::InProgress).expect("in progress refuses")))
    }

    /// The answer already kept for the key this request holds (written by whoever finished its
    /// work first, when that was not this request), as its replay.
    pub async fn kept_answer(&self, db: &Db) -> Result<Option<Response>, sqlx::Error> {
        let Some(h) = self.key.as_ref().filter(|h| h.taken.load(Ordering::SeqCst)) else { return Ok(None) };
        Ok(match idempotency::inspect(db, &h.scope, &h.key, &h.fingerprint).await? {
            replay @ idempotency::Claim::Replay { .. } => refusal(replay),
            _ => None,
        })
    }

    /// No key at all (a request without the header).
    pub fn none() -> Self {
        Idempotency { key: None }
    }

    /// A key an earlier request took and handed to its work, for the process that finishes
    /// that work after the request is gone (confirm recovery): it writes the key's answer.
    pub fn resumed(scope: String, key: String) -> Self {
        // (Its print is never compared: this process only writes the key's answer.)
        Self::held(scope, key, &Print { current: String::new(), legacy: None }, true)
    }

    /// The key space and key this request names, held or not (recorded with work that a later
    /// process may finish, before the batch that takes the key runs).
    pub fn named_key(&self) -> Option<(String, String)> {
        self.key.as_ref().map(|h| (h.scope.clone(), h.key.clone()))
    }

    pub fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    /// The key space and key this request holds, for work that must answer it later (a money
    /// movement finished by recovery writes its answer there).
    pub fn held_key(&self) -> Option<(String, String)> {
        self.key.as_ref().filter(|h| h.taken.load(Ordering::SeqCst)).map(|h| (h.scope.clone(), h.key.clone()))
    }

    /// Gives the held key to a money movement whose operation (or a confirm whose attempt) is
    /// now committed: from here on whoever finishes that work (this request, or recovery after a
    /// crash, a processor that did not answer or a failed write) stores its answer, so the
    /// request never frees the key and a retry meanwhile is 409, never a second movement.
    pub fn hand_to_operation(&self) {
        if let Some(h) = self.key.as_ref().filter(|h| h.taken.load(Ordering::SeqCst)) {
            h.handed.store(true, Ordering::SeqCst);
        }
    }

    fn handed(&self) -> bool {
        self.key.as_ref().is_some_and(|h| h.handed.load(Ordering::SeqCst))
    }

    /// The answer for a request that ended in `err`. Refusals worth repeating for the same key
    /// (bad input, declines, a gone session, a key reused) are stored; conflicts, limits,
    /// internal errors and the step-up request free the key, so a retry runs again. A key handed
    /// to an operation is left as it is: the operation's end answers it.
    pub async fn conclude(&self, db: &Db, err: ApiError) -> Response {
        let code = err.code();
        let keep = matches!(code.status().as_u16(), 400 | 402 | 410 | 422) && code != ErrorCode::AuthenticationRequired;
        if !self.is_keyed() || self.handed() {
            return err.into_response();
        }
        if !keep {
            self.abandon(db).await;
            return err.into_response();
        }
        if let Err(e) = self.store_answer(db, err.status(), &err.body_text()).await {
            tracing::warn!(error = %e, "could not store an idempotent answer");
            self.abandon(db).await;
        }
        err.into_response()
    }

    /// Stores the answer in the transaction that makes the change it reports (the key is held).
    pub async fn finish(&self, conn: &mut AnyConnection, status: StatusCode, body: &str) -> Result<(), sqlx::Error> {
        if let Some(stmt) = self.finish_stmt(status, body) {
            stmt.execute(conn).await?;
        }
        Ok(())
    }

    /// [`Self::finish`] for an answer that carries a credential (a new session's
    /// `client_secret`): it is kept sealed under the master key, and [`opened`] restores it
    /// when the key replays it.
    pub async fn finish_sealed(
        &self,
        conn: &mut AnyConnection,
        master: &MasterKey,
        status: StatusCode,
        body: &str,
    ) -> Result<(), sqlx::Error> {
        let Some((scope, key)) = self.held_key() else { return Ok(()) };
        self.finish(conn, status, &sealed::seal(master, &answer_context(&scope, &key), body.as_bytes())).await
    }

    /// The statement that frees the held key, for the batch that ends its work with nothing
    /// worth repeating (none when no key is held).
    pub fn release_stmt(&self) -> Option<Stmt> {
        let h = self.key.as_ref().filter(|h| h.taken.load(Ordering::SeqCst))?;
        Some(idempotency::abandon_stmt(&h.scope, &h.key))
    }

    /// [`Idempotency::finish`]'s statement, for a batch (none when no key is held).
    pub fn finish_stmt(&self, status: StatusCode, body: &str) -> Option<Stmt> {
        let h = self.key.as_ref().filter(|h| h.taken.load(Ordering::SeqCst))?;
        let request_id = crate::telemetry::current_request_id().unwrap_or_default();
        Some(idempotency::finish_stmt(&h.scope, &h.key, status.as_u16(), body, &request_id))
    }

    /// Stores an answer given without any change (a refusal worth repeating for this key).
    pub async fn store_answer(&self, db: &Db, status: StatusCode, body: &str) -> Result<(), sqlx::Error> {
        let Some(h) = &self.key else { return Ok(()) };
        let request_id = crate::telemetry::current_request_id().unwrap_or_default();
        if h.taken.load(Ordering::SeqCst) {
            let mut conn = db.writer().acquire().await?;
            idempotency::finish(&mut conn, &h.scope, &h.key, status.as_u16(), body, &request_id).await
        } else {
            idempotency::answer_free(db, &h.scope, &h.key, &h.fingerprint.current, status.as_u16(), body, &request_id)
                .await
        }
    }

    /// Lets the key be used again (the request ended with nothing worth repeating).
    pub async fn abandon(&self, db: &Db) {
        if let Some(h) = self.key.as_ref().filter(|h| h.taken.load(Ordering::SeqCst))
            && let Err(e) = idempotency::abandon(db, &h.scope, &h.key).await
        {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
    }
}

/// Runs a request under its `Idempotency-Key` in `scope`: the key is claimed first (a retry gets
/// the first answer again, the same key with another body 422), then the body is read as `T`
/// and `run` does the work and keeps its answer for the key (in the transaction that makes its
/// change, where it has one); a refusal is kept or the key let go as [`Idempotency::conclude`]
/// says.
pub async fn keyed<T: DeserializeOwned, R: IntoResponse>(
    db: &Db,
    master: &MasterKey,
    scope: String,
    key: Option<String>,
    path: &str,
    raw: Value,
    run: impl AsyncFnOnce(T, &Idempotency) -> Result<R, ApiError>,
) -> Response {
    let print = fingerprint(master, "POST", path, &raw);
    let idempotency = match Idempotency::claim(db, scope, key, &print).await {
        Ok(i) => i,
        Err(replay) => return replay,
    };
    let result = match parse_json_value::<T>(raw) {
        Ok(request) => run(request, &idempotency).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(answer) => answer.into_response(),
        Err(e) => idempotency.conclude(db, e).await,
    }
}

/// What a sealed answer is bound to: its key in its key space.
fn answer_context(scope: &str, key: &str) -> String {
    format!("idempotency:{scope}:{key}")
}

/// A replayed answer as it was first given: one kept sealed ([`Idempotency::finish_sealed`]) is
/// opened (an answer that does not open is a server error, never the sealed text).
pub async fn opened(replay: Response, master: &MasterKey, scope: &str, key: &str) -> Response {
    let (parts, body) = replay.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let Ok(text) = std::str::from_utf8(&bytes) else { return Response::from_parts(parts, bytes.into()) };
    if !sealed::is_sealed(text) {
        return Response::from_parts(parts, bytes.into());
    }
    match sealed::open_string(master, &answer_context(scope, key), text) {
        Ok(plain) => Response::from_parts(parts, plain.into()),
        Err(e) => ApiError::Internal(e.context("opening a kept idempotent answer")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_same_request_in_another_key_order_has_the_same_fingerprint() {
        let a = json!({"amount": 5, "card": {"b": 1, "a": [1, {"y": 2, "x": 1}]}});
        let b: Value = serde_json::from_str(r#"{"card":{"a":[1,{"x":1,"y":2}],"b":1},"amount":5}"#).unwrap();
        let key = MasterKey::generate();
        assert_eq!(fingerprint(&key, "POST", "/x", &a), fingerprint(&key, "POST", "/x", &b));
        assert_ne!(fingerprint(&key, "POST", "/x", &a), fingerprint(&key, "POST", "/y", &a));
        assert_ne!(fingerprint(&key, "POST", "/x", &a), fingerprint(&key, "POST", "/x", &json!({"amount": 6})));
        // Keyed: another installation's key gives another print; the bare hash a key taken
        // before the upgrade holds still matches.
        let print = fingerprint(&key, "POST", "/x", &a);
        assert_ne!(print.current, fingerprint(&MasterKey::generate(), "POST", "/x", &a).current);
        let bare = hex::encode(Sha256::digest(format!("POST /x\n{}", canonical(&a)).as_bytes()));
        assert_eq!(print.legacy.as_deref(), Some(bare.as_str()));
    }
}
