//! Saved payment methods (`pm_`): display details and the processor's sealed token.

use app::wire::SavedMethodView;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Db, enum_column, now_ms, optional_enum, to_json_text};
use crate::auth::sealed;
use crate::config::MasterKey;
use crate::domain::account::{Funding, MethodType};
use crate::domain::ids::new_id;
use crate::domain::payment::{Mandate, Usage};
use crate::domain::payment_method::MAX_SAVED_METHODS;
use crate::processor::Tokenized;

#[derive(Debug, Clone)]
pub struct SavedMethod {
    pub id: String,
    pub account_uid: String,
    pub customer_id: String,
    pub kind: MethodType,
    pub brand: Option<String>,
    pub last4: String,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub funding: Option<Funding>,
    pub bank_name: Option<String>,
    pub account_type: Option<String>,
    pub usage: Usage,
    pub fingerprint: String,
    /// What the customer accepted when saving it for use without them (`off_session`).
    pub mandate: Option<Mandate>,
    pub created_at: i64,
    processor_token: String,
}

pub const COLUMNS: &str = "id, account_uid, customer_id, type, brand, last4, exp_month, exp_year, funding, bank_name, \
                           account_type, usage, fingerprint, processor_token, mandate, created_at";

impl SavedMethod {
    /// A card whose expiry month has passed (`now` is (year, month)); banks do not expire.
    pub fn expired(&self, now: (u32, u32)) -> bool {
        match (self.exp_month, self.exp_year) {
            (Some(month), Some(year)) => (year, month) < (i64::from(now.0), i64::from(now.1)),
            _ => false,
        }
    }
}

fn token_context(id: &str) -> String {
    format!("payment_method.processor_token:{id}")
}

pub fn from_row(row: &AnyRow) -> Result<SavedMethod, sqlx::Error> {
    Ok(SavedMethod {
        id: row.try_get("id")?,
        account_uid: row.try_get("account_uid")?,
        customer_id: row.try_get("customer_id")?,
        kind: enum_column(row, "type")?,
        brand: row.try_get("brand")?,
        last4: row.try_get("last4")?,
        exp_month: row.try_get("exp_month")?,
        exp_year: row.try_get("exp_year")?,
        funding: optional_enum(row, "funding")?,
        bank_name: row.try_get("bank_name")?,
        account_type: row.try_get("account_type")?,
        usage: enum_column(row, "usage")?,
        fingerprint: row.try_get("fingerprint")?,
        processor_token: row.try_get("processor_token")?,
        mandate: row
            .try_get::<Option<String>, _>("mandate")?
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|e| sqlx::Error::Decode(format!("mandate: {e}").into()))?,
        created_at: row.try_get("created_at")?,
    })
}

impl SavedMethod {
    /// The processor's token, unsealed, for charging.
    pub fn processor_token(&self, key: &MasterKey) -> anyhow::Result<String> {
        sealed::open_string(key, &token_context(&self.id), &self.processor_token)
    }
}

pub struct NewSavedMethod<'a> {
    pub account_uid: &'a str,
    pub customer_id: &'a str,
    pub kind: MethodType,
    pub tokenized: &'a Tokenized,
    pub usage: Usage,
    pub fingerprint: String,
    pub mandate: Option<Mandate>,
}

/// Saves a method (inside the caller's transaction) for a customer of the account who is not
/// deleted: `None`, and nothing saved, when the customer is gone (deleted meanwhile) or has
/// [`MAX_SAVED_METHODS`] already. On PostgreSQL the customer's row is locked first, in a
/// statement of its own: the insert's count then reads after every racing save to the customer
/// has committed (a lock taken by the insert itself would leave its count on the snapshot from
/// before the wait, and two saves at once would both find room for one).
pub async fn insert(
    conn: &mut sqlx::AnyConnection,
    key: &MasterKey,
    new: NewSavedMethod<'_>,
) -> Result<Option<SavedMethod>, sqlx::Error> {
    let id = new_id("pm");
    let t = new.tokenized;
    let sealed_token = sealed::seal(key, &token_context(&id), t.token.as_bytes());
    let m = SavedMethod {
        id,
        account_uid: new.account_uid.to_owned(),
        customer_id: new.customer_id.to_owned(),
        kind: new.kind,
        brand: t.brand.clone(),
        last4: t.last4.clone(),
        exp_month: t.exp_month.map(i64::from),
        exp_year: t.exp_year.map(i64::from),
        funding: t.funding,
        bank_name: t.bank_name.clone(),
        account_type: t.account_type.clone(),
        usage: new.usage,
        fingerprint: new.fingerprint,
        mandate: new.mandate,
        created_at: now_ms(),
        processor_token: sealed_token,
    };
    // On PostgreSQL the customer stays locked until the insert commits, so a delete of the
    // customer waits and then detaches this method too (or, having committed first, leaves
    // nothing to insert under). SQLite's writes take turns already.
    if Backend::of_conn(conn) == Backend::Postgres {
        lock_customer(conn, &m.customer_id).await?;
    }
    let sql = "INSERT INTO payment_methods (id, account_uid, customer_id, type, brand, last4, exp_month, exp_year, \
               funding, bank_name, account_type, usage, fingerprint, processor_token, mandate, created_at) \
               SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 \
               WHERE EXISTS (SELECT 1 FROM customers WHERE id = $3 AND account_uid = $2 AND deleted_at IS NULL) \
               AND (SELECT COUNT(*) FROM payment_methods WHERE customer_id = $3 AND deleted_at IS NULL) < $17";
    let done = sqlx::query(sql)
        .bind(&m.id)
        .bind(&m.account_uid)
        .bind(&m.customer_id)
        .bind(m.kind.as_str())
        .bind(&m.brand)
        .bind(&m.last4)
        .bind(m.exp_month)
        .bind(m.exp_year)
        .bind(m.funding.map(Funding::as_str))
        .bind(&m.bank_name)
        .bind(&m.account_type)
        .bind(m.usage.as_str())
        .bind(&m.fingerprint)
        .bind(&m.processor_token)
        .bind(m.mandate.as_ref().map(to_json_text))
        .bind(m.created_at)
        .bind(MAX_SAVED_METHODS)
        .execute(conn)
        .await?;
    Ok((done.rows_affected() == 1).then_some(m))
}

