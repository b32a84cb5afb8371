//! Group commit on SQLite. Write transactions take turns on the one writer connection, and the
//! turns that come while a transaction is open share it: each runs inside a savepoint of its
//! own (rolled back when it gives up), and one `COMMIT` — one fsync —
//! makes all of them durable. A member's `commit()` returns only after that `COMMIT`, so nothing
//! is acknowledged before it is on disk; if the `COMMIT` fails, every member gets the error.
//!
//! The `COMMIT` is the job of a flusher task that queues for the writer's turn like any writer:
//! the writers that were queued before it join the open transaction, then it commits them all.
//!
//! Where a write's time goes is measured here, in Prometheus histograms (`GET /metrics`, and
//! `cargo xtask bench` prints them): the wait for the turn (`govifi_db_write_turn_wait_seconds`),
//! the wait for the group's `COMMIT` after it (`govifi_db_write_commit_wait_seconds`), the
//! `COMMIT` itself (`govifi_db_group_commit_seconds`) and how many writes it made durable
//! (`govifi_db_group_commit_members`).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::{Notify, OwnedMutexGuard, oneshot};

use super::Backend;
use super::batch::{Batch, Stmt};

/// The writer's state, behind the turn (a fair mutex).
#[derive(Default)]
pub struct Group {
    tx: Option<Transaction<'static, Any>>,
    /// The last member ended without committing: its savepoint is rolled back before anything
    /// else.
    abandoned: bool,
    /// Members whose work is in the open transaction, waiting for its `COMMIT`.
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
    wakes_deliveries: bool,
}

/// Every member's savepoint has this one name. `ROLLBACK TO` and `RELEASE` act on the newest
/// savepoint of a name, and the member that gives up is always the newest (members take the
/// turn one after another, and the next one settles it first). One name also keeps the text of
/// a member's first batch the same from call to call, so its prepared statement is reused.
const SAVEPOINT: &str = "SAVEPOINT member";

pub type Turn = Arc<tokio::sync::Mutex<Group>>;

/// One member's place in the open transaction.
pub struct Member {
    guard: Option<OwnedMutexGuard<Group>>,
    flush: Arc<Notify>,
}

/// Starts the flusher of `turn`; it ends when the database is dropped.
pub fn start(turn: &Turn) -> Arc<Notify> {
    let flush = Arc::new(Notify::new());
    let (weak, wake): (Weak<tokio::sync::Mutex<Group>>, Arc<Notify>) = (Arc::downgrade(turn), flush.clone());
    tokio::spawn(async move {
        loop {
            // A notification per member that committed; the timeout only lets the task notice
            // that its database is gone.
            let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
            let Some(turn) = weak.upgrade() else { return };
            let mut group = turn.lock_owned().await;
            settle(&mut group).await;
            commit(&mut group).await;
        }
    });
    flush
}

/// Waits for the turn and makes sure the writer's transaction is open.
async fn turn_with_open_tx(turn: &Turn, writer: &AnyPool) -> Result<OwnedMutexGuard<Group>, sqlx::Error> {
    let asked = Instant::now();
    let mut group = turn.clone().lock_owned().await;
    metrics::histogram!("govifi_db_write_turn_wait_seconds").record(asked.elapsed().as_secs_f64());
    settle(&mut group).await;
    if group.tx.is_none() {
        group.tx = Some(writer.begin_with("BEGIN IMMEDIATE").await?);
    }
    Ok(group)
}

/// Joins (or opens) the writer's transaction: waits for the turn, then opens a savepoint.
pub async fn join(turn: &Turn, writer: &AnyPool, flush: &Arc<Notify>) -> Result<Member, sqlx::Error> {
    let mut group = turn_with_open_tx(turn, writer).await?;
    // Until the savepoint exists there is no member to roll back: a failure here leaves the
    // transaction as it was, for the flusher.
    let conn: &mut AnyConnection = group.tx.as_mut().expect("opened above");
    conn.execute(SAVEPOINT).await?;
    Ok(Member { guard: Some(group), flush: flush.clone() })
}

/// [`join`] and the member's first batch in one round trip: the savepoint leads the batch.
/// The rows each statement of `batch` changed.
pub async fn join_with(
    turn: &Turn,
    writer: &AnyPool,
    flush: &Arc<Notify>,
    batch: Batch,
) -> Result<(Member, Vec<u64>), sqlx::Error> {
    let group = turn_with_open_tx(turn, writer).await?;
    let mut member = Member { guard: Some(group), flush: flush.clone() };
    match batch.led_by(Stmt::new(SAVEPOINT)).run(member.conn(), Backend::Sqlite).await {
        Ok(mut counts) => {
            counts.remove(0);
            Ok((member, counts))
        }
        // A constraint stopped one of the batch's own statements, so the savepoint before them
        // was made: dropping the member rolls back to it.
        Err(sqlx::Error::Database(e)) if e.kind() != sqlx::error::ErrorKind::Other => Err(sqlx::Error::Database(e)),
        Err(e) => {
            // Whether the savepoint was made is not known, and rolling back to the newest one of
            // its name could then undo an earlier member's work: the group is rolled back
            // instead (none of its members was acknowledged).
            let mut group = member.guard.take().expect("a member holds the turn");
            abort(&mut group, &e.to_string()).await;
            Err(e)
        }
    }
}

