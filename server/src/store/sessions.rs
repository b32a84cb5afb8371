//! Hosted sessions (`cs_`). Every state change is one conditional UPDATE on the current status
//! (and, where it matters, the version or the attempt that holds the session), so concurrent
//! requests and server processes can never both win.

use app::wire::LineItem;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::accounts::{self, Account};
use super::batch::Stmt;
use super::limits;
use super::{Backend, Db, amount_column, currency_column, enum_column, json_column, optional_amount, to_json_text};
use crate::auth::sealed;
use crate::config::MasterKey;
use crate::domain::account::{Branding, MethodType};
use crate::domain::limit::RateRule;
use crate::domain::money::{Amount, Currency};
use crate::domain::session::{AvsField, FraudSignals, FutureUsage, Layout, Locale, RiskLevel, SessionStatus};
use crate::domain::validate::Metadata;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub account_uid: String,
    pub status: SessionStatus,
    pub version: i64,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub line_items: Option<Vec<LineItem>>,
    pub tax_amount: Option<Amount>,
    pub shipping_amount: Option<Amount>,
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
    pub layout: Layout,
    pub allowed_methods: Vec<MethodType>,
    pub setup_future_usage: FutureUsage,
    pub required_avs_fields: Vec<AvsField>,
    pub locale: Locale,
    pub branding: Option<Branding>,
    pub fraud_signals: Option<FraudSignals>,
    pub metadata: Metadata,
    pub secret_hash: String,
    pub secret_sealed: String,
    pub confirm_attempts: i64,
    pub processing_attempt: Option<String>,
    pub processing_since: Option<i64>,
    pub challenge_satisfied: bool,
    pub payment_id: Option<String>,
    pub fee_amount: Option<Amount>,
    pub total_amount: Option<Amount>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

pub const MAX_CONFIRM_ATTEMPTS: i64 = 10;

impl Session {
    /// The status as of `now`: an active session past its expiry is expired, even before the
    /// expiry job has written it down.
    pub fn status_at(&self, now: i64) -> SessionStatus {
        if self.status == SessionStatus::Active && self.expires_at <= now {
            SessionStatus::Expired
        } else {
            self.status
        }
    }

    pub fn client_secret(&self, key: &MasterKey) -> anyhow::Result<String> {
        sealed::open_string(key, &secret_context(&self.id), &self.secret_sealed)
    }

    /// True when the customer must pass a challenge before confirming (`risk_level: high`).
    pub fn risk_demands_challenge(&self) -> bool {
        self.fraud_signals.as_ref().and_then(|f| f.risk_level) == Some(RiskLevel::High)
    }
}

pub fn secret_context(session_id: &str) -> String {
    format!("hosted_session.client_secret:{session_id}")
}

pub const COLUMNS: &str = "id, account_uid, status, version, amount, currency, description, reference, line_items, \
     tax_amount, shipping_amount, customer_id, customer_email, success_url, cancel_url, layout, allowed_methods, \
     setup_future_usage, required_avs_fields, locale, branding, fraud_signals, metadata, secret_hash, secret_sealed, \
     confirm_attempts, processing_attempt, processing_since, challenge_satisfied, payment_id, fee_amount, \
     total_amount, created_at, updated_at, expires_at, completed_at";

fn optional_json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<Option<T>, sqlx::Error> {
    match row.try_get::<Option<String>, _>(column)? {
        Some(text) => {
            serde_json::from_str(&text).map(Some).map_err(|e| sqlx::Error::Decode(format!("{column}: {e}").into()))
        }
        None => Ok(None),
    }
}

