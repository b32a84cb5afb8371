//! Payments (`pay_`) and their ledger of transactions.
//!
//! Every change of a payment is one conditional UPDATE whose `WHERE` holds the statuses the
//! change may start from (a [`Move`]) and, for money, the amounts it must fit in; a racing
//! writer — in this process or another — finds the row no longer matching and changes nothing.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::batch::Stmt;
use super::odata::Scope;
use super::{Bind, Db, amount_column, currency_column, enum_column, json_column, now_ms, to_json_text};
use crate::domain::account::MethodType;
use crate::domain::ids::new_id;
use crate::domain::money::{Amount, Currency};
use crate::domain::payment::{Consent, MethodDetails, Move, PaymentStatus, TransactionKind};
use crate::domain::time::Timestamp;
use crate::domain::validate::Metadata;

#[derive(Debug, Clone)]
pub struct Payment {
    pub id: String,
    pub account_uid: String,
    pub status: PaymentStatus,
    /// What the merchant asked for.
    pub amount: Amount,
    pub fee_amount: Amount,
    /// `amount` + `fee_amount`: what was authorized.
    pub total_amount: Amount,
    pub amount_captured: Amount,
    pub amount_refunded: Amount,
    /// Refunds sent to the processor and not yet recorded (reserved against what is left).
    pub refund_pending: Amount,
    pub currency: Currency,
    pub payment_method: MethodDetails,
    pub avs_result: Option<String>,
    pub decline_code: Option<String>,
    /// ACH: the return code (R01, R02, …) of a debit that came back.
    pub return_code: Option<String>,
    pub session_id: Option<String>,
    pub attempt_id: Option<String>,
    pub customer_id: Option<String>,
    pub terminal_id: Option<String>,
    pub processor: String,
    pub processor_ref: Option<String>,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub consent: Option<Consent>,
    /// The capture, void or terminal charge holding the payment while the processor works.
    pub pending_op: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Payment {
    /// A new payment with a fresh id, nothing captured or refunded (the caller fills in the rest).
    pub fn new(
        account_uid: &str,
        status: PaymentStatus,
        amount: Amount,
        currency: Currency,
        payment_method: MethodDetails,
        processor: &str,
    ) -> Payment {
        let now = now_ms();
        Payment {
            id: new_id("pay"),
            account_uid: account_uid.to_owned(),
            status,
            amount,
            fee_amount: Amount::ZERO,
            total_amount: amount,
            amount_captured: Amount::ZERO,
            amount_refunded: Amount::ZERO,
            refund_pending: Amount::ZERO,
            currency,
            payment_method,
            avs_result: None,
            decline_code: None,
            return_code: None,
            session_id: None,
            attempt_id: None,
            customer_id: None,
            terminal_id: None,
            processor: processor.to_owned(),
            processor_ref: None,
            reference: None,
            description: None,
            metadata: Metadata::new(),
            consent: None,
            pending_op: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// What may still be refunded: captured, less refunded and refunds under way.
    pub fn refundable(&self) -> Amount {
        self.amount_captured
            .checked_sub(self.amount_refunded)
            .and_then(|left| left.checked_sub(self.refund_pending))
            .unwrap_or_else(|| {
                // The conditional UPDATEs never let refunds pass the capture: a row that says
                // otherwise is broken, and nothing more is refunded from it.
                tracing::error!(payment = %self.id, "refunded and pending refunds exceed the capture");
                Amount::ZERO
            })
    }
}

pub const COLUMNS: &str = "id, account_uid, status, amount, fee_amount, total_amount, amount_captured, amount_refunded, \
     refund_pending, currency, payment_method, avs_result, decline_code, return_code, session_id, attempt_id, \
     customer_id, terminal_id, processor, processor_ref, reference, description, metadata, consent, pending_op, \
     created_at, updated_at";

pub fn from_row(row: &AnyRow) -> Result<Payment, sqlx::Error> {
    let consent: Option<String> = row.try_get("consent")?;
    Ok(Payment {
        id: row.try_get("id")?,
        account_uid: row.try_get("account_uid")?,
        status: enum_column(row, "status")?,
        amount: amount_column(row, "amount")?,
        fee_amount: amount_column(row, "fee_amount")?,
        total_amount: amount_column(row, "total_amount")?,
        amount_captured: amount_column(row, "amount_captured")?,
        amount_refunded: amount_column(row, "amount_refunded")?,
        refund_pending: amount_column(row, "refund_pending")?,
        currency: currency_column(row, "currency")?,
        payment_method: json_column(row, "payment_method")?,
        avs_result: row.try_get("avs_result")?,
        decline_code: row.try_get("decline_code")?,
        return_code: row.try_get("return_code")?,
        session_id: row.try_get("session_id")?,
        attempt_id: row.try_get("attempt_id")?,
        customer_id: row.try_get("customer_id")?,
        terminal_id: row.try_get("terminal_id")?,
        processor: row.try_get("processor")?,
        processor_ref: row.try_get("processor_ref")?,
        reference: row.try_get("reference")?,
        description: row.try_get("description")?,
        metadata: json_column(row, "metadata")?,
        consent: consent.map(|c| serde_json::from_str(&c)).transpose().map_err(|e| sqlx::Error::Decode(e.into()))?,
        pending_op: row.try_get("pending_op")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, p: &Payment) -> Result<(), sqlx::Error> {
    insert_stmt(p).execute(conn).await?;
    Ok(())
}

/// The INSERT of a new payment, to run alone or in a batch.
pub fn insert_stmt(p: &Payment) -> Stmt {
    let placeholders: Vec<String> = (1..=28).map(|i| format!("${i}")).collect();
    Stmt::new(format!("INSERT INTO payments ({COLUMNS}, method_type) VALUES ({})", placeholders.join(", ")))
        .text(&p.id)
        .text(&p.account_uid)
        .text(p.status.as_str())
        .int(p.amount.minor())
        .int(p.fee_amount.minor())
        .int(p.total_amount.minor())
        .int(p.amount_captured.minor())
        .int(p.amount_refunded.minor())
        .int(p.refund_pending.minor())
        .text(p.currency.as_str())
        .text(to_json_text(&p.payment_method))
        .opt_text(p.avs_result.as_deref())
        .opt_text(p.decline_code.as_deref())
        .opt_text(p.return_code.as_deref())
        .opt_text(p.session_id.as_deref())
        .opt_text(p.attempt_id.as_deref())
        .opt_text(p.customer_id.as_deref())
        .opt_text(p.terminal_id.as_deref())
        .text(&p.processor)
        .opt_text(p.processor_ref.as_deref())
        .opt_text(p.reference.as_deref())
        .opt_text(p.description.as_deref())
        .text(to_json_text(&p.metadata))
        .opt_text(p.consent.as_ref().map(to_json_text))
        .opt_text(p.pending_op.as_deref())
        .int(p.created_at)
        .int(p.updated_at)
        .text(p.payment_method.kind.as_str())
}

/// An account's payments as a list's scope; with `method`, only that type's.
pub fn listed(account_uid: &str, method: Option<MethodType>) -> Scope<'static> {
    let mut binds = vec![Bind::Text(account_uid.to_owned())];
    let condition = match method {
        Some(m) => {
            binds.push(Bind::Text(m.as_str().to_owned()));
            "account_uid = $1 AND method_type = $2"
        }
        None => "account_uid = $1",
    };
    Scope { table: "payments", columns: COLUMNS, condition, binds }
}

pub async fn get(db: &Db, account_uid: &str, id: &str) -> Result<Option<Payment>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1 AND account_uid = $2");
    let row = sqlx::query(&sql).bind(id).bind(account_uid).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// One UTC day's payments of one status, summed (minor units; sums may pass an amount's bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySums {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub status: PaymentStatus,
    pub count: i64,
    pub captured: i64,
    /// Fees of the payments that captured anything.
    pub fees: i64,
}

/// The account's payments in `currency` created at or after `since` (ms), summed per UTC day
/// and status by the database: every payment counts, however many there are.
pub async fn daily_sums(
    db: &Db,
    account_uid: &str,
    currency: &Currency,
    since: i64,
    day_ms: i64,
) -> Result<Vec<DaySums>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT created_at / $4 AS day, status, COUNT(*) AS n, CAST(SUM(amount_captured) AS BIGINT) AS captured, \
         CAST(SUM(CASE WHEN amount_captured > 0 THEN fee_amount ELSE 0 END) AS BIGINT) AS fees \
         FROM payments WHERE account_uid = $1 AND currency = $2 AND created_at >= $3 \
         GROUP BY 1, 2",
    )
    .bind(account_uid)
    .bind(currency.as_str())
    .bind(since)
    .bind(day_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DaySums {
                day: r.try_get("day")?,
                status: enum_column(r, "status")?,
                count: r.try_get("n")?,
                captured: r.try_get("captured")?,
                fees: r.try_get("fees")?,
            })
        })
        .collect()
}

