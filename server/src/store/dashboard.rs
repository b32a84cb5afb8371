//! Dashboard users, their sessions, and failed sign-ins (SPEC §12).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Db, WriteTx, enum_column};
use crate::domain::dashboard::{IDLE_MS, LOCK_WINDOW_MS, Role};
use crate::domain::ids::new_id;

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub client_id: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub created_at: i64,
}

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        role: enum_column(row, "role")?,
        created_at: row.try_get("created_at")?,
    })
}

const USER_COLUMNS: &str = "id, client_id, email, password_hash, role, created_at";

/// A new user (in the caller's transaction, beside the events that report it); `Err` with a
/// unique violation when the email is taken.
pub async fn insert_user(
    tx: &mut WriteTx,
    client_id: &str,
    email: &str,
    password_hash: &str,
    role: Role,
    now: i64,
) -> Result<User, sqlx::Error> {
    let id = new_id("usr");
    sqlx::query(
        "INSERT INTO dashboard_users (id, client_id, email, password_hash, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(client_id)
    .bind(email)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(User {
        id,
        client_id: client_id.to_owned(),
        email: email.to_owned(),
        password_hash: password_hash.to_owned(),
        role,
        created_at: now,
    })
}

pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM dashboard_users WHERE email = $1");
    sqlx::query(&sql).bind(email).fetch_optional(db.pool()).await?.as_ref().map(user_from_row).transpose()
}

pub async fn set_password_hash(db: &Db, user_id: &str, password_hash: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE dashboard_users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now)
        .bind(user_id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// A client's users, oldest first (the Team page).
pub async fn users_of_client(db: &Db, client_id: &str) -> Result<Vec<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM dashboard_users WHERE client_id = $1 ORDER BY created_at, id");
    sqlx::query(&sql).bind(client_id).fetch_all(db.pool()).await?.iter().map(user_from_row).collect()
}

/// Starts a team change: one transaction in which the client's team is locked (so two owners
/// changing each other at once go one after the other); `None` when the acting user is no
/// longer an owner of the client (changed or removed meanwhile).
pub async fn begin_team_change(db: &Db, client_id: &str, actor_id: &str) -> Result<Option<WriteTx>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    // SQLite has one writer: its transactions are already one after the other.
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT id FROM clients WHERE id = $1 FOR NO KEY UPDATE").bind(client_id).execute(&mut *tx).await?;
    }
    let owner: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM dashboard_users WHERE id = $1 AND client_id = $2 AND role = $3")
            .bind(actor_id)
            .bind(client_id)
            .bind(Role::Owner.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    Ok(owner.map(|_| tx))
}