pub fn from_row(row: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: row.try_get("id")?,
        account_uid: row.try_get("account_uid")?,
        status: enum_column(row, "status")?,
        version: row.try_get("version")?,
        amount: amount_column(row, "amount")?,
        currency: currency_column(row, "currency")?,
        description: row.try_get("description")?,
        reference: row.try_get("reference")?,
        line_items: optional_json(row, "line_items")?,
        tax_amount: optional_amount(row, "tax_amount")?,
        shipping_amount: optional_amount(row, "shipping_amount")?,
        customer_id: row.try_get("customer_id")?,
        customer_email: row.try_get("customer_email")?,
        success_url: row.try_get("success_url")?,
        cancel_url: row.try_get("cancel_url")?,
        layout: enum_column(row, "layout")?,
        allowed_methods: json_column(row, "allowed_methods")?,
        setup_future_usage: enum_column(row, "setup_future_usage")?,
        required_avs_fields: json_column(row, "required_avs_fields")?,
        locale: enum_column(row, "locale")?,
        branding: optional_json(row, "branding")?,
        fraud_signals: optional_json(row, "fraud_signals")?,
        metadata: json_column(row, "metadata")?,
        secret_hash: row.try_get("secret_hash")?,
        secret_sealed: row.try_get("secret_sealed")?,
        confirm_attempts: row.try_get("confirm_attempts")?,
        processing_attempt: row.try_get("processing_attempt")?,
        processing_since: row.try_get("processing_since")?,
        challenge_satisfied: row.try_get::<i64, _>("challenge_satisfied")? != 0,
        payment_id: row.try_get("payment_id")?,
        fee_amount: optional_amount(row, "fee_amount")?,
        total_amount: optional_amount(row, "total_amount")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        expires_at: row.try_get("expires_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, s: &Session) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO hosted_sessions (id, account_uid, status, version, amount, currency, description, reference, \
         line_items, tax_amount, shipping_amount, customer_id, customer_email, success_url, cancel_url, layout, \
         allowed_methods, setup_future_usage, required_avs_fields, locale, branding, fraud_signals, metadata, \
         secret_hash, secret_sealed, created_at, updated_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
         $22, $23, $24, $25, $26, $27, $28)",
    )
    .bind(&s.id)
    .bind(&s.account_uid)
    .bind(s.status.as_str())
    .bind(s.version)
    .bind(s.amount.minor())
    .bind(s.currency.as_str())
    .bind(&s.description)
    .bind(&s.reference)
    .bind(s.line_items.as_ref().map(to_json_text))
    .bind(s.tax_amount.map(Amount::minor))
    .bind(s.shipping_amount.map(Amount::minor))
    .bind(&s.customer_id)
    .bind(&s.customer_email)
    .bind(&s.success_url)
    .bind(&s.cancel_url)
    .bind(s.layout.as_str())
    .bind(to_json_text(&s.allowed_methods))
    .bind(s.setup_future_usage.as_str())
    .bind(to_json_text(&s.required_avs_fields))
    .bind(s.locale.as_str())
    .bind(s.branding.as_ref().map(to_json_text))
    .bind(s.fraud_signals.as_ref().map(to_json_text))
    .bind(to_json_text(&s.metadata))
    .bind(&s.secret_hash)
    .bind(&s.secret_sealed)
    .bind(s.created_at)
    .bind(s.updated_at)
    .bind(s.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Session>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM hosted_sessions WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// A session with its payment account, in one read (every browser call needs both).
pub async fn get_with_account(db: &Db, id: &str) -> Result<Option<(Session, Account)>, sqlx::Error> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| accounts::select_with_account("hosted_sessions", COLUMNS));
    let Some(row) = sqlx::query(sql).bind(id).fetch_optional(db.pool()).await? else { return Ok(None) };
    Ok(Some((from_row(&row)?, accounts::from_columns(&row, accounts::JOINED)?)))
}

/// What a browser call's credential looks like before it is checked: the budget is spent by
/// [`get_with_account_spending`] only if the stored session agrees with all of it.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// SHA-256 of the presented credential ([`crate::auth::secrets::hash_secret`]).
    pub secret_hash: &'a str,
    /// The session named by the route's path.
    pub path_id: Option<&'a str>,
    /// The request's `Origin` (none: not sent), and the platform's own.
    pub origin: Option<&'a str>,
    pub public_origin: &'a str,
}