/// The account's refunds in `currency` made at or after `since` (ms), whatever day their
/// payment was made, summed per UTC day as (day, minor units) from the ledger.
pub async fn daily_refunds(
    db: &Db,
    account_uid: &str,
    currency: &Currency,
    since: i64,
    day_ms: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    // `type = 'refund'` as a literal, for the planner to match the partial index (0013).
    let rows = sqlx::query(
        "SELECT t.created_at / $4 AS day, CAST(SUM(t.amount) AS BIGINT) AS refunded \
         FROM payment_transactions t JOIN payments p ON p.id = t.payment_id \
         WHERE t.type = 'refund' AND t.created_at >= $3 AND p.account_uid = $1 AND p.currency = $2 \
         GROUP BY 1",
    )
    .bind(account_uid)
    .bind(currency.as_str())
    .bind(since)
    .bind(day_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok((r.try_get("day")?, r.try_get("refunded")?))).collect()
}

pub async fn get_on(conn: &mut AnyConnection, id: &str) -> Result<Option<Payment>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// `status IN ($n, $n+1, …)` for a move's starting statuses, and their values to bind.
fn from_clause(mv: Move, first: usize) -> (String, Vec<&'static str>) {
    let statuses: Vec<&'static str> = mv.from().iter().map(|s| s.as_str()).collect();
    let marks: Vec<String> = (0..statuses.len()).map(|i| format!("${}", first + i)).collect();
    (format!("status IN ({})", marks.join(", ")), statuses)
}

