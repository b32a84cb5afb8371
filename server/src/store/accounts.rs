//! Payment accounts (`pa_`): one merchant configuration.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Db, json_column, now_ms, to_json_text};
use crate::auth::sealed;
use crate::config::MasterKey;
use crate::domain::account::{Branding, FeeRule, MethodType, ProcessorConfig};
use crate::domain::ids::new_id;
use crate::domain::money::Currency;
use crate::domain::validate::Metadata;

#[derive(Debug, Clone)]
pub struct Account {
    pub uid: String,
    pub client_id: String,
    pub name: String,
    pub currency: Currency,
    pub processor_type: String,
    pub has_processor_credentials: bool,
    pub enabled_methods: Vec<MethodType>,
    pub fee_rules: Vec<FeeRule>,
    pub branding: Branding,
    pub allowed_origins: Vec<String>,
    pub statement_descriptor: Option<String>,
    pub reject_avs_mismatch: bool,
    pub metadata: Metadata,
    pub created_at: i64,
    pub updated_at: i64,
    /// The redirect signing secret, sealed under the master key.
    pub(crate) redirect_secret_sealed: String,
}

/// What creating an account takes (validated by the caller).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub client_id: String,
    pub name: String,
    pub currency: Currency,
    pub processor: ProcessorConfig,
    pub enabled_methods: Vec<MethodType>,
    pub fee_rules: Vec<FeeRule>,
    pub branding: Branding,
    pub allowed_origins: Vec<String>,
    pub statement_descriptor: Option<String>,
    pub reject_avs_mismatch: bool,
    pub metadata: Metadata,
}

pub const COLUMNS: &str = "uid, client_id, name, currency, processor_type, processor_credentials, enabled_methods, \
     fee_rules, branding, allowed_origins, statement_descriptor, reject_avs_mismatch, redirect_secret, metadata, \
     created_at, updated_at";

pub fn from_row(row: &AnyRow) -> Result<Account, sqlx::Error> {
    from_columns(row, "")
}

/// Where a row joined with its account ([`select_with_account`]) has the account's columns.
pub const JOINED: &str = "account_";

/// `SELECT` the row of `table` (its `columns`) whose `id` is `$1`, with its payment account
/// (`account_uid`) in the same statement: the account's columns are named `account_{column}`,
/// since both tables have columns of the same names. Read back with [`from_columns`]`(row,
/// JOINED)`.
pub fn select_with_account(table: &str, columns: &str) -> String {
    select_with_account_and(table, columns, None)
}

/// [`select_with_account`] with one more expression in the select list (e.g. `… AS name`).
pub fn select_with_account_and(table: &str, columns: &str, extra: Option<&str>) -> String {
    let own = columns.split(',').map(|c| format!("t.{}", c.trim())).collect::<Vec<_>>().join(", ");
    let account =
        COLUMNS.split(',').map(str::trim).map(|c| format!("a.{c} AS {JOINED}{c}")).collect::<Vec<_>>().join(", ");
    let extra = extra.map(|e| format!(", {e}")).unwrap_or_default();
    format!(
        "SELECT {own}, {account}{extra} FROM {table} t JOIN payment_accounts a ON a.uid = t.account_uid WHERE t.id = $1"
    )
}

/// An account read from columns named `{prefix}{column}` (see [`select_with_account`]).
pub fn from_columns(row: &AnyRow, prefix: &str) -> Result<Account, sqlx::Error> {
    let c = |name: &str| format!("{prefix}{name}");
    let currency: String = row.try_get(c("currency").as_str())?;
    Ok(Account {
        uid: row.try_get(c("uid").as_str())?,
        client_id: row.try_get(c("client_id").as_str())?,
        name: row.try_get(c("name").as_str())?,
        currency: Currency::parse(&currency)
            .ok_or_else(|| sqlx::Error::Decode(format!("stored currency {currency:?}").into()))?,
        processor_type: row.try_get(c("processor_type").as_str())?,
        has_processor_credentials: row.try_get::<Option<String>, _>(c("processor_credentials").as_str())?.is_some(),
        enabled_methods: json_column(row, &c("enabled_methods"))?,
        fee_rules: json_column(row, &c("fee_rules"))?,
        branding: json_column(row, &c("branding"))?,
        allowed_origins: json_column(row, &c("allowed_origins"))?,
        statement_descriptor: row.try_get(c("statement_descriptor").as_str())?,
        reject_avs_mismatch: row.try_get::<i64, _>(c("reject_avs_mismatch").as_str())? != 0,
        redirect_secret_sealed: row.try_get(c("redirect_secret").as_str())?,
        metadata: json_column(row, &c("metadata"))?,
        created_at: row.try_get(c("created_at").as_str())?,
        updated_at: row.try_get(c("updated_at").as_str())?,
    })
}

