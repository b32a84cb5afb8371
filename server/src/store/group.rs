//! Group commit on SQLite. Write transactions take turns on the one writer connection, and the
//! turns that come while a transaction is open share it: each runs inside a savepoint of its
//! own (rolled back when it gives up), and one `COMMIT` — one fsync —
//! makes all of them durable. A member's `commit()` returns only after that `COMMIT`, so nothing
//! is acknowledged before it is on disk; if the `COMMIT` fails, every member gets the error.
//!
//! Most writes are one batch, whole ([`Writer::write`]: a claim, a processor's record, a
//! finish). They do not take the turn themselves: they queue for the writer task, which holds
//! the turn, runs every queued batch back to back (each in its savepoint, kept or rolled back by
//! its own guards), then commits them all and answers each. No task switch stands between one
//! batch and the next, so the one writer connection idles less: that is the SQLite confirm's
//! ceiling. Writes that read between statements ([`Writer::join`]) take the turn themselves, and
//! the writer task commits what they leave in the open transaction.
//!
//! Where a write's time goes is measured here, in Prometheus histograms (`GET /metrics`, and
//! `cargo xtask bench` prints them): the wait for the turn (`govifi_db_write_turn_wait_seconds`),
//! the wait for the group's `COMMIT` after it (`govifi_db_write_commit_wait_seconds`), the
//! `COMMIT` itself (`govifi_db_group_commit_seconds`) and how many writes it made durable
//! (`govifi_db_group_commit_members`).

use std::sync::Arc;
use std::time::Instant;

use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::{Notify, OwnedMutexGuard, mpsc, oneshot};

use super::Backend;
use super::batch::{Batch, Stmt};

/// The writer's state, behind the turn (a fair mutex).
#[derive(Default)]
pub struct Group {
    tx: Option<Transaction<'static, Any>>,
    /// The last member ended without committing: its savepoint is rolled back before anything
    /// else.
    abandoned: bool,
    /// Members and queued batches whose work is in the open transaction, waiting for its
    /// `COMMIT`.
    waiting: Vec<Waiter>,
    wakes_deliveries: bool,
}

/// Who is told when the open transaction commits or fails.
enum Waiter {
    /// A write that took the turn itself.
    Member(oneshot::Sender<Result<(), String>>),
    /// A queued batch: its rows changed, and when it ran (for the commit-wait histogram).
    Batch { reply: oneshot::Sender<Result<Outcome, sqlx::Error>>, counts: Vec<u64>, ran: Instant },
    /// A queued batch that was refused (a guard, a constraint) and rolled back: answered once the
    /// group commits, since what refused it may be an earlier member's work, which readers
    /// (and a caller reading next to explain the refusal) see only then.
    Refused { reply: oneshot::Sender<Result<Outcome, sqlx::Error>>, answer: Result<Outcome, sqlx::Error> },
}

/// What became of a queued batch.
#[derive(Debug)]
pub enum Outcome {
    /// Committed: the rows each statement changed.
    Kept(Vec<u64>),
    /// A guard changed no row, so the batch was rolled back: the rows each statement changed.
    Refused(Vec<u64>),
}

/// A whole batch queued for the writer task.
struct Job {
    batch: Batch,
    reply: oneshot::Sender<Result<Outcome, sqlx::Error>>,
    queued: Instant,
}

/// At most this many queued batches share a `COMMIT`: under a steady queue the writer task
/// still commits (and answers) every so often, and hands the turn to writes waiting for it.
const MOST_PER_COMMIT: usize = 64;

/// Every member's savepoint has this one name. `ROLLBACK TO` and `RELEASE` act on the newest
/// savepoint of a name, and the member that gives up is always the newest (members take the
/// turn one after another, and the next one settles it first). One name also keeps the text of
/// a member's first batch the same from call to call, so its prepared statement is reused.
const SAVEPOINT: &str = "SAVEPOINT member";

type Turn = Arc<tokio::sync::Mutex<Group>>;

/// The one writer connection of a process, its turn and its queue.
pub struct Writer {
    pool: AnyPool,
    turn: Turn,
    /// Rung when a member that took the turn itself gave it up (committed or abandoned).
    flush: Arc<Notify>,
    jobs: mpsc::UnboundedSender<Job>,
}

/// One member's place in the open transaction.
pub struct Member {
    guard: Option<OwnedMutexGuard<Group>>,
    flush: Arc<Notify>,
}

impl Writer {
    /// Starts the writer task of `pool` (one connection); it ends when the last clone of the
    /// database is dropped.
    pub fn start(pool: AnyPool) -> Writer {
        let turn: Turn = Arc::default();
        let flush = Arc::new(Notify::new());
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(writer_task(pool.clone(), turn.clone(), flush.clone(), queue));
        Writer { pool, turn, flush, jobs }
    }

    /// False once the writer task has ended (it panicked): no write can be made any more.
    pub fn is_running(&self) -> bool {
        !self.jobs.is_closed()
    }

    /// Joins (or opens) the writer's transaction: waits for the turn, then opens a savepoint.
    pub async fn join(&self) -> Result<Member, sqlx::Error> {
        let mut group = turn_with_open_tx(&self.turn, &self.pool).await?;
        // Until the savepoint exists there is no member to roll back: a failure here leaves the
        // transaction as it was, for the writer task.
        let conn: &mut AnyConnection = group.tx.as_mut().expect("opened above");
        conn.execute(SAVEPOINT).await?;
        Ok(Member { guard: Some(group), flush: self.flush.clone() })
    }