/// Holds the payment for operation `op` (a capture, void or terminal charge) while the processor
/// works: only if it may make `mv`, no other operation holds it, and (for a capture) `amount`
/// fits in what was authorized and the payment was made after `made_after` (its authorization
/// has not expired). False when any of that is not so.
pub async fn hold(
    conn: &mut AnyConnection,
    id: &str,
    op: &str,
    mv: Move,
    within: Option<Amount>,
    made_after: Option<i64>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let (status_in, statuses) = from_clause(mv, 6);
    let sql = format!(
        "UPDATE payments SET pending_op = $1, updated_at = $2 \
         WHERE id = $3 AND pending_op IS NULL AND total_amount >= $4 AND created_at > $5 AND {status_in}"
    );
    let mut q = sqlx::query(&sql)
        .bind(op)
        .bind(now)
        .bind(id)
        .bind(within.unwrap_or(Amount::ZERO).minor())
        .bind(made_after.unwrap_or(i64::MIN));
    for s in statuses {
        q = q.bind(s);
    }
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// Lets go of a payment the operation `op` held (the processor refused, nothing moved).
pub async fn unhold(conn: &mut AnyConnection, id: &str, op: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE payments SET pending_op = NULL, updated_at = $1 WHERE id = $2 AND pending_op = $3")
        .bind(now)
        .bind(id)
        .bind(op)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What a held operation changes when the processor has done it.
#[derive(Debug, Clone, Default)]
pub struct Outcome<'a> {
    pub amount_captured: Option<Amount>,
    pub decline_code: Option<&'a str>,
    pub processor_ref: Option<&'a str>,
    pub avs_result: Option<&'a str>,
    pub payment_method: Option<&'a MethodDetails>,
}

/// Makes move `mv` for the operation `op` that holds the payment, and lets go of it.
pub async fn complete_hold(
    conn: &mut AnyConnection,
    id: &str,
    op: &str,
    mv: Move,
    outcome: Outcome<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let (status_in, statuses) = from_clause(mv, 10);
    let sql = format!(
        "UPDATE payments SET status = $1, amount_captured = COALESCE($2, amount_captured), \
         decline_code = COALESCE($3, decline_code), processor_ref = COALESCE($4, processor_ref), \
         avs_result = COALESCE($5, avs_result), payment_method = COALESCE($6, payment_method), \
         pending_op = NULL, updated_at = $7 WHERE id = $8 AND pending_op = $9 AND {status_in}"
    );
    let mut q = sqlx::query(&sql)
        .bind(mv.to().as_str())
        .bind(outcome.amount_captured.map(Amount::minor))
        .bind(outcome.decline_code)
        .bind(outcome.processor_ref)
        .bind(outcome.avs_result)
        .bind(outcome.payment_method.map(to_json_text))
        .bind(now)
        .bind(id)
        .bind(op);
    for s in statuses {
        q = q.bind(s);
    }
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// Makes move `mv` on a payment no operation holds (ACH settlement, a terminal cancel).
pub async fn apply(
    conn: &mut AnyConnection,
    id: &str,
    mv: Move,
    amount_captured: Option<Amount>,
    decline_code: Option<&str>,
    return_code: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let (status_in, statuses) = from_clause(mv, 7);
    let sql = format!(
        "UPDATE payments SET status = $1, amount_captured = COALESCE($2, amount_captured), \
         decline_code = COALESCE($3, decline_code), return_code = COALESCE($4, return_code), updated_at = $5 \
         WHERE id = $6 AND pending_op IS NULL AND {status_in}"
    );
    let mut q = sqlx::query(&sql)
        .bind(mv.to().as_str())
        .bind(amount_captured.map(Amount::minor))
        .bind(decline_code)
        .bind(return_code)
        .bind(now)
        .bind(id);
    for s in statuses {
        q = q.bind(s);
    }
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// Reserves `amount` of what is left to refund, if it fits (refunds race: the sum of the ones
/// that succeed can never pass what was captured).
pub async fn reserve_refund(conn: &mut AnyConnection, id: &str, amount: Amount, now: i64) -> Result<bool, sqlx::Error> {
    let (status_in, statuses) = from_clause(Move::REFUND_PART, 4);
    let sql = format!(
        "UPDATE payments SET refund_pending = refund_pending + $1, updated_at = $2 \
         WHERE id = $3 AND amount_refunded + refund_pending + $1 <= amount_captured AND {status_in}"
    );
    let mut q = sqlx::query(&sql).bind(amount.minor()).bind(now).bind(id);
    for s in statuses {
        q = q.bind(s);
    }
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// Turns a reserved refund into a refunded amount; the status follows what is left.
pub async fn complete_refund(
    conn: &mut AnyConnection,
    id: &str,
    amount: Amount,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let (status_in, statuses) = from_clause(Move::REFUND_PART, 6);
    debug_assert_eq!(Move::REFUND_PART.from(), Move::REFUND_ALL.from());
    // SET expressions all see the row as it was, on both databases.
    let sql = format!(
        "UPDATE payments SET refund_pending = refund_pending - $1, amount_refunded = amount_refunded + $1, \
         status = CASE WHEN amount_refunded + $1 >= amount_captured THEN $2 ELSE $3 END, updated_at = $4 \
         WHERE id = $5 AND refund_pending >= $1 AND {status_in}"
    );
    let mut q = sqlx::query(&sql)
        .bind(amount.minor())
        .bind(Move::REFUND_ALL.to().as_str())
        .bind(Move::REFUND_PART.to().as_str())
        .bind(now)
        .bind(id);
    for s in statuses {
        q = q.bind(s);
    }
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// Gives a reserved refund back (the processor refused it).
pub async fn release_refund(conn: &mut AnyConnection, id: &str, amount: Amount, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payments SET refund_pending = refund_pending - $1, updated_at = $2 WHERE id = $3 AND refund_pending >= $1",
    )
    .bind(amount.minor())
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Appends a ledger entry.
pub async fn record_transaction(
    conn: &mut AnyConnection,
    payment_id: &str,
    kind: TransactionKind,
    amount: Amount,
) -> Result<(), sqlx::Error> {
    // The next position in this payment's ledger (unique: a racing writer fails rather than interleaves).
    sqlx::query(
        "INSERT INTO payment_transactions (id, payment_id, type, amount, created_at, position) \
         SELECT $1, $2, $3, $4, $5, COALESCE(MAX(position), 0) + 1 FROM payment_transactions WHERE payment_id = $2",
    )
    .bind(new_id("txn"))
    .bind(payment_id)
    .bind(kind.as_str())
    .bind(amount.minor())
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// The first ledger entries of a new payment, in one statement (positions 1, 2, …).
pub async fn record_initial(
    conn: &mut AnyConnection,
    payment_id: &str,
    entries: &[(TransactionKind, Amount)],
) -> Result<(), sqlx::Error> {
    if let Some(stmt) = initial_stmt(payment_id, entries) {
        stmt.execute(conn).await?;
    }
    Ok(())
}

/// [`record_initial`]'s statement (none for no entries).
pub fn initial_stmt(payment_id: &str, entries: &[(TransactionKind, Amount)]) -> Option<Stmt> {
    if entries.is_empty() {
        return None;
    }
    let now = now_ms();
    let rows: Vec<String> = (0..entries.len())
        .map(|i| {
            format!("(${}, ${}, ${}, ${}, ${}, ${})", i * 6 + 1, i * 6 + 2, i * 6 + 3, i * 6 + 4, i * 6 + 5, i * 6 + 6)
        })
        .collect();
    let mut stmt = Stmt::new(format!(
        "INSERT INTO payment_transactions (id, payment_id, type, amount, created_at, position) VALUES {}",
        rows.join(", ")
    ));
    for (i, (kind, amount)) in entries.iter().enumerate() {
        stmt = stmt
            .text(new_id("txn"))
            .text(payment_id)
            .text(kind.as_str())
            .int(amount.minor())
            .int(now)
            .int(i as i64 + 1);
    }
    Some(stmt)
}

/// One ledger entry.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Transaction {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: TransactionKind,
    pub amount: Amount,
    pub created_at: Timestamp,
}

/// A ledger entry's columns, for lists ([`transaction_from_row`] reads them).
pub const TRANSACTION_COLUMNS: &str = "id, type, amount, created_at";

/// A payment's ledger, for an OData list.
pub fn transactions_listed(payment_id: &str) -> Scope<'static> {
    Scope {
        table: "payment_transactions",
        columns: TRANSACTION_COLUMNS,
        condition: "payment_id = $1",
        binds: vec![Bind::Text(payment_id.to_owned())],
    }
}

pub fn transaction_from_row(r: &AnyRow) -> Result<Transaction, sqlx::Error> {
    Ok(Transaction {
        id: r.try_get("id")?,
        kind: enum_column(r, "type")?,
        amount: amount_column(r, "amount")?,
        created_at: Timestamp(r.try_get("created_at")?),
    })
}

pub async fn transactions(db: &Db, payment_id: &str, limit: i64) -> Result<Vec<Transaction>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {TRANSACTION_COLUMNS} FROM payment_transactions WHERE payment_id = $1 ORDER BY position LIMIT $2"
    ))
    .bind(payment_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(transaction_from_row).collect()
}

/// ACH payments still waiting for their settlement.
pub async fn awaiting_settlement(db: &Db, now: i64, limit: i64) -> Result<Vec<Payment>, sqlx::Error> {
    let rows = sqlx::query(&awaiting_settlement_sql()).bind(now).bind(limit).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// Authorized payments made at or before `before` that no capture or void holds and whose
/// expiry is not put off past `now`, the oldest first: their authorization has expired.
pub async fn authorized_before(db: &Db, before: i64, now: i64, limit: i64) -> Result<Vec<Payment>, sqlx::Error> {
    let rows = sqlx::query(&authorized_before_sql()).bind(before).bind(limit).bind(now).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// The status is a literal: the partial index `payments_authorized` holds authorized payments
/// only, and the planner uses it only when the query names the same status.
pub(crate) fn authorized_before_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM payments WHERE status = '{}' AND pending_op IS NULL AND created_at <= $1 \
         AND (expiry_check_at IS NULL OR expiry_check_at <= $3) ORDER BY created_at, id LIMIT $2",
        PaymentStatus::Authorized.as_str()
    )
}

/// Puts off the expiry pass's next void of an authorized payment until `at`; false when the
/// payment is no longer authorized and free (captured or voided meanwhile, or held).
pub async fn defer_expiry(db: &Db, id: &str, at: i64) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "UPDATE payments SET expiry_check_at = $1 WHERE id = $2 AND status = '{}' AND pending_op IS NULL",
        PaymentStatus::Authorized.as_str()
    );
    Ok(sqlx::query(&sql).bind(at).bind(id).execute(db.writer()).await?.rows_affected() == 1)
}

