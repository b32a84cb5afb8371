//! Tenants (`cli_`).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Db, now_ms};
use crate::domain::ids::new_id;
use crate::domain::validate::Metadata;

#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub contact_email: Option<String>,
    pub metadata: Metadata,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const COLUMNS: &str = "id, name, contact_email, metadata, created_at, updated_at";

pub fn from_row(row: &AnyRow) -> Result<Client, sqlx::Error> {
    Ok(Client {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        contact_email: row.try_get("contact_email")?,
        metadata: super::json_column(row, "metadata")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn insert(
    db: &Db,
    name: &str,
    contact_email: Option<&str>,
    metadata: &Metadata,
) -> Result<Client, sqlx::Error> {
    let now = now_ms();
    let client = Client {
        id: new_id("cli"),
        name: name.to_owned(),
        contact_email: contact_email.map(str::to_owned),
        metadata: metadata.clone(),
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO clients (id, name, contact_email, metadata, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&client.id)
    .bind(&client.name)
    .bind(&client.contact_email)
    .bind(super::to_json_text(&client.metadata))
    .bind(now)
    .bind(now)
    .execute(db.writer())
    .await?;
    Ok(client)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Client>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM clients WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// What a PATCH may change; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub contact_email: Option<Option<String>>,
    pub metadata: Option<Metadata>,
}

/// Applies the changes given (and only those); `None` when there is no such client.
pub async fn update(db: &Db, id: &str, changes: ClientChanges) -> Result<Option<Client>, sqlx::Error> {
    let mut patch = super::Patch::default();
    if let Some(name) = changes.name {
        patch.text("name", Some(name));
    }
    if let Some(email) = changes.contact_email {
        patch.text("contact_email", email);
    }
    if let Some(metadata) = &changes.metadata {
        patch.json("metadata", metadata);
    }
    if !patch.apply(db, "clients", "id", id, None).await? {
        return Ok(None);
    }
    get(db, id).await
}

pub enum Deleted {
    Yes,
    NotFound,
    InUse,
}

/// Deletes a client that has no payment accounts, with its dashboard users and their sign-in
/// sessions, in one transaction: when the client itself is not deleted (it has accounts, or an
/// account created meanwhile trips the foreign key), the transaction is dropped and nothing is.
pub async fn delete(db: &Db, id: &str) -> Result<Deleted, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    if db.backend() == Backend::Postgres {
        // The client's row, then its users' rows: a team change or a new user waits for this
        // change, and so does a sign-in's new session (their foreign-key checks), so none can be
        // added between the deletes below. SQLite's writes take turns already.
        sqlx::query("SELECT id FROM clients WHERE id = $1 FOR UPDATE").bind(id).execute(&mut *tx).await?;
        sqlx::query("SELECT id FROM dashboard_users WHERE client_id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "DELETE FROM dashboard_sessions WHERE user_id IN (SELECT id FROM dashboard_users WHERE client_id = $1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM dashboard_users WHERE client_id = $1").bind(id).execute(&mut *tx).await?;
    let done = sqlx::query(
        "DELETE FROM clients WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM payment_accounts WHERE client_id = $1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await;
    match done {
        Ok(d) if d.rows_affected() == 1 => {
            tx.commit().await?;
            Ok(Deleted::Yes)
        }
        Ok(_) => {
            drop(tx);
            Ok(if get(db, id).await?.is_some() { Deleted::InUse } else { Deleted::NotFound })
        }
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => Ok(Deleted::InUse),
        Err(e) => Err(e),
    }
}

/// Every tenant as a list's scope (the admin's).
pub fn listed() -> super::odata::Scope<'static> {
    super::odata::Scope::all("clients", COLUMNS)
}