/// One statement as a member of its own: no savepoint, since SQLite undoes a failed statement
/// by itself. Returns the rows it changed once the group's `COMMIT` has made it durable. If it
/// fails, the group is rolled back and its waiting members get the error (none of them was
/// acknowledged): a rare path, and the safe one should the failure have ended the transaction.
pub async fn write_one(turn: &Turn, writer: &AnyPool, flush: &Arc<Notify>, stmt: &Stmt) -> Result<u64, sqlx::Error> {
    let mut group = turn_with_open_tx(turn, writer).await?;
    let conn: &mut AnyConnection = group.tx.as_mut().expect("opened above");
    let changed = match stmt.execute(conn).await {
        Ok(changed) => changed,
        Err(e) => {
            abort(&mut group, &e.to_string()).await;
            return Err(e);
        }
    };
    committed(group, false, flush).await?;
    Ok(changed)
}

/// Gives up the turn as a member whose work is in the open transaction, and waits for the
/// flusher's `COMMIT`.
async fn committed(
    mut group: OwnedMutexGuard<Group>,
    wakes_deliveries: bool,
    flush: &Notify,
) -> Result<(), sqlx::Error> {
    let (done, committed) = oneshot::channel();
    group.waiting.push(done);
    group.wakes_deliveries |= wakes_deliveries;
    drop(group);
    flush.notify_one();
    let gave_up_turn = Instant::now();
    let committed = committed.await;
    metrics::histogram!("govifi_db_write_commit_wait_seconds").record(gave_up_turn.elapsed().as_secs_f64());
    match committed {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(sqlx::Error::Protocol(format!("group commit failed: {e}"))),
        Err(_) => Err(sqlx::Error::Protocol("the group commit was dropped".into())),
    }
}

impl Member {
    pub fn conn(&mut self) -> &mut AnyConnection {
        self.guard
            .as_mut()
            .and_then(|g| g.tx.as_mut())
            .map(|tx| &mut **tx)
            .expect("a member holds the open transaction")
    }

    pub fn conn_ref(&self) -> &AnyConnection {
        self.guard.as_ref().and_then(|g| g.tx.as_ref()).map(|tx| &**tx).expect("a member holds the open transaction")
    }

    /// Gives up the turn and waits for the `COMMIT`. The member's savepoint stays open (no
    /// `RELEASE`, one round trip fewer): the next members' savepoints nest inside it, and a
    /// later member that gives up rolls back to its own, which undoes only its own work, since
    /// members run one after another. The `COMMIT` commits them all.
    pub async fn commit(mut self, wakes_deliveries: bool) -> Result<(), sqlx::Error> {
        let group = self.guard.take().expect("a member holds the turn");
        committed(group, wakes_deliveries, &self.flush).await
    }
}

impl Drop for Member {
    /// Gave up (an error, a refusal, a cancelled request): the next holder of the turn rolls the
    /// member's savepoint back before anything else runs.
    fn drop(&mut self) {
        if let Some(mut group) = self.guard.take() {
            group.abandoned = true;
            drop(group);
            self.flush.notify_one();
        }
    }
}

/// Undoes an abandoned member's work. If that fails, the whole transaction is rolled back and
/// the members waiting on it get the error (none of them was acknowledged).
async fn settle(group: &mut Group) {
    if !std::mem::take(&mut group.abandoned) {
        return;
    }
    let Some(tx) = group.tx.as_mut() else { return };
    let undone = tx.execute("ROLLBACK TO SAVEPOINT member; RELEASE SAVEPOINT member").await;
    if let Err(e) = undone {
        tracing::error!(error = %e, "rolling back a write's savepoint failed; rolling back its group");
        abort(group, &e.to_string()).await;
    }
}

/// Rolls back the open transaction; its waiting members get `error`.
async fn abort(group: &mut Group, error: &str) {
    if let Some(tx) = group.tx.take() {
        let _ = tx.rollback().await;
    }
    for member in group.waiting.drain(..) {
        let _ = member.send(Err(error.to_owned()));
    }
    group.wakes_deliveries = false;
}

/// Commits the open transaction and answers its members.
async fn commit(group: &mut Group) {
    let Some(tx) = group.tx.take() else { return };
    let started = Instant::now();
    let result = tx.commit().await.map_err(|e| e.to_string());
    metrics::histogram!("govifi_db_group_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("govifi_db_group_commit_members").record(group.waiting.len() as f64);
    let wake = std::mem::take(&mut group.wakes_deliveries);
    if result.is_ok() && wake {
        super::NEW_DELIVERIES.notify_one();
    }
    for member in group.waiting.drain(..) {
        let _ = member.send(result.clone());
    }
}