/// Payments pending on a terminal since before `before` with no card being charged, the oldest
/// first. The status is a literal: the partial index `payments_one_pending_per_terminal` holds
/// exactly these, and the planner uses it only when the query names the same status.
pub async fn pending_on_terminal_since(db: &Db, before: i64, limit: i64) -> Result<Vec<Payment>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE status = '{}' AND terminal_id IS NOT NULL AND pending_op IS NULL \
         AND created_at < $1 ORDER BY created_at, id LIMIT $2",
        PaymentStatus::PendingTerminal.as_str()
    );
    let rows = sqlx::query(&sql).bind(before).bind(limit).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// Asks about a processing payment's settlement again at `at`, not before (a payment already
/// moved on is left alone).
pub async fn defer_settlement_check(db: &Db, id: &str, at: i64) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE payments SET settle_check_at = $1 WHERE id = $2 AND status = '{}'",
        PaymentStatus::Processing.as_str()
    );
    sqlx::query(&sql).bind(at).bind(id).execute(db.writer()).await?;
    Ok(())
}

/// The processing payments whose settlement check is due, the longest due first. The status is
/// a literal: the partial index `payments_settle_check` holds processing payments only, and the
/// planner uses it only when the query names the same status.
pub(crate) fn awaiting_settlement_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM payments WHERE status = '{}' AND settle_check_at <= $1 ORDER BY settle_check_at LIMIT $2",
        PaymentStatus::Processing.as_str()
    )
}