pub async fn get(db: &Db, account_uid: &str, customer_id: &str, id: &str) -> Result<Option<SavedMethod>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payment_methods WHERE id = $1 AND customer_id = $2 AND account_uid = $3 AND deleted_at IS NULL"
    );
    let row = sqlx::query(&sql).bind(id).bind(customer_id).bind(account_uid).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// A live saved method of any customer of the account (autopay names the method alone).
pub async fn get_in_account(db: &Db, account_uid: &str, id: &str) -> Result<Option<SavedMethod>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM payment_methods WHERE id = $1 AND account_uid = $2 AND deleted_at IS NULL");
    let row = sqlx::query(&sql).bind(id).bind(account_uid).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// A customer's live saved methods, for an OData list.
pub fn live_listed(account_uid: &str, customer_id: &str) -> super::odata::Scope<'static> {
    super::odata::Scope {
        table: "payment_methods",
        columns: COLUMNS,
        condition: "customer_id = $1 AND account_uid = $2 AND deleted_at IS NULL",
        binds: vec![super::Bind::Text(customer_id.to_owned()), super::Bind::Text(account_uid.to_owned())],
    }
}

/// A customer's live saved methods, newest first.
pub async fn live(db: &Db, account_uid: &str, customer_id: &str) -> Result<Vec<SavedMethod>, sqlx::Error> {
    // The limit bounds what a racing save could add past the cap, too.
    let sql = format!(
        "SELECT {COLUMNS} FROM payment_methods WHERE customer_id = $1 AND account_uid = $2 AND deleted_at IS NULL \
         ORDER BY created_at DESC LIMIT $3"
    );
    let rows =
        sqlx::query(&sql).bind(customer_id).bind(account_uid).bind(MAX_SAVED_METHODS).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// How many methods the customer has saved, counted in the caller's transaction once it holds
/// the customer's row (on PostgreSQL; SQLite's writes take turns already), so that two saves at
/// once count each other.
pub async fn live_count_on(tx: &mut super::WriteTx, customer_id: &str) -> Result<i64, sqlx::Error> {
    if tx.backend() == Backend::Postgres {
        lock_customer(tx, customer_id).await?;
    }
    sqlx::query_scalar("SELECT COUNT(*) FROM payment_methods WHERE customer_id = $1 AND deleted_at IS NULL")
        .bind(customer_id)
        .fetch_one(&mut **tx)
        .await
}

/// PostgreSQL: the customer's row, locked until the transaction ends (saves to one customer take
/// turns; the lock lets foreign-key checks of the customer's other rows through).
async fn lock_customer(conn: &mut sqlx::AnyConnection, customer_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT id FROM customers WHERE id = $1 FOR NO KEY UPDATE").bind(customer_id).execute(conn).await?;
    Ok(())
}

/// What the paying customer may see of a saved method (checkout and wallet): brand, last 4,
/// expiry, bank; never the token, the fingerprint or the usage.
impl From<SavedMethod> for SavedMethodView {
    fn from(m: SavedMethod) -> Self {
        SavedMethodView {
            id: m.id,
            kind: m.kind,
            brand: m.brand,
            last4: m.last4,
            exp_month: m.exp_month,
            exp_year: m.exp_year,
            bank_name: m.bank_name,
            account_type: m.account_type,
        }
    }
}

/// Detaches every live method of a customer being deleted (in its transaction), returning them.
pub async fn detach_all(
    conn: &mut sqlx::AnyConnection,
    customer_id: &str,
    now: i64,
) -> Result<Vec<SavedMethod>, sqlx::Error> {
    let sql = format!(
        "UPDATE payment_methods SET deleted_at = $1 WHERE customer_id = $2 AND deleted_at IS NULL RETURNING {COLUMNS}"
    );
    let rows = sqlx::query(&sql).bind(now).bind(customer_id).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

/// Detaches a saved method (inside the caller's transaction); false if it was not there.
pub async fn remove(conn: &mut sqlx::AnyConnection, customer_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payment_methods SET deleted_at = $1 WHERE id = $2 AND customer_id = $3 AND deleted_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .bind(customer_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