/// What [`get_with_account_spending`] learnt of the credential's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// One request was counted.
    Spent,
    /// The budget is used up: the seconds to wait.
    Refused { retry_after: u64 },
    /// Not asked (SQLite, whose budget lives in another file, or a credential the session did
    /// not accept): the caller takes it on its own.
    NotAsked,
}

/// A session with its account, and, on PostgreSQL, one request of its browser budget (keyed by
/// the session's id) taken in the same statement: one round trip instead of two. The budget is
/// spent only when the secret's hash, the path and the origin agree with the session, so a bad
/// guess spends none of it (the caller still checks each of them itself, in constant time where
/// it matters, and answers as before).
pub async fn get_with_account_spending(
    db: &Db,
    id: &str,
    presented: Presented<'_>,
    rule: RateRule,
    now: i64,
) -> Result<Option<(Session, Account, Budget)>, sqlx::Error> {
    if db.backend() != Backend::Postgres {
        return Ok(get_with_account(db, id).await?.map(|(s, a)| (s, a, Budget::NotAsked)));
    }
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    // $1 id (the budget's key), $2 now, $3 emission, $4 window (as in limits' take); $5 secret
    // hash, $6 path id, $7 origin, $8 the platform's origin. The last SELECT reads the limit row
    // as it was before this statement (every part sees one snapshot): the refusal's wait.
    let sql = SQL.get_or_init(|| {
        let asked = "CASE WHEN t.secret_hash = $5 AND t.id = $6 AND ($7::text IS NULL OR $7 = $8 \
             OR a.allowed_origins::jsonb @> jsonb_build_array($7::text)) THEN 1 ELSE 0 END AS budget_asked";
        let read = accounts::select_with_account_and("hosted_sessions", COLUMNS, Some(asked));
        format!(
            "WITH s AS ({read}), spent AS ({}) SELECT s.*, (SELECT count(*) FROM spent) AS budget_spent, \
             (SELECT tat FROM rate_limits WHERE key = $1) AS budget_tat FROM s",
            limits::take_where("s", "s.budget_asked = 1")
        )
    });
    let row = sqlx::query(sql)
        .bind(id)
        .bind(now)
        .bind(rule.emission_ms())
        .bind(rule.window_ms())
        .bind(presented.secret_hash)
        .bind(presented.path_id)
        .bind(presented.origin)
        .bind(presented.public_origin)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let budget = match (row.try_get::<i32, _>("budget_asked")?, row.try_get::<i64, _>("budget_spent")?) {
        (0, _) => Budget::NotAsked,
        (_, 0) => Budget::Refused { retry_after: rule.retry_after_secs_of(row.try_get("budget_tat")?, now) },
        _ => Budget::Spent,
    };
    Ok(Some((from_row(&row)?, accounts::from_columns(&row, accounts::JOINED)?, budget)))
}

pub async fn get_on(conn: &mut AnyConnection, id: &str) -> Result<Option<Session>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM hosted_sessions WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// The new values of a PATCH, written only if the session is still active at `version`.
pub struct AmountChange<'a> {
    pub amount: Amount,
    pub line_items: Option<&'a [LineItem]>,
    pub tax_amount: Option<Amount>,
    pub shipping_amount: Option<Amount>,
    pub description: Option<&'a str>,
    pub metadata: &'a Metadata,
}

/// The words of a session's move, which must be one [`SessionStatus::can_become`] allows.
fn step(from: SessionStatus, to: SessionStatus) -> (&'static str, &'static str) {
    assert!(from.can_become(to), "{from} → {to} is not a move a session makes");
    (from.as_str(), to.as_str())
}

