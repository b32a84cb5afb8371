//! Statements that travel together: one round trip for several writes inside a transaction.
//!
//! A confirm's finish is half a dozen unconditional statements (the payment, its ledger, its
//! events and their deliveries, the attempt's end, the idempotent answer). One at a time, each
//! is a round trip; on SQLite each is also a hop to the writer connection's thread and back
//! while every other write waits for its turn. A [`Batch`] sends them at once:
//!
//! - SQLite: one multi-statement query (`a; SELECT changes(); b; SELECT changes()`) with the
//!   placeholders renumbered into one argument list (sqlx binds `$N` by number in every
//!   statement of a query);
//! - PostgreSQL: one statement of data-modifying CTEs (`WITH b0 AS (a RETURNING 1), … SELECT
//!   count(*) …`). Its parts see the same snapshot, so a statement in a batch must not read
//!   what another part of the same batch writes.
//!
//! Either way the batch answers how many rows each statement changed, and an error in any part
//! fails the whole (the caller's transaction is then dropped and rolled back).

use sqlx::{AnyConnection, Row};

use super::{Backend, Bind, bind_all};

/// PostgreSQL's `division_by_zero`: what a guarded batch fails with when a guard changed no row.
const GUARD_FAILED: &str = "22012";

/// One statement and its values, `$1` … `$n` in the order bound.
#[derive(Debug, Clone)]
pub struct Stmt {
    sql: String,
    binds: Vec<Bind>,
    /// It writes webhook deliveries: when it changes rows, the transaction wakes the delivery
    /// loop once committed.
    wakes_deliveries: bool,
}

impl Stmt {
    pub fn new(sql: impl Into<String>) -> Self {
        Stmt { sql: sql.into(), binds: Vec::new(), wakes_deliveries: false }
    }

    pub fn waking_deliveries(mut self) -> Self {
        self.wakes_deliveries = true;
        self
    }

    pub fn wakes_deliveries(&self) -> bool {
        self.wakes_deliveries
    }

    pub fn text(mut self, value: impl Into<String>) -> Self {
        self.binds.push(Bind::Text(value.into()));
        self
    }

    pub fn opt_text(mut self, value: Option<impl Into<String>>) -> Self {
        self.binds.push(value.map_or(Bind::NullText, |v| Bind::Text(v.into())));
        self
    }

    pub fn int(mut self, value: i64) -> Self {
        self.binds.push(Bind::Int(value));
        self
    }

    pub fn opt_int(mut self, value: Option<i64>) -> Self {
        self.binds.push(value.map_or(Bind::NullInt, Bind::Int));
        self
    }

    /// Runs it alone: the rows it changed.
    pub async fn execute(&self, conn: &mut AnyConnection) -> Result<u64, sqlx::Error> {
        Ok(bind_all(sqlx::query(&self.sql), &self.binds).execute(conn).await?.rows_affected())
    }
}

/// Statements run in one round trip, in order.
#[derive(Debug, Default)]
pub struct Batch {
    parts: Vec<Stmt>,
    /// The parts that must each change exactly one row for [`super::Db::write`] to keep the
    /// batch (a conditional move of a status, a key taken).
    guards: Vec<usize>,
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    /// Adds a statement; its index in [`Batch::run`]'s answer.
    pub fn push(&mut self, stmt: Stmt) -> usize {
        self.parts.push(stmt);
        self.parts.len() - 1
    }

    /// Adds a statement that must change exactly one row, or [`super::Db::write`] keeps
    /// nothing of the batch; its index in the answer.
    pub fn push_guard(&mut self, stmt: Stmt) -> usize {
        let i = self.push(stmt);
        self.guards.push(i);
        i
    }

    /// True when every guard changed exactly one row (`counts` from [`Batch::run`]).
    pub fn guards_hold(guards: &[usize], counts: &[u64]) -> bool {
        guards.iter().all(|&i| counts.get(i) == Some(&1))
    }