    /// Runs `batch` whole in the writer task's next group: kept (once its `COMMIT` has made it
    /// durable) or refused by its guards (at once, and nothing of it kept). An error in one of
    /// its statements comes back as it is, and takes nothing of the others in its group.
    pub async fn write(&self, batch: Batch) -> Result<Outcome, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        let gone = || sqlx::Error::Protocol("the database writer has stopped".into());
        self.jobs.send(Job { batch, reply, queued: Instant::now() }).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The writer task: whenever batches are queued or a member gave up the turn, it takes the
/// turn, runs the queued batches one after another in the open transaction, and commits.
async fn writer_task(pool: AnyPool, turn: Turn, flush: Arc<Notify>, mut queue: mpsc::UnboundedReceiver<Job>) {
    loop {
        let mut next = tokio::select! {
            job = queue.recv() => match job {
                Some(job) => Some(job),
                // Every clone of the database is gone.
                None => return,
            },
            () = flush.notified() => None,
        };
        let mut group = turn.clone().lock_owned().await;
        settle(&mut group).await;
        let mut ran = 0;
        while let Some(job) = next.take().or_else(|| queue.try_recv().ok()) {
            run(&mut group, &pool, job).await;
            ran += 1;
            if ran == MOST_PER_COMMIT {
                break;
            }
        }
        commit(&mut group).await;
    }
}

/// Runs one queued batch in its own savepoint, as one round trip.
async fn run(group: &mut Group, pool: &AnyPool, job: Job) {
    metrics::histogram!("govifi_db_write_turn_wait_seconds").record(job.queued.elapsed().as_secs_f64());
    if let Err(e) = open(group, pool).await {
        let _ = job.reply.send(Err(e));
        return;
    }
    let conn: &mut AnyConnection = group.tx.as_mut().expect("opened above");
    let (guards, waking) = (job.batch.guards().to_vec(), job.batch.waking());
    match job.batch.led_by(Stmt::new(SAVEPOINT)).run(conn, Backend::Sqlite).await {
        Ok(mut counts) => {
            counts.remove(0);
            if Batch::guards_hold(&guards, &counts) {
                group.wakes_deliveries |= Batch::woke_deliveries(&waking, &counts);
                group.waiting.push(Waiter::Batch { reply: job.reply, counts, ran: Instant::now() });
            } else {
                group.abandoned = true;
                settle(group).await;
                answer_after_commit(group, job.reply, Ok(Outcome::Refused(counts)));
            }
        }
        // A constraint stopped one of the batch's own statements, so the savepoint before them
        // was made: rolling back to it undoes the batch alone.
        Err(sqlx::Error::Database(e)) if e.kind() != sqlx::error::ErrorKind::Other => {
            group.abandoned = true;
            settle(group).await;
            answer_after_commit(group, job.reply, Err(sqlx::Error::Database(e)));
        }
        Err(e) => {
            // Whether the savepoint was made is not known, and rolling back to the newest one of
            // its name could then undo an earlier member's work: the group is rolled back
            // instead (none of its members was acknowledged).
            abort(group, &e.to_string()).await;
            let _ = job.reply.send(Err(e));
        }
    }
}

/// Answers a refused batch once the open transaction commits (at once with an error when the
/// settling rolled the whole group back: what refused it may be gone).
fn answer_after_commit(
    group: &mut Group,
    reply: oneshot::Sender<Result<Outcome, sqlx::Error>>,
    answer: Result<Outcome, sqlx::Error>,
) {
    if group.tx.is_some() {
        group.waiting.push(Waiter::Refused { reply, answer });
    } else {
        let _ = reply.send(Err(sqlx::Error::Protocol("the write's group was rolled back".into())));
    }
}

/// Waits for the turn and makes sure the writer's transaction is open.
async fn turn_with_open_tx(turn: &Turn, writer: &AnyPool) -> Result<OwnedMutexGuard<Group>, sqlx::Error> {
    let asked = Instant::now();
    let mut group = turn.clone().lock_owned().await;
    metrics::histogram!("govifi_db_write_turn_wait_seconds").record(asked.elapsed().as_secs_f64());
    settle(&mut group).await;
    open(&mut group, writer).await?;
    Ok(group)
}

/// Opens the writer's transaction unless it is open.
async fn open(group: &mut Group, writer: &AnyPool) -> Result<(), sqlx::Error> {
    if group.tx.is_none() {
        group.tx = Some(writer.begin_with("BEGIN IMMEDIATE").await?);
    }
    Ok(())
}

/// Gives up the turn as a member whose work is in the open transaction, and waits for the
/// writer task's `COMMIT`.
async fn committed(
    mut group: OwnedMutexGuard<Group>,
    wakes_deliveries: bool,
    flush: &Notify,
) -> Result<(), sqlx::Error> {
    let (done, committed) = oneshot::channel();
    group.waiting.push(Waiter::Member(done));
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
    for waiter in group.waiting.drain(..) {
        waiter.answer(Err(error.to_owned()));
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
    for waiter in group.waiting.drain(..) {
        waiter.answer(result.clone());
    }
}

impl Waiter {
    fn answer(self, result: Result<(), String>) {
        match self {
            Waiter::Member(done) => {
                let _ = done.send(result);
            }
            Waiter::Batch { reply, counts, ran } => {
                metrics::histogram!("govifi_db_write_commit_wait_seconds").record(ran.elapsed().as_secs_f64());
                let answer = result
                    .map(|()| Outcome::Kept(counts))
                    .map_err(|e| sqlx::Error::Protocol(format!("group commit failed: {e}")));
                let _ = reply.send(answer);
            }
            Waiter::Refused { reply, answer } => {
                let answer = match result {
                    Ok(()) => answer,
                    Err(e) => Err(sqlx::Error::Protocol(format!("group commit failed: {e}"))),
                };
                let _ = reply.send(answer);
            }
        }
    }
}
