//! Group commit on SQLite. Write transactions take turns on the one writer connection, and the
//! turns that come while a transaction is open share it: each runs inside a savepoint of its
//! own (rolled back when it gives up), and one `COMMIT` — one fsync —
//! makes all of them durable. A member's `commit()` returns only after that `COMMIT`, so nothing
//! is acknowledged before it is on disk; if the `COMMIT` fails, every member gets the error.
//!
//! The `COMMIT` is the job of a flusher task that queues for the writer's turn like any writer:
//! the writers that were queued before it join the open transaction, then it commits them all.
//!
//! Whole writes of one batch ([`write`]: a confirm's claim, the sandbox's record, its finish)
//! do not each take a turn: they queue, and whoever gets the turn runs every batch queued by
//! then as one query behind one savepoint — one hop to the writer's thread and one task wake-up
//! for many writes, where each used to cost its own. If a guard of any of them fails, or a
//! statement meets a constraint, that query is rolled back and they run one by one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

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
    let mut group = turn.clone().lock_owned().await;
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

/// A whole write of one batch, queued for the writer.
struct Queued {
    id: u64,
    batch: Batch,
    answer: oneshot::Sender<Result<Ran, sqlx::Error>>,
}

/// What became of a queued batch: the rows each statement changed, and, if it was kept, the
/// group's `COMMIT` to wait for (none: a guard changed no row, and nothing of it was kept).
struct Ran {
    counts: Vec<u64>,
    commit: Option<oneshot::Receiver<Result<(), String>>>,
}

/// Turns that ran more than one queued batch (tests: the shared path was taken).
#[cfg(test)]
pub static SHARED_TURNS: AtomicU64 = AtomicU64::new(0);

/// Whole writes of one batch ([`write`]) waiting for the writer. Whoever holds the turn next
/// runs every batch queued by then, so under load one turn — one hop to the writer's thread, and
/// one wake-up of a task — serves many writes instead of one each.
#[derive(Default)]
pub struct Queue {
    next: AtomicU64,
    batches: std::sync::Mutex<Vec<Queued>>,
}

impl Queue {
    fn push(&self, batch: Batch) -> (u64, oneshot::Receiver<Result<Ran, sqlx::Error>>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (answer, ran) = oneshot::channel();
        self.lock().push(Queued { id, batch, answer });
        (id, ran)
    }

    fn take(&self) -> Vec<Queued> {
        std::mem::take(&mut *self.lock())
    }

    /// Takes `id` back if no turn has taken it yet (true: it will not run).
    fn withdraw(&self, id: u64) -> bool {
        let mut batches = self.lock();
        let before = batches.len();
        batches.retain(|q| q.id != id);
        batches.len() != before
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        // The list stays whole whatever panicked while it was held (a push or a take).
        self.batches.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A queued batch that its caller stopped waiting for (a cancelled request) is not run, unless
/// a turn has already taken it.
struct Withdraw<'a>(&'a Queue, Option<u64>);

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.1 {
            self.0.withdraw(id);
        }
    }
}

/// A whole write transaction of one batch, as a member of the group commit: queued, run in the
/// next turn together with every batch queued by then, and kept only if its guards
/// ([`Batch::push_guard`]) each changed one row. Returns the rows each statement changed and
/// whether it was kept; a kept batch returns only after the group's `COMMIT`.
pub async fn write(
    turn: &Turn,
    writer: &AnyPool,
    flush: &Arc<Notify>,
    queue: &Arc<Queue>,
    batch: Batch,
) -> Result<(Vec<u64>, bool), sqlx::Error> {
    let (id, mut ran) = queue.push(batch);
    let mut withdraw = Withdraw(queue, Some(id));
    // Either an earlier turn runs this batch (and answers), or this task gets the turn first
    // and runs it with whatever else is queued. Waiting for the answer too means a write that
    // another turn ran does not then queue for the turn only to find nothing to do.
    let answered = tokio::select! {
        biased;
        answer = &mut ran => Some(answer),
        group = turn.clone().lock_owned() => {
            let taken = queue.take();
            if taken.is_empty() {
                // An earlier turn took it and is running it.
                drop(group);
            } else {
                // On a task of its own, so that a cancelled request cannot stop a turn halfway
            // through its statements (it answers everyone it took, this caller too).
                let (writer, flush) = (writer.clone(), flush.clone());
                tokio::spawn(run_turn(group, writer, flush, taken));
            }
            None
        }
    };
    // Taken by now, by this turn or an earlier one.
    withdraw.1 = None;
    let answer = match answered {
        Some(answer) => answer,
        None => ran.await,
    };
    let Ran { counts, commit } = match answer {
        Ok(ran) => ran?,
        Err(_) => return Err(sqlx::Error::Protocol("the writer dropped a queued write".into())),
    };
    let Some(commit) = commit else { return Ok((counts, false)) };
    match commit.await {
        Ok(Ok(())) => Ok((counts, true)),
        Ok(Err(e)) => Err(sqlx::Error::Protocol(format!("group commit failed: {e}"))),
        Err(_) => Err(sqlx::Error::Protocol("the group commit was dropped".into())),
    }
}

/// One turn of queued writes: opens the transaction if need be, runs them, gives the turn up and
/// tells the flusher.
async fn run_turn(mut group: OwnedMutexGuard<Group>, writer: AnyPool, flush: Arc<Notify>, taken: Vec<Queued>) {
    settle(&mut group).await;
    let opened = match group.tx {
        Some(_) => Ok(()),
        None => writer.begin_with("BEGIN IMMEDIATE").await.map(|tx| group.tx = Some(tx)),
    };
    match opened {
        Ok(()) => run_together(&mut group, &writer, taken).await,
        // None of them ran.
        Err(e) => fail(taken, &e.to_string()),
    }
    drop(group);
    flush.notify_one();
}