/// Applies a PATCH computed from the session at `version`; bumps the version (older quotes go
/// stale). False when the session changed, left `active` or expired meanwhile.
pub async fn update_if_unchanged(
    db: &Db,
    id: &str,
    version: i64,
    now: i64,
    change: AmountChange<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE hosted_sessions SET amount = $1, line_items = $2, tax_amount = $3, shipping_amount = $4, \
         description = $5, metadata = $6, version = version + 1, updated_at = $7 \
         WHERE id = $8 AND version = $9 AND status = $10 AND expires_at > $7",
    )
    .bind(change.amount.minor())
    .bind(change.line_items.map(to_json_text))
    .bind(change.tax_amount.map(Amount::minor))
    .bind(change.shipping_amount.map(Amount::minor))
    .bind(change.description)
    .bind(to_json_text(change.metadata))
    .bind(now)
    .bind(id)
    .bind(version)
    .bind(SessionStatus::Active.as_str())
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// active → expired, if it is still active (and, when `only_if_due`, past its expiry).
pub async fn mark_expired(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
    only_if_due: bool,
) -> Result<bool, sqlx::Error> {
    let sql = if only_if_due {
        "UPDATE hosted_sessions SET status = $3, updated_at = $1 WHERE id = $2 AND status = $4 AND expires_at <= $1"
    } else {
        "UPDATE hosted_sessions SET status = $3, updated_at = $1, expires_at = $1 WHERE id = $2 AND status = $4"
    };
    let (from, to) = step(SessionStatus::Active, SessionStatus::Expired);
    let done = sqlx::query(sql).bind(now).bind(id).bind(to).bind(from).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// The status is a literal: the partial index `hosted_sessions_due` holds active sessions only,
/// and the planner uses it only when the query names the same status. Rows after `($3, $4)`
/// (expiry, id) only: a pass goes on past sessions it could not expire.
pub(crate) fn due_for_expiry_sql() -> String {
    format!(
        "SELECT id, expires_at FROM hosted_sessions WHERE status = '{}' AND expires_at <= $1 \
         AND (expires_at, id) > ($3, $4) ORDER BY expires_at, id LIMIT $2",
        SessionStatus::Active.as_str()
    )
}

/// The tables of what a session needs only while it can be paid: its fee quotes and its
/// challenge codes (a confirm's recovery reads its attempt's own copy of the quote).
const SESSION_DETAILS: [&str; 2] = ["fee_quotes", "challenges"];

/// Deletes up to `limit` rows of each of [`SESSION_DETAILS`] made before `before` whose session
/// is neither active nor processing (a session that can still be paid keeps its quotes and its
/// codes' wrong guesses, whatever their age). Their number.
pub async fn purge_details(db: &Db, before: i64, limit: i64) -> Result<u64, sqlx::Error> {
    let mut purged = 0;
    for table in SESSION_DETAILS {
        purged +=
            sqlx::query(&purge_details_sql(table)).bind(before).bind(limit).execute(db.writer()).await?.rows_affected();
    }
    Ok(purged)
}

/// By the table's `created_at` index; the sessions that can still be paid are found by primary key.
pub(crate) fn purge_details_sql(table: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE id IN (SELECT d.id FROM {table} d WHERE d.created_at < $1 AND NOT EXISTS \
         (SELECT 1 FROM hosted_sessions s WHERE s.id = d.session_id AND s.status IN ('{}', '{}')) LIMIT $2)",
        SessionStatus::Active.as_str(),
        SessionStatus::Processing.as_str()
    )
}

/// As [`due_for_expiry_sql`], for the partial index `hosted_sessions_processing`.
pub(crate) fn stuck_in_processing_sql() -> String {
    format!(
        "SELECT id, processing_attempt, processing_since FROM hosted_sessions WHERE status = '{}' \
         AND processing_since < $1 AND recover_at <= $3 ORDER BY processing_since LIMIT $2",
        SessionStatus::Processing.as_str()
    )
}

/// Where a pass over overdue sessions has got to: the last one's expiry and id.
pub type ExpiryCursor = (i64, String);