impl Account {
    /// The name customers see: the branding's, else the account's.
    pub fn display_name(&self) -> String {
        self.branding.display_name.clone().unwrap_or_else(|| self.name.clone())
    }

    /// The redirect signing secret, unsealed (for signing success redirects).
    pub fn redirect_secret(&self, key: &MasterKey) -> anyhow::Result<String> {
        sealed::open_string(key, &redirect_secret_context(&self.uid), &self.redirect_secret_sealed)
    }
}

/// `grs_` + 43 base64url characters (32 random bytes).
pub fn new_redirect_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("grs_{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn redirect_secret_context(uid: &str) -> String {
    format!("payment_account.redirect_secret:{uid}")
}

pub fn processor_credentials_context(uid: &str) -> String {
    format!("payment_account.processor_credentials:{uid}")
}

/// Creates an account; returns it with its redirect signing secret (shown once).
pub async fn insert(db: &Db, key: &MasterKey, new: NewAccount) -> Result<(Account, String), sqlx::Error> {
    let uid = new_id("pa");
    let now = now_ms();
    let secret = new_redirect_secret();
    let sealed_secret = sealed::seal(key, &redirect_secret_context(&uid), secret.as_bytes());
    let sealed_credentials = new.processor.credentials().map(|c| {
        sealed::seal(key, &processor_credentials_context(&uid), Value::Object(c.clone()).to_string().as_bytes())
    });
    sqlx::query(
        "INSERT INTO payment_accounts (uid, client_id, name, currency, processor_type, processor_credentials, \
         enabled_methods, fee_rules, branding, allowed_origins, statement_descriptor, reject_avs_mismatch, \
         redirect_secret, metadata, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&uid)
    .bind(&new.client_id)
    .bind(&new.name)
    .bind(new.currency.as_str())
    .bind(new.processor.kind())
    .bind(&sealed_credentials)
    .bind(to_json_text(&new.enabled_methods))
    .bind(to_json_text(&new.fee_rules))
    .bind(to_json_text(&new.branding))
    .bind(to_json_text(&new.allowed_origins))
    .bind(&new.statement_descriptor)
    .bind(new.reject_avs_mismatch as i64)
    .bind(&sealed_secret)
    .bind(to_json_text(&new.metadata))
    .bind(now)
    .bind(now)
    .execute(db.writer())
    .await?;
    let account = Account {
        uid,
        client_id: new.client_id,
        name: new.name,
        currency: new.currency,
        processor_type: new.processor.kind().to_owned(),
        has_processor_credentials: sealed_credentials.is_some(),
        enabled_methods: new.enabled_methods,
        fee_rules: new.fee_rules,
        branding: new.branding,
        allowed_origins: new.allowed_origins,
        statement_descriptor: new.statement_descriptor,
        reject_avs_mismatch: new.reject_avs_mismatch,
        metadata: new.metadata,
        created_at: now,
        updated_at: now,
        redirect_secret_sealed: sealed_secret,
    };
    Ok((account, secret))
}

pub async fn get(db: &Db, uid: &str) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payment_accounts WHERE uid = $1");
    let row = sqlx::query(&sql).bind(uid).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// The oldest payment account, if there is one (the master-key check opens its sealed secret).
pub async fn oldest(db: &Db) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payment_accounts ORDER BY created_at, uid LIMIT 1");
    let row = sqlx::query(&sql).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// A client's payment accounts, oldest first (the dashboard's account switcher).
pub async fn of_client(db: &Db, client_id: &str) -> Result<Vec<Account>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payment_accounts WHERE client_id = $1 ORDER BY created_at, uid");
    let rows = sqlx::query(&sql).bind(client_id).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// The uids of a client's payment accounts, on a transaction's connection.
pub async fn uids_of_client_on(conn: &mut AnyConnection, client_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT uid FROM payment_accounts WHERE client_id = $1 ORDER BY created_at, uid")
        .bind(client_id)
        .fetch_all(conn)
        .await
}

/// Every column a PATCH may change, given as the caller wants it stored.
#[derive(Debug, Default)]
pub struct AccountChanges {
    pub name: Option<String>,
    pub processor: Option<ProcessorConfig>,
    pub enabled_methods: Option<Vec<MethodType>>,
    pub fee_rules: Option<Vec<FeeRule>>,
    pub branding: Option<Branding>,
    pub allowed_origins: Option<Vec<String>>,
    pub statement_descriptor: Option<Option<String>>,
    pub reject_avs_mismatch: Option<bool>,
    pub metadata: Option<Metadata>,
}

/// Applies the changes (in the caller's transaction, beside the event that reports them) and
/// answers the account as it now reads there; `None` when there is no such account.
pub async fn update(
    conn: &mut AnyConnection,
    key: &MasterKey,
    uid: &str,
    changes: AccountChanges,
) -> Result<Option<Account>, sqlx::Error> {
    let mut patch = super::Patch::default();
    if let Some(name) = changes.name {
        patch.text("name", Some(name));
    }
    if let Some(processor) = &changes.processor {
        patch.text("processor_type", Some(processor.kind().to_owned()));
        let sealed = processor.credentials().map(|c| {
            sealed::seal(key, &processor_credentials_context(uid), Value::Object(c.clone()).to_string().as_bytes())
        });
        patch.text("processor_credentials", sealed);
    }
    if let Some(v) = &changes.enabled_methods {
        patch.json("enabled_methods", v);
    }
    if let Some(v) = &changes.fee_rules {
        patch.json("fee_rules", v);
    }
    if let Some(v) = &changes.branding {
        patch.json("branding", v);
    }
    if let Some(v) = &changes.allowed_origins {
        patch.json("allowed_origins", v);
    }
    if let Some(v) = changes.statement_descriptor {
        patch.text("statement_descriptor", v);
    }
    if let Some(v) = changes.reject_avs_mismatch {
        patch.int("reject_avs_mismatch", Some(v as i64));
    }
    if let Some(v) = &changes.metadata {
        patch.json("metadata", v);
    }
    if !patch.apply_on(conn, "payment_accounts", "uid", uid).await? {
        return Ok(None);
    }
    get_on(conn, uid).await
}

/// [`get`] on a transaction's connection (it sees the transaction's own changes).
pub async fn get_on(conn: &mut AnyConnection, uid: &str) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payment_accounts WHERE uid = $1");
    let row = sqlx::query(&sql).bind(uid).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// A new redirect signing secret (the old one stops verifying at once); returns it.
pub async fn rotate_redirect_secret(
    conn: &mut AnyConnection,
    key: &MasterKey,
    uid: &str,
) -> Result<Option<String>, sqlx::Error> {
    let secret = new_redirect_secret();
    let sealed_secret = sealed::seal(key, &redirect_secret_context(uid), secret.as_bytes());
    let done = sqlx::query("UPDATE payment_accounts SET redirect_secret = $1, updated_at = $2 WHERE uid = $3")
        .bind(sealed_secret)
        .bind(now_ms())
        .bind(uid)
        .execute(conn)
        .await?;
    Ok((done.rows_affected() == 1).then_some(secret))
}

/// Every payment account as a list's scope (the admin's).
pub fn listed() -> super::odata::Scope<'static> {
    super::odata::Scope::all("payment_accounts", COLUMNS)
}
