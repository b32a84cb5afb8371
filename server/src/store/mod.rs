//! Storage: one code path for SQLite and PostgreSQL.
//!
//! Queries go through sqlx's `Any` driver with portable SQL: `$1`-style placeholders (SQLite
//! accepts them too), `TEXT` and `BIGINT` columns only (timestamps are unix milliseconds,
//! booleans 0/1, JSON as text), and no database-specific functions. Where the dialects must
//! differ (a handful of OData operators), [`Backend`] says which one is in use.

pub mod abandoned;
pub mod accounts;
pub mod api_keys;
pub mod app_clients;
pub mod attempts;
pub mod batch;
pub mod challenges;
pub mod clients;
pub mod customers;
pub mod dashboard;
pub mod deliveries;
pub mod events;
mod group;
pub mod idempotency;
pub mod limits;
pub mod meta;
pub mod odata;
pub mod operations;
pub mod outbox;
pub mod payment_methods;
pub mod payments;
pub mod quotes;
pub mod sandbox;
pub mod sessions;
pub mod signing_keys;
pub mod terminals;
pub mod wallet_sessions;
pub mod webhooks;

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::domain::money::{Amount, Currency};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!("GOVIFI_DATABASE_URL must start with sqlite:// or postgres://")
        }
    }

    /// The database a connection talks to.
    pub fn of_conn(conn: &sqlx::AnyConnection) -> Self {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") { Backend::Sqlite } else { Backend::Postgres }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The schema, oldest first. Each file means the same on both databases.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/0001_init.sql")),
    (2, "identity", include_str!("../../migrations/0002_identity.sql")),
    (3, "checkout", include_str!("../../migrations/0003_checkout.sql")),
    (4, "wallets", include_str!("../../migrations/0004_wallets.sql")),
    (5, "payments", include_str!("../../migrations/0005_payments.sql")),
    (6, "webhooks", include_str!("../../migrations/0006_webhooks.sql")),
    (7, "dashboard", include_str!("../../migrations/0007_dashboard.sql")),
    (8, "event_actor", include_str!("../../migrations/0008_event_actor.sql")),
    (9, "payment_method_type", include_str!("../../migrations/0009_payment_method_type.sql")),
    (10, "partial_session_indexes", include_str!("../../migrations/0010_partial_session_indexes.sql")),
    (11, "partial_payment_status_index", include_str!("../../migrations/0011_partial_payment_status_index.sql")),
    (12, "webhook_failure_gap", include_str!("../../migrations/0012_webhook_failure_gap.sql")),
    (13, "refund_ledger_index", include_str!("../../migrations/0013_refund_ledger_index.sql")),
    (14, "webhook_previous_secrets", include_str!("../../migrations/0014_webhook_previous_secrets.sql")),
    (15, "settlement_checks", include_str!("../../migrations/0015_settlement_checks.sql")),
    (16, "in_progress_keys", include_str!("../../migrations/0016_in_progress_keys.sql")),
    (17, "recovery_and_receipts", include_str!("../../migrations/0017_recovery_and_receipts.sql")),
    (18, "abandoned_charges", include_str!("../../migrations/0018_abandoned_charges.sql")),
    (19, "authorization_expiry", include_str!("../../migrations/0019_authorization_expiry.sql")),
    (20, "authorized_payments_index", include_str!("../../migrations/0020_authorized_payments_index.sql")),
    (21, "outbox_age_index", include_str!("../../migrations/0021_outbox_age_index.sql")),
    (22, "fee_quotes_age_index", include_str!("../../migrations/0022_fee_quotes_age_index.sql")),
    (23, "challenges_age_index", include_str!("../../migrations/0023_challenges_age_index.sql")),
];

/// SQLite connections for reading, at most (besides the one writer).
pub const SQLITE_READERS: u32 = 4;

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// Where write transactions run: the pool itself on PostgreSQL, one connection on SQLite.
    writer: AnyPool,
    backend: Backend,
    /// SQLite: write transactions take turns here, in this process, rather than in SQLite's busy
    /// handler (which sleeps in growing steps and turns contention into long tails), and the
    /// turns that come together commit together ([`group`]).
    group: Option<Arc<group::Writer>>,
    /// Rate-limit state every process shares.
    limits: limits::Limits,
    /// SQLite: the file beside the database that one process at a time holds while it migrates
    /// (sqlx takes no lock on SQLite); `None` in memory and on PostgreSQL.
    migration_lock: Option<std::path::PathBuf>,
}