/// Runs the batches taken from the queue in the open transaction and answers each. Several are
/// tried as one query behind one savepoint; if any guard failed or any statement met a
/// constraint, that is rolled back and each runs on its own (the rare path, and the one that
/// tells each batch what it met).
async fn run_together(group: &mut Group, writer: &AnyPool, taken: Vec<Queued>) {
    metrics::histogram!("govifi_sqlite_writes_per_turn").record(taken.len() as f64);
    if taken.len() > 1 {
        #[cfg(test)]
        SHARED_TURNS.fetch_add(1, Ordering::Relaxed);
        let mut all = Batch::new();
        let mut ends = Vec::with_capacity(taken.len());
        let mut guards = Vec::with_capacity(taken.len());
        for q in &taken {
            guards.push(q.batch.guards().to_vec());
            all.append(q.batch.clone());
            ends.push(all.len());
        }
        let conn: &mut AnyConnection = group.tx.as_mut().expect("the caller opened it");
        match all.transient().led_by(Stmt::new(SAVEPOINT)).run(conn, Backend::Sqlite).await {
            Ok(mut counts) => {
                counts.remove(0);
                let mut start = 0;
                let parts: Vec<Vec<u64>> = ends
                    .iter()
                    .map(|&end| {
                        let part = counts[start..end].to_vec();
                        start = end;
                        part
                    })
                    .collect();
                if guards.iter().zip(&parts).all(|(guards, counts)| Batch::guards_hold(guards, counts)) {
                    for (q, counts) in taken.into_iter().zip(parts) {
                        let waking = q.batch.waking();
                        keep(group, q.answer, &waking, counts);
                    }
                    return;
                }
            }
            // A constraint stopped one of the statements: the savepoint before them was made.
            Err(sqlx::Error::Database(e)) if e.kind() != sqlx::error::ErrorKind::Other => {}
            Err(e) => {
                // Whether the savepoint was made is not known: the group is rolled back (none of
                // its members was acknowledged), and these batches did not run.
                abort(group, &e.to_string()).await;
                fail(taken, &e.to_string());
                return;
            }
        }
        if let Err(e) = undo_member(group).await {
            fail(taken, &e);
            return;
        }
    }
    for q in taken {
        if group.tx.is_none() {
            // An earlier batch's failure rolled the group back: the rest start a new one.
            match writer.begin_with("BEGIN IMMEDIATE").await {
                Ok(tx) => group.tx = Some(tx),
                Err(e) => {
                    let _ = q.answer.send(Err(e));
                    continue;
                }
            }
        }
        run_one(group, q).await;
    }
}

/// One batch behind its own savepoint: kept if its guards held, rolled back if not.
async fn run_one(group: &mut Group, q: Queued) {
    let Queued { batch, answer, .. } = q;
    let (guards, waking) = (batch.guards().to_vec(), batch.waking());
    let conn: &mut AnyConnection = group.tx.as_mut().expect("open");
    let undone = match batch.led_by(Stmt::new(SAVEPOINT)).run(conn, Backend::Sqlite).await {
        Ok(mut counts) => {
            counts.remove(0);
            if Batch::guards_hold(&guards, &counts) {
                keep(group, answer, &waking, counts);
                return;
            }
            Ok(counts)
        }
        Err(sqlx::Error::Database(e)) if e.kind() != sqlx::error::ErrorKind::Other => Err(sqlx::Error::Database(e)),
        Err(e) => {
            abort(group, &e.to_string()).await;
            let _ = answer.send(Err(e));
            return;
        }
    };
    // A guard changed no row, or a constraint stopped a statement: the savepoint was made, and
    // rolling back to it undoes the batch.
    let answer_with = match undo_member(group).await {
        Ok(()) => undone.map(|counts| Ran { counts, commit: None }),
        Err(e) => Err(sqlx::Error::Protocol(e)),
    };
    let _ = answer.send(answer_with);
}

/// A batch whose work stays in the open transaction: it waits for the group's `COMMIT`.
fn keep(group: &mut Group, answer: oneshot::Sender<Result<Ran, sqlx::Error>>, waking: &[bool], counts: Vec<u64>) {
    let (done, commit) = oneshot::channel();
    group.waiting.push(done);
    group.wakes_deliveries |= Batch::woke_deliveries(waking, &counts);
    let _ = answer.send(Ok(Ran { counts, commit: Some(commit) }));
}

fn fail(taken: Vec<Queued>, error: &str) {
    for q in taken {
        let _ = q.answer.send(Err(sqlx::Error::Protocol(error.to_owned())));
    }
}

/// Rolls the newest member savepoint back and releases it; if that fails, the group is rolled
/// back (its waiting members get the error).
async fn undo_member(group: &mut Group) -> Result<(), String> {
    let Some(tx) = group.tx.as_mut() else { return Err("the group was rolled back".into()) };
    if let Err(e) = tx.execute("ROLLBACK TO SAVEPOINT member; RELEASE SAVEPOINT member").await {
        tracing::error!(error = %e, "rolling back a write's savepoint failed; rolling back its group");
        abort(group, &e.to_string()).await;
        return Err(e.to_string());
    }
    Ok(())
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
    match committed.await {
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
    let result = tx.commit().await.map_err(|e| e.to_string());
    let wake = std::mem::take(&mut group.wakes_deliveries);
    if result.is_ok() && wake {
        super::NEW_DELIVERIES.notify_one();
    }
    for member in group.waiting.drain(..) {
        let _ = member.send(result.clone());
    }
}