    pub fn guards(&self) -> &[usize] {
        &self.guards
    }

    /// The batch with `stmt` run first (its count first in the answer).
    pub fn led_by(mut self, stmt: Stmt) -> Self {
        self.parts.insert(0, stmt);
        for g in &mut self.guards {
            *g += 1;
        }
        self
    }

    /// True when a statement that writes webhook deliveries changed rows (`counts` from
    /// [`Batch::run`]).
    pub fn woke_deliveries(waking: &[bool], counts: &[u64]) -> bool {
        waking.iter().zip(counts).any(|(wakes, n)| *wakes && *n > 0)
    }

    /// Which statements write webhook deliveries, in order.
    pub fn waking(&self) -> Vec<bool> {
        self.parts.iter().map(Stmt::wakes_deliveries).collect()
    }

    /// Runs every statement; how many rows each changed, in the order pushed. The guards are
    /// the caller's to check.
    pub async fn run(self, conn: &mut AnyConnection, backend: Backend) -> Result<Vec<u64>, sqlx::Error> {
        self.run_as(conn, backend, false).await
    }

    /// PostgreSQL, outside a transaction: the batch as one statement, which is its own
    /// transaction. If a guard changed no row the statement fails, so none of it is kept, and
    /// the answer is `None`.
    pub async fn run_guarded(self, conn: &mut AnyConnection) -> Result<Option<Vec<u64>>, sqlx::Error> {
        match self.run_as(conn, Backend::Postgres, true).await {
            Ok(counts) => Ok(Some(counts)),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(GUARD_FAILED) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn run_as(self, conn: &mut AnyConnection, backend: Backend, guarded: bool) -> Result<Vec<u64>, sqlx::Error> {
        let guarded = guarded && !self.guards.is_empty();
        match self.parts.len() {
            0 => return Ok(Vec::new()),
            1 if !guarded => return Ok(vec![self.parts[0].execute(conn).await?]),
            _ => {}
        }
        let (sql, binds) = self.combined(backend, guarded);
        let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(conn).await?;
        let counts: Vec<u64> = match backend {
            // One row per statement: its `changes()`.
            Backend::Sqlite => rows.iter().map(|row| row.try_get::<i64, _>(0)).collect::<Result<_, _>>()?,
            // One row with a count per statement.
            Backend::Postgres => match rows.first() {
                // (A guarded batch has one more column, the guard's.)
                Some(row) => (0..self.parts.len()).map(|i| row.try_get::<i64, _>(i)).collect::<Result<_, _>>()?,
                None => Vec::new(),
            },
        }
        .into_iter()
        .map(|n| n.max(0) as u64)
        .collect();
        if counts.len() != self.parts.len() {
            return Err(sqlx::Error::Protocol(format!(
                "a batch of {} statements reported {}",
                self.parts.len(),
                counts.len()
            )));
        }
        Ok(counts)
    }

    /// The one query and its values. `guarded` (PostgreSQL): the query fails with
    /// [`GUARD_FAILED`] unless every guard changed one row.
    fn combined(&self, backend: Backend, guarded: bool) -> (String, Vec<Bind>) {
        let mut binds = Vec::with_capacity(self.parts.iter().map(|p| p.binds.len()).sum());
        let mut sql = String::new();
        if backend == Backend::Postgres {
            sql.push_str("WITH ");
        }
        for (i, part) in self.parts.iter().enumerate() {
            let text = renumber(&part.sql, binds.len());
            match backend {
                Backend::Sqlite => {
                    sql.push_str(&text);
                    sql.push_str(";\nSELECT changes();\n");
                }
                Backend::Postgres => {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("b{i} AS ({text} RETURNING 1)"));
                }
            }
            binds.extend(part.binds.iter().cloned());
        }
        if backend == Backend::Postgres {
            let mut columns: Vec<String> =
                (0..self.parts.len()).map(|i| format!("(SELECT count(*) FROM b{i})")).collect();
            if guarded {
                // Plain SQL cannot raise an error; a division by zero can, and it fails the whole
                // statement. (A divisor with subqueries is not folded at planning time.)
                let hold: Vec<String> =
                    self.guards.iter().map(|i| format!("(SELECT count(*) FROM b{i}) = 1")).collect();
                columns.push(format!("1 / (CASE WHEN {} THEN 1 ELSE 0 END)", hold.join(" AND ")));
            }
            sql.push_str(&format!(" SELECT {}", columns.join(", ")));
        }
        (sql, binds)
    }
}

impl Extend<Stmt> for Batch {
    fn extend<I: IntoIterator<Item = Stmt>>(&mut self, stmts: I) {
        self.parts.extend(stmts);
    }
}

/// `sql` with every placeholder `$n` outside quotes moved up by `offset`.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        out.push(c);
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '$') => {
                let mut n: Option<usize> = None;
                while let Some(v) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = Some(n.unwrap_or(0) * 10 + v as usize);
                    chars.next();
                }
                if let Some(n) = n {
                    out.push_str(&(n + offset).to_string());
                }
            }
            (None, _) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_move_but_quoted_text_does_not() {
        assert_eq!(
            renumber("UPDATE t SET a = $1, b = '$2' WHERE c = $12", 3),
            "UPDATE t SET a = $4, b = '$2' WHERE c = $15"
        );
        assert_eq!(renumber("SELECT 'it''s $1', $1", 1), "SELECT 'it''s $1', $2");
        assert_eq!(renumber("x = $1", 0), "x = $1");
    }

    #[test]
    fn postgres_batches_are_one_statement_of_ctes() {
        let mut batch = Batch::new();
        batch.push(Stmt::new("INSERT INTO a (x) VALUES ($1)").int(1));
        batch.push(Stmt::new("UPDATE b SET y = $1 WHERE z = $2").text("y").text("z"));
        let (sql, binds) = batch.combined(Backend::Postgres, false);
        assert_eq!(
            sql,
            "WITH b0 AS (INSERT INTO a (x) VALUES ($1) RETURNING 1), b1 AS (UPDATE b SET y = $2 WHERE z = $3 RETURNING 1) \
             SELECT (SELECT count(*) FROM b0), (SELECT count(*) FROM b1)"
        );
        assert_eq!(binds.len(), 3);
        let (sql, _) = batch.combined(Backend::Sqlite, false);
        assert_eq!(
            sql,
            "INSERT INTO a (x) VALUES ($1);\nSELECT changes();\nUPDATE b SET y = $2 WHERE z = $3;\nSELECT changes();\n"
        );
    }

    #[test]
    fn a_guarded_postgres_batch_fails_unless_its_guards_changed_one_row() {
        let mut batch = Batch::new();
        batch.push(Stmt::new("INSERT INTO a (x) VALUES ($1)").int(1));
        let g = batch.push_guard(Stmt::new("UPDATE b SET y = $1 WHERE z = $2").text("y").text("z"));
        assert_eq!((g, batch.guards()), (1, &[1][..]));
        let (sql, _) = batch.combined(Backend::Postgres, true);
        assert!(
            sql.ends_with(
                "SELECT (SELECT count(*) FROM b0), (SELECT count(*) FROM b1), \
                 1 / (CASE WHEN (SELECT count(*) FROM b1) = 1 THEN 1 ELSE 0 END)"
            ),
            "{sql}"
        );
        // Led by another statement, the guard moves with its part.
        let batch = batch.led_by(Stmt::new("SAVEPOINT m1"));
        assert_eq!(batch.guards(), &[2]);
        assert!(Batch::guards_hold(batch.guards(), &[0, 0, 1]));
        assert!(!Batch::guards_hold(batch.guards(), &[0, 1, 0]));
        let (sql, _) = batch.combined(Backend::Sqlite, false);
        assert!(sql.starts_with("SAVEPOINT m1;\nSELECT changes();\nINSERT INTO a (x) VALUES ($1);"), "{sql}");
    }
}