/// What [`Db::write`] did.
#[derive(Debug)]
pub enum Written {
    /// Committed: the rows each statement changed.
    Kept(Vec<u64>),
    /// A guard changed no row, so nothing was written. On SQLite, the rows each statement
    /// changed (a guard may have met another member's uncommitted work, which only these
    /// counts tell); PostgreSQL's one statement failed as a whole and says nothing more.
    Refused(Option<Vec<u64>>),
}

/// A write transaction: its own on PostgreSQL; on SQLite a member of the writer's group
/// transaction, holding the writer's turn.
pub struct WriteTx {
    tx: Place,
    backend: Backend,
    /// Webhook deliveries were written: the delivery loop is woken once they are committed.
    wakes_deliveries: bool,
}

enum Place {
    Own(Transaction<'static, Any>),
    Member(group::Member),
}

/// Rung after a commit that made webhook deliveries due (this process's delivery loop waits
/// on it, so a new event goes out at once rather than at the next poll).
pub static NEW_DELIVERIES: tokio::sync::Notify = tokio::sync::Notify::const_new();

impl WriteTx {
    /// Ends a transaction whose guard was refused (it changed nothing), once what refused it
    /// is durable: on SQLite that may be an earlier member of the same group, still
    /// uncommitted, which reads through the pool see only after the group's `COMMIT`. Reads
    /// that explain the refusal (who finished it, what the row is now) come after this.
    pub async fn end_refused(self) -> Result<(), sqlx::Error> {
        self.commit().await
    }

    /// Returns once the work is durable (on SQLite, once its group has committed).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let wake = self.wakes_deliveries;
        match self.tx {
            Place::Own(tx) => {
                tx.commit().await?;
                if wake {
                    NEW_DELIVERIES.notify_one();
                }
                Ok(())
            }
            Place::Member(member) => member.commit(wake).await,
        }
    }

