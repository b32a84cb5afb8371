//! Customers (`cus_`) of a payment account.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::odata::Scope;
use super::{Bind, Db, Patch, now_ms, to_json_text};
use crate::domain::ids::new_id;
use crate::domain::validate::Metadata;

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub account_uid: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub reference: Option<String>,
    pub metadata: Metadata,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const COLUMNS: &str = "id, account_uid, email, name, phone, reference, metadata, created_at, updated_at";

/// An account's customers (not deleted) as a list's scope.
pub fn listed(account_uid: &str) -> Scope<'static> {
    Scope::account_live("customers", COLUMNS, account_uid)
}

/// The dashboard's search: customers whose name, email or reference contains `text`, ignoring
/// case (unlike OData's `contains`, which is case-sensitive). The database lowers both sides,
/// so a letter it does not lower (SQLite lowers only ASCII) still matches itself.
pub fn matching(account_uid: &str, text: &str) -> Scope<'static> {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Scope {
        table: "customers",
        columns: COLUMNS,
        condition: "account_uid = $1 AND deleted_at IS NULL AND (LOWER(name) LIKE LOWER($2) ESCAPE '\\' \
                    OR LOWER(email) LIKE LOWER($2) ESCAPE '\\' OR LOWER(reference) LIKE LOWER($2) ESCAPE '\\')",
        binds: vec![Bind::Text(account_uid.to_owned()), Bind::Text(format!("%{escaped}%"))],
    }
}

pub fn from_row(row: &AnyRow) -> Result<Customer, sqlx::Error> {
    Ok(Customer {
        id: row.try_get("id")?,
        account_uid: row.try_get("account_uid")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        reference: row.try_get("reference")?,
        metadata: super::json_column(row, "metadata")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[derive(Debug, Default, Clone)]
pub struct NewCustomer {
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub reference: Option<String>,
    pub metadata: Metadata,
}

/// Inserts a customer on a connection (inside the caller's transaction).
pub async fn insert(
    conn: &mut sqlx::AnyConnection,
    account_uid: &str,
    new: NewCustomer,
) -> Result<Customer, sqlx::Error> {
    let now = now_ms();
    let c = Customer {
        id: new_id("cus"),
        account_uid: account_uid.to_owned(),
        email: new.email,
        name: new.name,
        phone: new.phone,
        reference: new.reference,
        metadata: new.metadata,
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO customers (id, account_uid, email, name, phone, reference, metadata, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&c.id)
    .bind(&c.account_uid)
    .bind(&c.email)
    .bind(&c.name)
    .bind(&c.phone)
    .bind(&c.reference)
    .bind(to_json_text(&c.metadata))
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(c)
}

/// A live customer of this account (another account's customer is simply not found).
pub async fn get(db: &Db, account_uid: &str, id: &str) -> Result<Option<Customer>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1 AND account_uid = $2 AND deleted_at IS NULL");
    let row = sqlx::query(&sql).bind(id).bind(account_uid).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

#[derive(Debug, Default)]
pub struct CustomerChanges {
    pub email: Option<Option<String>>,
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub reference: Option<Option<String>>,
    pub metadata: Option<Metadata>,
}

pub async fn update(
    db: &Db,
    account_uid: &str,
    id: &str,
    changes: CustomerChanges,
) -> Result<Option<Customer>, sqlx::Error> {
    if get(db, account_uid, id).await?.is_none() {
        return Ok(None);
    }
    let mut patch = Patch::default();
    for (column, value) in
        [("email", changes.email), ("name", changes.name), ("phone", changes.phone), ("reference", changes.reference)]
    {
        if let Some(v) = value {
            patch.text(column, v);
        }
    }
    if let Some(m) = &changes.metadata {
        patch.json("metadata", m);
    }
    patch.apply(db, "customers", "id", id, Some(("account_uid", super::Bind::Text(account_uid.to_owned())))).await?;
    get(db, account_uid, id).await
}

/// Marks a customer deleted and ends their wallet sessions, in the caller's transaction (which
/// detaches their saved methods too: [`super::payment_methods::detach_all`]); false if not found.
pub async fn delete(
    conn: &mut sqlx::AnyConnection,
    account_uid: &str,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE customers SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND account_uid = $3 AND deleted_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(account_uid)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    // Their wallet links end with them.
    sqlx::query("UPDATE wallet_sessions SET expires_at = $1 WHERE customer_id = $2 AND expires_at > $1")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}
