//! Rate-limit state shared by every server process on one database (SPEC §5's per-credential
//! budget). One row per key holds its GCRA arrival time ([`RateRule`]); one upsert admits or
//! refuses a request, atomically, whichever process serves it.
//!
//! The rows are not money and need not survive a crash, so they cost no fsync: on PostgreSQL the
//! table is `UNLOGGED`; on SQLite it lives in a companion file beside the database
//! (`<file>-limits`, `synchronous = OFF`), so limit writes never wait for a payment's write lock
//! or its sync.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

use super::Backend;
use crate::domain::limit::RateRule;

const CREATE_SQLITE: &str = "CREATE TABLE IF NOT EXISTS rate_limits (key TEXT PRIMARY KEY, tat BIGINT NOT NULL)";
const CREATE_POSTGRES: &str =
    "CREATE UNLOGGED TABLE IF NOT EXISTS rate_limits (key TEXT PRIMARY KEY, tat BIGINT NOT NULL)";

/// The part of [`TAKE`] that moves an existing key's arrival time, only if the request fits.
macro_rules! take_conflict {
    () => {
        "ON CONFLICT (key) DO UPDATE SET tat = (CASE WHEN rate_limits.tat > $2 THEN rate_limits.tat ELSE $2 END) + $3 \
         WHERE (CASE WHEN rate_limits.tat > $2 THEN rate_limits.tat ELSE $2 END) + $3 - $2 <= $4 \
         RETURNING tat"
    };
}

/// Admits a request and moves the key's arrival time, only if it fits: `$1` key, `$2` now,
/// `$3` emission interval, `$4` window. No row back: refused.
const TAKE: &str = concat!("INSERT INTO rate_limits (key, tat) VALUES ($1, $2 + $3) ", take_conflict!());

/// [`TAKE`] as a part of a larger PostgreSQL statement: the request is counted only when `rows`
/// (a CTE or table in that statement) has a row where `condition` holds. Same placeholders as
/// [`TAKE`] (`$1` … `$4`); the statement may use more after them.
pub fn take_where(rows: &str, condition: &str) -> String {
    format!("INSERT INTO rate_limits (key, tat) SELECT $1, $2 + $3 FROM {rows} WHERE {condition} {}", take_conflict!())
}

#[derive(Clone, Debug)]
pub struct Limits {
    pool: AnyPool,
}

impl Limits {
    /// The limits store of the database at `url` (already connected as `main` on PostgreSQL).
    pub async fn open(url: &str, backend: Backend, main: &AnyPool) -> anyhow::Result<Self> {
        match backend {
            Backend::Postgres => Ok(Limits { pool: main.clone() }),
            Backend::Sqlite => {
                let options = AnyConnectOptions::from_str(&companion_url(url))
                    .context("the rate-limit file's URL is not valid")?;
                // One connection, kept: it serialises this process's limit writes without a busy
                // wait, and an in-memory store lives as long as it does.
                let pool = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(Duration::from_secs(10))
                    .test_before_acquire(false)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                            conn.execute(CREATE_SQLITE).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .context("opening the rate-limit file")?;
                Ok(Limits { pool })
            }
        }
    }

    /// Creates the PostgreSQL table if missing (once per database, under a lock so that two
    /// processes starting together do not race on it).
    pub async fn create_postgres(main: &AnyPool) -> anyhow::Result<()> {
        let mut tx = main.begin().await?;
        // Any fixed number: the lock only orders the two CREATEs.
        sqlx::query("SELECT pg_advisory_xact_lock(727100)").execute(&mut *tx).await?;
        sqlx::query(CREATE_POSTGRES).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes one request from `key`'s budget: `Ok(())`, or the seconds to wait.
    pub async fn take(&self, key: &str, rule: RateRule, now: i64) -> Result<Result<(), u64>, sqlx::Error> {
        let query = sqlx::query(TAKE).bind(key).bind(now).bind(rule.emission_ms()).bind(rule.window_ms());
        if super::first_returned(query, &self.pool).await?.is_some() {
            return Ok(Ok(()));
        }
        let tat: Option<i64> = sqlx::query("SELECT tat FROM rate_limits WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.try_get("tat"))
            .transpose()?;
        Ok(Err(rule.retry_after_secs_of(tat, now)))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Forgets keys whose budget is whole again (their arrival time has passed).
    pub async fn purge(&self, now: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM rate_limits WHERE tat < $1").bind(now).execute(&self.pool).await?.rows_affected())
    }
}

/// `sqlite://dir/govifi.db?mode=rwc` → `sqlite://dir/govifi.db-limits?mode=rwc`; an in-memory
/// database keeps its limits in memory too.
fn companion_url(url: &str) -> String {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory") {
        return "sqlite::memory:".to_owned();
    }
    let query = query.split('&').filter(|kv| !kv.is_empty() && !kv.starts_with("mode=")).collect::<Vec<_>>();
    let mut out = format!("sqlite://{path}-limits?mode=rwc");
    for kv in query {
        out.push('&');
        out.push_str(kv);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::companion_url;
    use crate::domain::limit::RateRule;
    use crate::store::Db;

    const RULE: RateRule = RateRule::BROWSER_CREDENTIAL;

    /// Two processes on one SQLite file share its limits file: a take is committed when it
    /// answers, and the other process neither waits for it nor misses it.
    #[tokio::test]
    async fn two_processes_on_one_sqlite_file_share_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
        let (one, two) = (Db::connect(&url, 1).await.unwrap(), Db::connect(&url, 1).await.unwrap());
        assert_eq!(one.limits().take("cs_one", RULE, 1_000).await.unwrap(), Ok(()));
        let other = tokio::time::timeout(Duration::from_secs(5), two.limits().take("cs_two", RULE, 1_000)).await;
        assert_eq!(other.expect("the second process waited for the first one's lock").unwrap(), Ok(()));
        // Each sees the other's take: with a budget of one, the next request on either key waits.
        let full = RateRule { per_minute: 60, burst: 1 };
        assert!(one.limits().take("cs_two", full, 1_000).await.unwrap().is_err());
        assert!(two.limits().take("cs_one", full, 1_000).await.unwrap().is_err());
    }

    /// Every take commits inside its statement, so SQLite's automatic checkpoint keeps the
    /// limits file's WAL at about 1,000 pages however many takes there are.
    #[tokio::test]
    async fn the_limits_file_is_checkpointed_under_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()), 1).await.unwrap();
        for i in 0..3_000 {
            assert_eq!(db.limits().take(&format!("cs_{i}"), RULE, 1_000).await.unwrap(), Ok(()));
        }
        let size = |suffix: &str| std::fs::metadata(format!("{}{suffix}", path.display())).unwrap().len();
        assert!(size("-limits") > 4096, "nothing was ever checkpointed into the limits file");
        // 3,000 commits of at least one 4 KiB page each would be over 12 MB without checkpoints.
        assert!(size("-limits-wal") < 6 << 20, "the limits WAL grew to {} bytes", size("-limits-wal"));
    }

    #[test]
    fn the_companion_sits_beside_the_database() {
        assert_eq!(companion_url("sqlite://data/govifi.db?mode=rwc"), "sqlite://data/govifi.db-limits?mode=rwc");
        assert_eq!(companion_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db-limits?mode=rwc");
        assert_eq!(companion_url("sqlite://:memory:?mode=memory"), "sqlite::memory:");
    }
}