    /// Runs `batch` in this transaction, in one round trip: the rows each statement changed.
    /// If it wrote webhook deliveries, the delivery loop wakes once this transaction commits.
    pub async fn run(&mut self, batch: batch::Batch) -> Result<Vec<u64>, sqlx::Error> {
        let backend = self.backend;
        let waking = batch.waking();
        let counts = batch.run(self, backend).await?;
        if batch::Batch::woke_deliveries(&waking, &counts) {
            self.will_wake_deliveries();
        }
        Ok(counts)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Wake the delivery loop when this transaction commits.
    pub fn will_wake_deliveries(&mut self) {
        self.wakes_deliveries = true;
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        match &self.tx {
            Place::Own(tx) => tx,
            Place::Member(member) => member.conn_ref(),
        }
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match &mut self.tx {
            Place::Own(tx) => tx,
            Place::Member(member) => member.conn(),
        }
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// How long one PostgreSQL statement may run (every connection but a migration's).
pub const STATEMENT_TIMEOUT: &str = "SET statement_timeout = '60s'";

impl Db {
    /// Connects (creating an SQLite file and its folder if needed); does not migrate.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).context("GOVIFI_DATABASE_URL is not a valid database URL")?;
        let connect = |max: u32, writer: bool| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(10))
                // sqlx pings a connection every time it lends it out: a round trip (on SQLite a
                // hop to the connection's thread and back) before every statement. A connection
                // that broke meanwhile fails its statement instead, and is replaced.
                .test_before_acquire(false)
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            // WAL lets readers run beside the writer; FULL syncs every commit to
                            // disk (this is money); busy_timeout queues writers instead of
                            // failing them.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
                                 PRAGMA foreign_keys = ON; PRAGMA case_sensitive_like = ON;",
                            )
                            .await?;
                            if writer {
                                // The group commit's members keep their savepoints open until the
                                // COMMIT; their undo records (the statement journal) would spill
                                // to a temporary file past 64 KiB. In memory they stay, and the
                                // COMMIT drops them.
                                conn.execute("PRAGMA temp_store = MEMORY;").await?;
                            } else {
                                // A reader's page cache is emptied whenever the writer commits
                                // (many times a second under load), so its default 2 MiB mostly
                                // holds pages already stale: 512 KiB keeps the hot ones.
                                conn.execute("PRAGMA cache_size = -512;").await?;
                            }
                        }
                        if backend == Backend::Postgres {
                            // A transaction left open by a stuck process would hold its row
                            // locks (a session's, an account's) for ever; none of ours waits
                            // a minute between statements.
                            conn.execute("SET idle_in_transaction_session_timeout = '60s'").await?;
                            // Nor does any statement of ours run for a minute: one that would
                            // (a lock wait behind a stuck process, a plan gone wrong) is cancelled
                            // and its request answered, instead of holding a connection for ever.
                            conn.execute(STATEMENT_TIMEOUT).await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(options.clone())
        };
        let context = || format!("connecting to the {} database", backend.name());
        let (pool, writer, group) = match backend {
            Backend::Postgres => {
                let pool = match connect(max_connections, false).await {
                    Ok(pool) => pool,
                    // The pool retries a refused connection until its 10 s run out and then says
                    // only that it timed out: one direct attempt tells the operator why.
                    Err(sqlx::Error::PoolTimedOut) => {
                        use sqlx::Connection;
                        let cause = match sqlx::AnyConnection::connect_with(&options).await {
                            Ok(conn) => {
                                let _ = conn.close().await;
                                "no connection within 10 s".to_owned()
                            }
                            Err(e) => e.to_string(),
                        };
                        return Err(anyhow::anyhow!("{}: {cause}", context()));
                    }
                    Err(e) => return Err(e).with_context(context),
                };
                (pool.clone(), pool, None)
            }
            Backend::Sqlite => {
                // sqlx runs each SQLite connection on a thread of its own, and SQLite keeps a page
                // cache per connection that a write on another connection invalidates: a few
                // readers and one writer (whose cache its own writes keep warm) beat many
                // connections on a small machine, in throughput and in memory.
                let pool = connect(max_connections.min(SQLITE_READERS), false).await.with_context(context)?;
                let writer = connect(1, true).await.with_context(context)?;
                let group = Arc::new(group::Writer::start(writer.clone()));
                (pool, writer, Some(group))
            }
        };
        let limits = limits::Limits::open(&url, backend, &pool).await?;
        let migration_lock = match backend {
            Backend::Sqlite => sqlite_file(&url).map(|file| std::path::PathBuf::from(format!("{file}-migrating"))),
            Backend::Postgres => None,
        };
        Ok(Db { pool, writer, backend, group, limits, migration_lock })
    }

    /// Applies pending migrations (safe to call from several processes at once on PostgreSQL:
    /// sqlx takes an advisory lock).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrations: Vec<Migration> = MIGRATIONS
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(*version, Cow::Borrowed(*name), MigrationType::Simple, Cow::Borrowed(*sql), false)
            })
            .collect();
        // A database a newer release already migrated still serves this one (a rolling deploy,
        // or a rollback): its migrations only add, so this release's statements still work.
        let migrator = Migrator { migrations: Cow::Owned(migrations), ignore_missing: true, ..Migrator::DEFAULT };
        // Two processes started at once on a new SQLite file would both apply the first
        // migration, and one would fail; the second waits here, then finds them applied.
        let _one_at_a_time = match &self.migration_lock {
            Some(path) => {
                let path = path.clone();
                let lock = tokio::task::spawn_blocking(move || lock_for_migrations(&path));
                lock.await?.context("locking the database for its migrations")?
            }
            None => None,
        };
        let mut conn = self.pool.acquire().await.context("connecting to migrate")?;
        if self.backend == Backend::Postgres {
            // A migration may build an index on a large table, or wait for another process's
            // migrations (sqlx's advisory lock): no statement timeout on this connection.
            conn.execute("SET statement_timeout = 0").await?;
        }
        let migrated = migrator.run(&mut *conn).await;
        if self.backend == Backend::Postgres && (migrated.is_err() || conn.execute(STATEMENT_TIMEOUT).await.is_err()) {
            // Never back into the pool without its timeout.
            let _ = conn.close().await;
        }
        migrated.context("running database migrations")?;
        if self.backend == Backend::Postgres {
            limits::Limits::create_postgres(&self.pool).await.context("creating the rate-limit table")?;
        }
        Ok(())
    }

    /// Where reads go (on SQLite, the reader connections).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Where a write outside [`Db::begin_write`] goes: one statement, committed by itself. On
    /// SQLite this is the one writer connection, so such a write queues behind the transactions
    /// instead of sleeping in SQLite's busy handler; on PostgreSQL it is the pool.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn limits(&self) -> &limits::Limits {
        &self.limits
    }

    /// A transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes can fail with
    /// "database is locked" when another writer commits in between, and the busy timeout does
    /// not help there.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let tx = match &self.group {
            Some(writer) => Place::Member(writer.join().await?),
            None => Place::Own(self.writer.begin().await?),
        };
        Ok(WriteTx { tx, backend: self.backend, wakes_deliveries: false })
    }

    /// A whole write transaction of one batch, committed unless a guard
    /// ([`batch::Batch::push_guard`]) changed no row, in which case nothing is written. On
    /// SQLite a member of the group commit: one round trip on the writer, then the group's
    /// `COMMIT`. On PostgreSQL one statement, its own transaction: one round trip
    /// instead of `BEGIN`, the batch and `COMMIT`.
    pub async fn write(&self, batch: batch::Batch) -> Result<Written, sqlx::Error> {
        let counts = match &self.group {
            Some(writer) => match writer.write(batch).await? {
                group::Outcome::Kept(counts) => counts,
                group::Outcome::Refused(counts) => return Ok(Written::Refused(Some(counts))),
            },
            None => {
                let waking = batch.waking();
                let Some(counts) = batch.run_guarded(&mut *self.writer.acquire().await?).await? else {
                    return Ok(Written::Refused(None));
                };
                if batch::Batch::woke_deliveries(&waking, &counts) {
                    NEW_DELIVERIES.notify_one();
                }
                counts
            }
        };
        Ok(Written::Kept(counts))
    }

    /// Returns once every write made before it is durable and seen by every reader: on SQLite
    /// an empty member of the writer's group, answered after the group's `COMMIT` (a write
    /// refused by an earlier member's work, then rolled back, reads that work only after
    /// this); on PostgreSQL at once (a refusal there only ever meets committed work).
    pub async fn settled(&self) -> Result<(), sqlx::Error> {
        if let Some(writer) = &self.group {
            writer.write(batch::Batch::new()).await?;
        }
        Ok(())
    }

    /// One statement, committed: on SQLite it is queued for the writer's group commit (it
    /// returns after the group's `COMMIT`), on PostgreSQL it runs by itself. The rows it
    /// changed.
    pub async fn write_one(&self, stmt: batch::Stmt) -> Result<u64, sqlx::Error> {
        match &self.group {
            Some(writer) => {
                let mut batch = batch::Batch::new();
                batch.push(stmt);
                match writer.write(batch).await? {
                    group::Outcome::Kept(counts) | group::Outcome::Refused(counts) => Ok(counts[0]),
                }
            }
            None => stmt.execute(&mut *self.writer.acquire().await?).await,
        }
    }

    /// False once SQLite's writer task has ended (it panicked): this process can never write
    /// again, and only a restart mends it.
    pub fn can_write(&self) -> bool {
        self.group.as_ref().is_none_or(|g| g.is_running())
    }

    /// The database answers a query within 2 s (a probe must not wait out the pool's 10 s), and
    /// on SQLite the writer task still takes writes; if not, why not.
    pub async fn ping(&self) -> Result<(), String> {
        if !self.can_write() {
            return Err("the SQLite writer task has ended".into());
        }
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        match tokio::time::timeout(std::time::Duration::from_secs(2), query).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 2 s".into()),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
        self.limits.close().await;
    }
}