/// Changes the role of a user of `client_id` in a team change; the user as changed, or `None`.
pub async fn set_role(
    tx: &mut WriteTx,
    client_id: &str,
    id: &str,
    role: Role,
    now: i64,
) -> Result<Option<User>, sqlx::Error> {
    let sql = format!(
        "UPDATE dashboard_users SET role = $1, updated_at = $2 WHERE id = $3 AND client_id = $4 RETURNING {USER_COLUMNS}"
    );
    let row =
        sqlx::query(&sql).bind(role.as_str()).bind(now).bind(id).bind(client_id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Removes a user of `client_id` and ends their sessions, in a team change; the user as they
/// were, or `None`.
pub async fn delete_user(tx: &mut WriteTx, client_id: &str, id: &str) -> Result<Option<User>, sqlx::Error> {
    if tx.backend() == Backend::Postgres {
        // The user's row first: a sign-in's new session waits for this change (its foreign-key
        // check), so none can be added between the sessions' delete and the user's.
        sqlx::query("SELECT id FROM dashboard_users WHERE id = $1 AND client_id = $2 FOR UPDATE")
            .bind(id)
            .bind(client_id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "DELETE FROM dashboard_sessions WHERE user_id IN (SELECT id FROM dashboard_users WHERE id = $1 AND client_id = $2)",
    )
    .bind(id)
    .bind(client_id)
    .execute(&mut **tx)
    .await?;
    let sql = format!("DELETE FROM dashboard_users WHERE id = $1 AND client_id = $2 RETURNING {USER_COLUMNS}");
    let row = sqlx::query(&sql).bind(id).bind(client_id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(user_from_row).transpose()
}

/// A new sign-in session of `user_id`; false when the user was removed meanwhile (its foreign
/// key refuses it).
pub async fn insert_session(db: &Db, token_hash: &str, user_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO dashboard_sessions (token_hash, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .execute(db.writer())
    .await;
    match done {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The user of a session still in use, whose use this marks (one statement: a session idle for
/// 12 hours is never revived by a request racing its expiry).
pub async fn touch_session(db: &Db, token_hash: &str, now: i64) -> Result<Option<User>, sqlx::Error> {
    let touch = sqlx::query(
        "UPDATE dashboard_sessions SET last_seen_at = $1 WHERE token_hash = $2 AND last_seen_at > $3 RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash)
    .bind(now - IDLE_MS);
    let Some(row) = super::first_returned(touch, db.writer()).await? else { return Ok(None) };
    let user_id: String = row.try_get("user_id")?;
    let sql = format!("SELECT {USER_COLUMNS} FROM dashboard_users WHERE id = $1");
    sqlx::query(&sql).bind(user_id).fetch_optional(db.pool()).await?.as_ref().map(user_from_row).transpose()
}

pub async fn delete_session(db: &Db, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1").bind(token_hash).execute(db.writer()).await?;
    Ok(())
}

/// Until when `email` is locked, if it is.
pub async fn locked_until(db: &Db, email: &str, now: i64) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT locked_until FROM dashboard_lockouts WHERE email = $1 AND locked_until > $2")
        .bind(email)
        .bind(now)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get::<i64, _>("locked_until")).transpose()
}

/// Records a sign-in attempt as failed until it proves otherwise, and answers its id and how
/// many such attempts `email` has within the lock window, this one included. Recording before
/// the password is checked bounds the checks even when attempts race.
pub async fn begin_attempt(db: &Db, email: &str, now: i64) -> Result<(String, i64), sqlx::Error> {
    let id = new_id("sif");
    sqlx::query("INSERT INTO dashboard_signin_failures (id, email, at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(email)
        .bind(now)
        .execute(db.writer())
        .await?;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM dashboard_signin_failures WHERE email = $1 AND at > $2")
        .bind(email)
        .bind(now - LOCK_WINDOW_MS)
        .fetch_one(db.pool())
        .await?;
    Ok((id, row.try_get("n")?))
}

/// Forgets an attempt that was refused unchecked (the email was locked).
pub async fn forget_attempt(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM dashboard_signin_failures WHERE id = $1").bind(id).execute(db.writer()).await?;
    Ok(())
}

/// A good password: the email's failures are forgotten.
pub async fn clear_failures(db: &Db, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM dashboard_signin_failures WHERE email = $1").bind(email).execute(db.writer()).await?;
    Ok(())
}

pub async fn lock(db: &Db, email: &str, until: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dashboard_lockouts (email, locked_until) VALUES ($1, $2) \
         ON CONFLICT (email) DO UPDATE SET locked_until = excluded.locked_until",
    )
    .bind(email)
    .bind(until)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Housekeeping: failures older than the window and sessions idle past expiry.
pub async fn purge(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let failures = sqlx::query("DELETE FROM dashboard_signin_failures WHERE at <= $1")
        .bind(now - LOCK_WINDOW_MS)
        .execute(db.writer())
        .await?;
    let sessions = sqlx::query("DELETE FROM dashboard_sessions WHERE last_seen_at <= $1")
        .bind(now - IDLE_MS)
        .execute(db.writer())
        .await?;
    Ok(failures.rows_affected() + sessions.rows_affected())
}