/// Sessions past their expiry that are still marked active, oldest first, after `after`.
pub async fn due_for_expiry(
    db: &Db,
    now: i64,
    after: Option<&ExpiryCursor>,
    limit: i64,
) -> Result<Vec<ExpiryCursor>, sqlx::Error> {
    let (at, id) = after.map(|(at, id)| (*at, id.as_str())).unwrap_or((i64::MIN, ""));
    let rows = sqlx::query(&due_for_expiry_sql()).bind(now).bind(limit).bind(at).bind(id).fetch_all(db.pool()).await?;
    rows.iter().map(|r| Ok::<_, sqlx::Error>((r.try_get(1)?, r.try_get(0)?))).collect()
}

/// The atomic claim of a confirm: active → processing, only if the session is active, not
/// expired, at the quoted version, and has attempts left. Counts the attempt. A new attempt is
/// due for recovery as soon as it is stuck, whatever back-off an earlier one had.
pub fn claim_for_confirm(id: &str, version: i64, attempt_id: &str, now: i64) -> Stmt {
    Stmt::new(
        "UPDATE hosted_sessions SET status = $6, processing_attempt = $1, processing_since = $2, \
         confirm_attempts = confirm_attempts + 1, updated_at = $2, recover_at = 0 \
         WHERE id = $3 AND status = $7 AND expires_at > $2 AND version = $4 AND confirm_attempts < $5",
    )
    .text(attempt_id)
    .int(now)
    .text(id)
    .int(version)
    .int(MAX_CONFIRM_ATTEMPTS)
    .text(step(SessionStatus::Active, SessionStatus::Processing).1)
    .text(SessionStatus::Active.as_str())
}

/// processing → completed, only for the attempt that holds the session (changes one row, or
/// none when another path finished the attempt). A session without a customer takes the one
/// its checkout created to save the method.
pub fn complete_stmt(
    id: &str,
    attempt_id: &str,
    payment_id: &str,
    fee_amount: Amount,
    total_amount: Amount,
    customer_id: Option<&str>,
    now: i64,
) -> Stmt {
    Stmt::new(
        "UPDATE hosted_sessions SET status = $7, payment_id = $1, fee_amount = $2, total_amount = $3, \
         completed_at = $4, updated_at = $4, processing_attempt = NULL, customer_id = COALESCE(customer_id, $9), \
         receipt_due_at = CASE WHEN customer_email IS NULL AND customer_id IS NULL THEN NULL ELSE $4 END \
         WHERE id = $5 AND status = $8 AND processing_attempt = $6",
    )
    .text(payment_id)
    .int(fee_amount.minor())
    .int(total_amount.minor())
    .int(now)
    .text(id)
    .text(attempt_id)
    .text(step(SessionStatus::Processing, SessionStatus::Completed).1)
    .text(SessionStatus::Processing.as_str())
    .opt_text(customer_id)
}

/// processing → active again (a decline, or an attempt the processor never saw), only for the
/// attempt that holds the session (changes one row, or none).
pub fn release_stmt(id: &str, attempt_id: &str, now: i64) -> Stmt {
    Stmt::new(
        "UPDATE hosted_sessions SET status = $4, processing_attempt = NULL, processing_since = NULL, updated_at = $1 \
         WHERE id = $2 AND status = $5 AND processing_attempt = $3",
    )
    .int(now)
    .text(id)
    .text(attempt_id)
    .text(step(SessionStatus::Processing, SessionStatus::Active).1)
    .text(SessionStatus::Processing.as_str())
}

/// [`release_stmt`] run by itself: true if it released the session.
pub async fn release(conn: &mut AnyConnection, id: &str, attempt_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    Ok(release_stmt(id, attempt_id, now).execute(conn).await? == 1)
}

/// A session held in `processing` (its confirm's process may have crashed).
#[derive(Debug, Clone)]
pub struct Stuck {
    pub id: String,
    pub attempt_id: String,
    pub processing_since: i64,
}