/// The SQLite file a prepared URL names (`None` in memory), percent-decoded as sqlx decodes it
/// (`my%20data/g.db` is the folder `my data`).
fn sqlite_file(url: &str) -> Option<String> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path == ":memory:"
        || path.is_empty()
        || path.starts_with("file::memory:")
        || query.split('&').any(|kv| kv == "mode=memory");
    (!in_memory).then(|| percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned())
}

/// How long a process waits for another's migrations before it gives up.
const MIGRATION_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Takes the SQLite file's migration lock (`<file>-migrating`), waiting at most
/// [`MIGRATION_LOCK_WAIT`] for another process's migrations. None where no lock can be taken (a
/// file system without locks, or a folder this process may not write to: a read-only database
/// has nothing to migrate): migrations then run unguarded, as they did before the lock.
fn lock_for_migrations(path: &std::path::Path) -> std::io::Result<Option<std::fs::File>> {
    use std::io::ErrorKind;
    let denied = |e: &std::io::Error| matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem);
    let file = match std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path) {
        Ok(file) => file,
        // A lock file another user made (a lock needs no write access), or none to be made.
        Err(e) if denied(&e) => match std::fs::File::open(path) {
            Ok(file) => file,
            Err(_) => {
                tracing::warn!(path = %path.display(), error = %e, "no migration lock file: two processes starting at once may race to migrate");
                return Ok(None);
            }
        },
        Err(e) => return Err(e),
    };
    let deadline = std::time::Instant::now() + MIGRATION_LOCK_WAIT;
    let mut said = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                if !said {
                    tracing::info!(path = %path.display(), "waiting for another process's migrations");
                    said = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::new(
                    ErrorKind::TimedOut,
                    format!("another process has held {} for {} s", path.display(), MIGRATION_LOCK_WAIT.as_secs()),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) if e.kind() == ErrorKind::Unsupported => {
                tracing::warn!("no file locks here: two processes starting at once may race to migrate");
                return Ok(Some(file));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Makes sure an SQLite URL will create its file, and that the file's folder exists.
fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    // The folder as sqlx will open the file: the URL's path percent-decoded.
    if let Some(file) = sqlite_file(url)
        && let Some(parent) = std::path::Path::new(&file).parent().filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if query.split('&').any(|kv| kv.starts_with("mode=")) {
        Ok(url.to_owned())
    } else if query.is_empty() {
        Ok(format!("sqlite://{path}?mode=rwc"))
    } else {
        Ok(format!("sqlite://{path}?{query}&mode=rwc"))
    }
}

/// The first row a write's `RETURNING` gives, the statement run to its end. Not sqlx's
/// `fetch_optional`, which stops stepping at the first row and leaves the statement to be reset
/// by its next use: SQLite runs its automatic checkpoint only when a statement is stepped to its
/// end, so a file written only that way is never checkpointed (the rate-limit file's WAL grew to
/// 869 MB in one `cargo xtask bench`).
pub(crate) async fn first_returned<'q, 'e, 'c: 'e, E>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    executor: E,
) -> Result<Option<sqlx::any::AnyRow>, sqlx::Error>
where
    'q: 'e,
    E: 'e + Executor<'c, Database = Any>,
{
    Ok(query.fetch_all(executor).await?.into_iter().next())
}

