//! The transactional outbox: an event is written in the same transaction as the change it
//! reports, so there is never a change without its event, or an event without its change.

use serde::Serialize;
use sqlx::AnyConnection;

use super::{now_ms, to_json_text};
use crate::domain::ids::new_id;

/// Records `type` about `object` (the resource as the API shows it) for an account.
pub async fn record<T: Serialize>(
    conn: &mut AnyConnection,
    account_uid: &str,
    event_type: &str,
    object: &T,
) -> Result<String, sqlx::Error> {
    let id = new_id("evt");
    sqlx::query("INSERT INTO events (id, account_uid, type, data, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(account_uid)
        .bind(event_type)
        .bind(to_json_text(object))
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(id)
}
