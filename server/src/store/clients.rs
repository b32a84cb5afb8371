//! Tenants (`cli_`).

use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, now_ms};
use crate::domain::ids::new_id;

#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub contact_email: Option<String>,
    pub metadata: Map<String, Value>,
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
    metadata: &Map<String, Value>,
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
    .bind(Value::Object(client.metadata.clone()).to_string())
    .bind(now)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(client)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Client>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM clients WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}