pub use crate::domain::time::now_ms;

/// A bind parameter's value (the `Any` driver's portable types).
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    /// NULL typed as text (PostgreSQL wants the type of every parameter).
    NullText,
    NullInt,
}

/// Binds values in order.
pub fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(n) => q.bind(*n),
            Bind::NullText => q.bind(Option::<String>::None),
            Bind::NullInt => q.bind(Option::<i64>::None),
        };
    }
    q
}

/// An UPDATE of just the columns a PATCH names, so concurrent PATCHes of different fields do
/// not undo each other.
#[derive(Debug, Default)]
pub struct Patch {
    sets: Vec<(&'static str, Bind)>,
}

impl Patch {
    pub fn set(&mut self, column: &'static str, value: Bind) -> &mut Self {
        self.sets.push((column, value));
        self
    }

    pub fn text(&mut self, column: &'static str, value: Option<String>) -> &mut Self {
        self.set(column, value.map_or(Bind::NullText, Bind::Text))
    }

    pub fn int(&mut self, column: &'static str, value: Option<i64>) -> &mut Self {
        self.set(column, value.map_or(Bind::NullInt, Bind::Int))
    }

    pub fn json<T: serde::Serialize>(&mut self, column: &'static str, value: &T) -> &mut Self {
        self.set(column, Bind::Text(to_json_text(value)))
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Runs `UPDATE table SET … , updated_at = now WHERE {key} = $k [AND extra = $v]`; true if a row matched.
    pub async fn apply(
        &self,
        db: &Db,
        table: &str,
        key: &str,
        id: &str,
        extra_condition: Option<(&str, Bind)>,
    ) -> Result<bool, sqlx::Error> {
        let extra = extra_condition.map(|(column, value)| (format!("{column} ="), value));
        self.apply_where(db, table, key, id, "1 = 1", extra.as_ref().map(|(c, v)| (c.as_str(), v.clone()))).await
    }

    /// Like [`Patch::apply`], also requiring the fixed condition `fixed` (no parameters) and
    /// `{column op} $v` (e.g. `("status <>", …)`).
    pub async fn apply_where(
        &self,
        db: &Db,
        table: &str,
        key: &str,
        id: &str,
        fixed: &str,
        extra_condition: Option<(&str, Bind)>,
    ) -> Result<bool, sqlx::Error> {
        let (sql, binds) = self.statement(table, key, id, fixed, extra_condition);
        let done = bind_all(sqlx::query(&sql), &binds).execute(db.writer()).await?;
        Ok(done.rows_affected() > 0)
    }

    /// [`Patch::apply`] inside a transaction (with the event that reports the change).
    pub async fn apply_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        table: &str,
        key: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let (sql, binds) = self.statement(table, key, id, "1 = 1", None);
        let done = bind_all(sqlx::query(&sql), &binds).execute(conn).await?;
        Ok(done.rows_affected() > 0)
    }