/// Sessions held in `processing` since before `before` whose recovery is due at `now`, the
/// longest held first.
pub async fn stuck_in_processing(db: &Db, before: i64, now: i64, limit: i64) -> Result<Vec<Stuck>, sqlx::Error> {
    let rows = sqlx::query(&stuck_in_processing_sql()).bind(before).bind(limit).bind(now).fetch_all(db.pool()).await?;
    rows.iter()
        .filter_map(|r| {
            let read = || -> Result<Option<Stuck>, sqlx::Error> {
                let Some(attempt_id) = r.try_get::<Option<String>, _>(1)? else { return Ok(None) };
                Ok(Some(Stuck {
                    id: r.try_get(0)?,
                    attempt_id,
                    processing_since: r.try_get::<Option<i64>, _>(2)?.unwrap_or(before),
                }))
            };
            read().transpose()
        })
        .collect()
}

/// Completed sessions whose receipt is due at `now` (`id`, when due, when completed), the
/// longest due first. Reads the partial index of sessions with a receipt to send.
pub(crate) fn receipts_due_sql() -> &'static str {
    "SELECT id, receipt_due_at, completed_at FROM hosted_sessions \
     WHERE receipt_due_at IS NOT NULL AND receipt_due_at <= $1 ORDER BY receipt_due_at LIMIT $2"
}

pub async fn receipts_due(db: &Db, now: i64, limit: i64) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let rows = sqlx::query(receipts_due_sql()).bind(now).bind(limit).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get::<Option<i64>, _>(2)?.unwrap_or_default())))
        .collect()
}

/// Takes a due receipt for sending (one process wins; `due_at` as [`receipts_due`] read it):
/// it is due again at `lease_until`, so that a process that dies before its send is done leaves
/// it to another.
pub async fn claim_receipt(db: &Db, id: &str, due_at: i64, lease_until: i64) -> Result<bool, sqlx::Error> {
    move_receipt(db, id, due_at, Some(lease_until)).await
}

/// Moves a receipt due at `from` (as its taker left it) to due at `to`, or to due no more: a
/// claim, a retry, or the end of one. Changes nothing when another process took it meanwhile
/// (its lease ran out), and says whether it moved.
pub async fn move_receipt(db: &Db, id: &str, from: i64, to: Option<i64>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE hosted_sessions SET receipt_due_at = $3 WHERE id = $1 AND receipt_due_at = $2")
        .bind(id)
        .bind(from)
        .bind(to)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a stuck session's next recovery off until `at`, while the same attempt still holds it
/// (a later attempt, claimed meanwhile, keeps its own schedule).
pub async fn defer_recovery(db: &Db, id: &str, attempt_id: &str, at: i64) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE hosted_sessions SET recover_at = $1 WHERE id = $2 AND status = '{}' AND processing_attempt = $3",
        SessionStatus::Processing.as_str()
    );
    sqlx::query(&sql).bind(at).bind(id).bind(attempt_id).execute(db.writer()).await?;
    Ok(())
}

pub async fn mark_challenge_satisfied(db: &Db, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE hosted_sessions SET challenge_satisfied = 1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// An account's hosted sessions as a list's scope, each with the status it shows at `now`: one
/// past its expiry is `expired` even before the expiry job has moved it, so a filter or an
/// order on `status` agrees with what each row shows (`Session::status_at`), and a list needs
/// no expiry pass of its own.
pub fn listed(account_uid: &str, now: i64) -> super::odata::Scope<'static> {
    static SHOWN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "(SELECT {}, CASE WHEN status = '{}' AND expires_at <= $2 THEN '{}' ELSE status END AS status \
             FROM hosted_sessions WHERE account_uid = $1) AS hosted_sessions",
            COLUMNS.replacen("status, ", "", 1),
            SessionStatus::Active.as_str(),
            SessionStatus::Expired.as_str()
        )
    });
    super::odata::Scope {
        table: SHOWN.as_str(),
        columns: COLUMNS,
        condition: "",
        binds: vec![super::Bind::Text(account_uid.to_owned()), super::Bind::Int(now)],
    }
}
