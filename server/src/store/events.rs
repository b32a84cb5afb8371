//! The transactional outbox: an event is written in the same transaction as the change it
//! reports, so there is never a change without its event, or an event without its change.

use serde::Serialize;
use sqlx::AnyConnection;

use super::{now_ms, to_json_text};
use crate::domain::event::EventType;
use crate::domain::ids::new_id;

/// Records `type` about `object` (the resource as the API shows it) for an account.
pub async fn record<T: Serialize>(
    conn: &mut AnyConnection,
    account_uid: &str,
    event_type: EventType,
    object: &T,
) -> Result<String, sqlx::Error> {
    let id = new_id("evt");
    sqlx::query("INSERT INTO events (id, account_uid, type, data, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(account_uid)
        .bind(event_type.as_str())
        .bind(to_json_text(object))
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(id)
}

/// Records several events about one account in one statement (in the order given).
pub async fn record_all(
    conn: &mut AnyConnection,
    account_uid: &str,
    items: &[(EventType, String)],
) -> Result<(), sqlx::Error> {
    if items.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let rows: Vec<String> = (0..items.len())
        .map(|i| format!("(${}, ${}, ${}, ${}, ${})", i * 5 + 1, i * 5 + 2, i * 5 + 3, i * 5 + 4, i * 5 + 5))
        .collect();
    let sql = format!("INSERT INTO events (id, account_uid, type, data, created_at) VALUES {}", rows.join(", "));
    let mut q = sqlx::query(&sql);
    // Ids sort in creation order within the same millisecond (events list by created_at, id).
    let base = new_id("evt");
    for (i, (kind, data)) in items.iter().enumerate() {
        q = q.bind(format!("{base}{i:02}")).bind(account_uid).bind(kind.as_str()).bind(data.as_str()).bind(now);
    }
    q.execute(conn).await?;
    Ok(())
}

/// JSON of a resource, for [`record_all`].
pub fn data<T: Serialize>(object: &T) -> String {
    to_json_text(object)
}