    fn statement(
        &self,
        table: &str,
        key: &str,
        id: &str,
        fixed: &str,
        extra_condition: Option<(&str, Bind)>,
    ) -> (String, Vec<Bind>) {
        let mut binds: Vec<Bind> = self.sets.iter().map(|(_, v)| v.clone()).collect();
        let mut assignments: Vec<String> =
            self.sets.iter().enumerate().map(|(i, (col, _))| format!("{col} = ${}", i + 1)).collect();
        binds.push(Bind::Int(now_ms()));
        assignments.push(format!("updated_at = ${}", binds.len()));
        binds.push(Bind::Text(id.to_owned()));
        let mut sql =
            format!("UPDATE {table} SET {} WHERE {key} = ${} AND {fixed}", assignments.join(", "), binds.len());
        if let Some((column_op, value)) = extra_condition {
            binds.push(value);
            sql.push_str(&format!(" AND {column_op} ${}", binds.len()));
        }
        (sql, binds)
    }
}

/// Reads a JSON text column into a value.
pub fn json_column<T: serde::de::DeserializeOwned>(row: &sqlx::any::AnyRow, column: &str) -> Result<T, sqlx::Error> {
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(format!("column {column}: {e}").into()))
}

/// A column holding one of an enum's words; anything else is a decoding error, not a default.
pub fn enum_column<T: crate::domain::TextEnum>(row: &sqlx::any::AnyRow, column: &str) -> Result<T, sqlx::Error> {
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    T::parse(&text).ok_or_else(|| sqlx::Error::Decode(format!("column {column}: unknown value {text:?}").into()))
}

/// An optional enum column.
pub fn optional_enum<T: crate::domain::TextEnum>(
    row: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<T>, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<Option<String>, _>(column)? {
        Some(text) => T::parse(&text)
            .map(Some)
            .ok_or_else(|| sqlx::Error::Decode(format!("column {column}: unknown value {text:?}").into())),
        None => Ok(None),
    }
}

/// An amount column (minor units); a negative or oversized value is a decoding error.
pub fn amount_column(row: &sqlx::any::AnyRow, column: &str) -> Result<Amount, sqlx::Error> {
    use sqlx::Row;
    let minor: i64 = row.try_get(column)?;
    Amount::new(minor).ok_or_else(|| sqlx::Error::Decode(format!("column {column}: amount {minor}").into()))
}

pub fn optional_amount(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<Amount>, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<Option<i64>, _>(column)? {
        Some(minor) => Amount::new(minor)
            .map(Some)
            .ok_or_else(|| sqlx::Error::Decode(format!("column {column}: amount {minor}").into())),
        None => Ok(None),
    }
}

pub fn currency_column(row: &sqlx::any::AnyRow, column: &str) -> Result<Currency, sqlx::Error> {
    use sqlx::Row;
    let code: String = row.try_get(column)?;
    Currency::parse(&code).ok_or_else(|| sqlx::Error::Decode(format!("column {column}: currency {code:?}").into()))
}

/// JSON text of an in-memory value, for a JSON column.
pub fn to_json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("in-memory values serialise")
}

/// True when an error is a unique-constraint violation (both databases).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() || db.code().is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_lock_waits_for_its_holder_and_is_skipped_where_none_can_be_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db-migrating");
        let first = lock_for_migrations(&path).unwrap().expect("a lock");
        let started = std::time::Instant::now();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let lock = lock_for_migrations(&path).unwrap();
                (lock.is_some(), started.elapsed())
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!waiter.is_finished(), "the second waits while the first holds it");
        drop(first);
        let (locked, waited) = waiter.join().unwrap();
        assert!(locked && waited >= std::time::Duration::from_millis(300), "{waited:?}");
        // A folder this process may not write to (unless it runs as root, which may).
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        let mut perms = std::fs::metadata(&ro).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&ro, perms).unwrap();
        let writable = std::fs::File::create(ro.join("probe")).is_ok();
        let lock = lock_for_migrations(&ro.join("y.db-migrating")).unwrap();
        assert_eq!(lock.is_some(), writable, "no lock file, no error, where none can be made");
    }

    #[test]
    fn sqlite_urls_create_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.db");
        let url = prepare_sqlite_url(&format!("sqlite://{}", path.display())).unwrap();
        assert!(url.ends_with("?mode=rwc"), "{url}");
        assert!(path.parent().unwrap().is_dir());
        let kept = prepare_sqlite_url("sqlite://:memory:?mode=memory").unwrap();
        assert_eq!(kept, "sqlite://:memory:?mode=memory");
    }

    /// A PostgreSQL that refuses connections is reported as such at start, not as a pool timeout.
    #[tokio::test]
    async fn a_refused_postgres_connection_says_why() {
        // Port 1 on the loopback: nothing listens there.
        let err = Db::connect("postgres://postgres@127.0.0.1:1/govifi", 2).await.unwrap_err().to_string();
        assert!(err.contains("connecting to the postgres database"), "{err}");
        assert!(!err.contains("pool timed out"), "{err}");
        assert!(err.to_lowercase().contains("refused"), "{err}");
    }

    /// Two processes started at once on a new SQLite file both come up: one migrates, the other
    /// waits for it and finds nothing left to do.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn first_migrations_at_once_on_one_sqlite_file() {
        for round in 0..8 {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join(format!("m{round}.db")).display());
            let (a, b) = tokio::join!(Db::connect(&url, 2), Db::connect(&url, 2));
            let (a, b) = (a.unwrap(), b.unwrap());
            let (first, second) = tokio::join!(a.migrate(), b.migrate());
            first.unwrap();
            second.unwrap();
            let applied: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(a.pool()).await.unwrap();
            assert_eq!(applied, i64::try_from(MIGRATIONS.len()).unwrap());
        }
        assert_eq!(sqlite_file("sqlite://data/g.db?mode=rwc").as_deref(), Some("data/g.db"));
        assert_eq!(sqlite_file("sqlite://my%20data/g.db").as_deref(), Some("my data/g.db"));
        assert_eq!(sqlite_file("sqlite://shared?mode=memory"), None);
        // A folder whose name the URL percent-encodes: made as named, and the lock is taken
        // beside the database.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/my%20data/g.db", dir.path().display());
        let db = Db::connect(&url, 2).await.unwrap();
        db.migrate().await.unwrap();
        assert!(dir.path().join("my data/g.db").exists() && dir.path().join("my data/g.db-migrating").exists());
        assert!(!dir.path().join("my%20data").exists(), "no folder named after the encoded path");
    }

    /// A writer task that ended (here: with the runtime that ran it) is seen, so liveness fails
    /// and the process is restarted.
    #[test]
    fn a_writer_task_that_ended_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let first = tokio::runtime::Runtime::new().unwrap();
        let db = first.block_on(async {
            let db = Db::connect(&url, 2).await.unwrap();
            db.migrate().await.unwrap();
            db
        });
        assert!(db.can_write());
        drop(first);
        assert!(!db.can_write());
        // (The pools go away inside a runtime, as they expect.)
        tokio::runtime::Runtime::new().unwrap().block_on(async move { drop(db) });
    }

    /// The sweepers' queries name their status as the partial indexes do, so SQLite reads the
    /// index (holding only active or processing sessions, or processing payments) instead of
    /// scanning every session or payment.
    #[tokio::test]
    async fn the_sweepers_read_their_partial_indexes() {
        use sqlx::Row;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("p.db").display()), 2).await.unwrap();
        db.migrate().await.unwrap();
        for (sql, binds, index) in [
            (sessions::due_for_expiry_sql(), &[0i64, 10, 0, 0][..], "hosted_sessions_due"),
            (sessions::stuck_in_processing_sql(), &[0, 10, 0], "hosted_sessions_processing"),
            (payments::awaiting_settlement_sql(), &[0, 10], "payments_settle_check"),
            (idempotency::stale_in_progress_sql(), &[0, 0, 0], "idempotency_keys_in_progress"),
            (sessions::receipts_due_sql().to_owned(), &[0, 10], "hosted_sessions_receipts"),
            (payments::authorized_before_sql(), &[0, 10, 0], "payments_authorized"),
            (outbox::PURGE_SQL.to_owned(), &[0], "outbox_messages_created"),
            (sessions::purge_details_sql("fee_quotes"), &[0, 10], "fee_quotes_created"),
            (sessions::purge_details_sql("challenges"), &[0, 10], "challenges_created"),
        ] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut query = sqlx::query(&explain);
            for bind in binds {
                query = query.bind(*bind);
            }
            let plan: Vec<String> = query
                .fetch_all(db.pool())
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String, _>("detail").unwrap())
                .collect();
            assert!(plan.iter().any(|step| step.contains(index)), "{sql}: {plan:?}");
        }
    }

    /// Concurrent whole-batch writes on SQLite (members of one group commit): each is kept or
    /// refused by its own guards, and one that fails on a constraint takes nothing of the
    /// others with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_group_members_keep_their_own_outcomes() {
        use batch::{Batch, Stmt};
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("g.db").display()), 4).await.unwrap();
        for ddl in [
            "CREATE TABLE slots (k TEXT PRIMARY KEY, taken_by BIGINT)",
            "CREATE TABLE log (who BIGINT PRIMARY KEY, k TEXT NOT NULL)",
        ] {
            db.write_one(Stmt::new(ddl)).await.unwrap();
        }
        for k in 0..10 {
            db.write_one(Stmt::new("INSERT INTO slots (k) VALUES ($1)").text(format!("k{k}"))).await.unwrap();
        }
        // 200 writers, 20 for each slot: the first to take a slot logs itself; writer 7's log
        // line collides with a line written before (a constraint error).
        db.write_one(Stmt::new("INSERT INTO log (who, k) VALUES (1007, 'none')")).await.unwrap();
        let tasks = (0..200i64).map(|who| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut batch = Batch::new();
                batch.push_guard(
                    Stmt::new("UPDATE slots SET taken_by = $1 WHERE k = $2 AND taken_by IS NULL")
                        .int(who)
                        .text(format!("k{}", who % 10)),
                );
                let logged = if who == 7 { 1007 } else { who };
                batch.push(
                    Stmt::new("INSERT INTO log (who, k) VALUES ($1, $2)").int(logged).text(format!("k{}", who % 10)),
                );
                (who, db.write(batch).await)
            })
        });
        let tasks: Vec<_> = tasks.collect();
        let (mut kept, mut refused, mut failed) = (std::collections::BTreeMap::new(), 0, 0);
        for task in tasks {
            match task.await.unwrap() {
                (who, Ok(Written::Kept(counts))) => {
                    assert_eq!(counts, vec![1, 1]);
                    assert!(kept.insert(who % 10, who).is_none(), "slot {} taken twice", who % 10);
                }
                (_, Ok(Written::Refused(Some(counts)))) => {
                    assert_eq!(counts[0], 0);
                    refused += 1;
                }
                (who, Ok(Written::Refused(None))) => panic!("writer {who}: SQLite says which guard failed"),
                (who, Err(e)) => {
                    assert_eq!(who, 7, "only writer 7 fails: {e}");
                    assert!(is_unique_violation(&e), "{e}");
                    failed += 1;
                }
            }
        }
        assert_eq!((kept.len(), refused, failed), (10, 189, 1));
        assert!(!kept.values().any(|who| *who == 7), "writer 7's slot was given back");
        // What the database holds agrees with every answer.
        let rows: Vec<(String, Option<i64>)> =
            sqlx::query_as("SELECT k, taken_by FROM slots ORDER BY k").fetch_all(db.pool()).await.unwrap();
        for (k, taken_by) in rows {
            let slot: i64 = k[1..].parse().unwrap();
            assert_eq!(taken_by, kept.get(&slot).copied(), "slot {k}");
        }
        let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM log").fetch_one(db.pool()).await.unwrap();
        assert_eq!(logged as usize, kept.len() + 1);
        db.close().await;
    }

    #[test]
    fn backends_are_told_apart_by_url() {
        assert_eq!(Backend::of_url("sqlite://data/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(Backend::of_url("mysql://u@h/db").is_err());
    }
}
