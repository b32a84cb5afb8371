//! Dashboard users and sign-in (SPEC §12): creating users, signing in with the lockout,
//! sessions that end after 12 idle hours, and the check every dashboard server function makes.

pub mod guard;
pub mod reports;

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

use crate::auth::secrets::hash_secret;
use crate::domain::dashboard::{LOCK_MS, MAX_FAILURES, Role, normalize_email};
use crate::domain::event::EventType;
use crate::domain::ids::{has_shape, random_base62};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::{self, Db, WriteTx, dashboard::User};
use crate::views::TeamMemberObject;

/// Passwords we accept (and generate: 20 base62 characters, about 119 bits).
const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 200;

/// How many Argon2id computations run at once, at most: half the machine's cores (at least
/// one, at most four). Each takes 19 MiB and a core for tens of milliseconds, so a flood of
/// sign-ins queues here instead of taking the machine's memory, and leaves the other cores to
/// the requests being answered.
pub fn argon2_slots() -> usize {
    std::thread::available_parallelism().map(|n| n.get() / 2).unwrap_or(1).clamp(1, 4)
}

fn argon2() -> &'static tokio::sync::Semaphore {
    static ARGON2: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    ARGON2.get_or_init(|| tokio::sync::Semaphore::new(argon2_slots()))
}

/// Argon2id with its default cost (19 MiB, 2 passes), off the async threads.
async fn hash_password(password: String) -> anyhow::Result<String> {
    let _slot = argon2().acquire().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(anyhow::Error::msg)
    })
    .await?
}

async fn verify_password(password: String, stored: String) -> anyhow::Result<bool> {
    let _slot = argon2().acquire().await?;
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else { return false };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    })
    .await
    .map_err(Into::into)
}

/// A hash no password matches, checked for emails without a user so that both take as long.
async fn decoy_hash() -> anyhow::Result<String> {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DECOY.get() {
        return Ok(h.clone());
    }
    let hash = hash_password(random_base62(32)).await?;
    Ok(DECOY.get_or_init(|| hash).clone())
}

/// A new user of client `client_id` (the command line and the sandbox's first start); with no
/// password given, one is generated and answered (shown once).
pub async fn create_user(
    db: &Db,
    client_id: &str,
    email: &str,
    role: Role,
    password: Option<String>,
) -> Result<(User, Option<String>), ApiError> {
    if store::clients::get(db, client_id).await?.is_none() {
        return Err(ApiError::invalid("client_id", "no such client"));
    }
    let (email, hash, generated) = new_credentials(email, password).await?;
    let tx = db.begin_write().await?;
    let user = insert_member(tx, client_id, &email, &hash, role).await?;
    Ok((user, generated))
}

/// A new teammate added by `actor` from the dashboard, while still an owner (checked under the
/// team's lock, like a role change: an owner removed meanwhile adds nobody); answers their
/// generated password (shown once).
pub async fn add_user(db: &Db, actor: &User, email: &str, role: Role) -> Result<(User, String), ApiError> {
    let (email, hash, generated) = new_credentials(email, None).await?;
    let tx = team_change(db, actor).await?;
    let user = insert_member(tx, &actor.client_id, &email, &hash, role).await?;
    Ok((user, generated.unwrap_or_default()))
}

/// The normalised email, the password's hash, and the password when it was generated.
async fn new_credentials(email: &str, password: Option<String>) -> Result<(String, String, Option<String>), ApiError> {
    let email = normalize_email(email).ok_or_else(|| ApiError::invalid("email", "email must be an email address"))?;
    let generated = password.is_none().then(|| random_base62(20));
    let password = password.or_else(|| generated.clone()).unwrap_or_default();
    if !password_length_ok(&password) {
        return Err(ApiError::invalid("password", PASSWORD_LENGTH));
    }
    // Hashed before any transaction: tens of milliseconds no lock should wait for.
    let hash = hash_password(password).await?;
    Ok((email, hash, generated))
}

/// Inserts the user with their `team.member_added` events and commits.
async fn insert_member(
    mut tx: WriteTx,
    client_id: &str,
    email: &str,
    hash: &str,
    role: Role,
) -> Result<User, ApiError> {
    let user = match store::dashboard::insert_user(&mut tx, client_id, email, hash, role, store::now_ms()).await {
        Ok(user) => user,
        Err(e) if store::is_unique_violation(&e) => {
            return Err(ApiError::new(ErrorCode::ResourceInUse, "a user with this email exists").with_param("email"));
        }
        Err(e) => return Err(e.into()),
    };
    record_team_change(&mut tx, EventType::TeamMemberAdded, &user).await?;
    tx.commit().await?;
    Ok(user)
}

/// Records a change to a client's team on each of its payment accounts (events belong to an
/// account; the team is the client's), in the change's transaction.
async fn record_team_change(tx: &mut WriteTx, kind: EventType, user: &User) -> Result<(), ApiError> {
    let member = TeamMemberObject::from(user);
    for uid in store::accounts::uids_of_client_on(tx, &user.client_id).await? {
        store::events::record(tx, &uid, kind, &member).await?;
    }
    Ok(())
}

const PASSWORD_LENGTH: &str = "a password has 12 to 200 characters";

fn password_length_ok(password: &str) -> bool {
    (MIN_PASSWORD..=MAX_PASSWORD).contains(&password.chars().count())
}

/// Gives an existing user the password `password` unless it already has it; true if changed.
/// (The sandbox's demo user takes the one `GOVIFI_SANDBOX_DEMO_PASSWORD` names at every start.)
pub async fn reset_password(db: &Db, email: &str, password: String) -> anyhow::Result<bool> {
    if !password_length_ok(&password) {
        anyhow::bail!(PASSWORD_LENGTH);
    }
    let Some(user) = store::dashboard::user_by_email(db, email).await? else { return Ok(false) };
    if verify_password(password.clone(), user.password_hash).await? {
        return Ok(false);
    }
    let hash = hash_password(password).await?;
    store::dashboard::set_password_hash(db, &user.id, &hash, store::now_ms()).await?;
    Ok(true)
}

/// Why a sign-in did not open a session.
#[derive(Debug)]
pub enum SignInRefused {
    /// Unknown email or wrong password (the same answer for both).
    Invalid,
    /// Too many failures: no password is checked until then.
    Locked {
        until: i64,
    },
    Internal(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for SignInRefused {
    fn from(e: E) -> Self {
        SignInRefused::Internal(e.into())
    }
}

/// A signed-in user and the session token for their cookie (kept only as a hash).
pub struct SignedIn {
    pub user: User,
    pub token: String,
}

/// Checks an email and password. Five failures for one email within 15 minutes lock it for
/// 15 minutes; an attempt is counted before its password is checked, so racing attempts get
/// no more than five checks either.
pub async fn sign_in(state: &AppState, email: &str, password: &str, now: i64) -> Result<SignedIn, SignInRefused> {
    let db = state.db();
    let Some(email) = normalize_email(email) else { return Err(SignInRefused::Invalid) };
    if let Some(until) = store::dashboard::locked_until(db, &email, now).await? {
        return Err(SignInRefused::Locked { until });
    }
    let (attempt, count) = store::dashboard::begin_attempt(db, &email, now).await?;
    if count > MAX_FAILURES {
        store::dashboard::forget_attempt(db, &attempt).await?;
        let until = store::dashboard::locked_until(db, &email, now).await?.unwrap_or(now + LOCK_MS);
        return Err(SignInRefused::Locked { until });
    }
    let user = store::dashboard::user_by_email(db, &email).await?;
    let stored = match &user {
        Some(u) => u.password_hash.clone(),
        None => decoy_hash().await?,
    };
    let good = verify_password(password.to_owned(), stored).await?;
    match user {
        Some(user) if good => {
            store::dashboard::clear_failures(db, &email).await?;
            let token = random_base62(43);
            // A user removed since they were read signs in to nothing.
            if !store::dashboard::insert_session(db, &hash_secret(&token), &user.id, now).await? {
                return Err(SignInRefused::Invalid);
            }
            Ok(SignedIn { user, token })
        }
        _ => {
            if count >= MAX_FAILURES {
                store::dashboard::lock(db, &email, now + LOCK_MS).await?;
                // The typed address is not logged (it is personal data, and may be anyone's).
                tracing::warn!(failures = count, "a dashboard sign-in address locked after repeated failures");
            }
            Err(SignInRefused::Invalid)
        }
    }
}

/// The user behind a session cookie, if the session is still in use (and now used again).
pub async fn session_user(db: &Db, token: &str, now: i64) -> Result<Option<User>, sqlx::Error> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    store::dashboard::touch_session(db, &hash_secret(token), now).await
}

/// Changes a teammate's role (owners only: checked by the caller, and again in the change's
/// own transaction). Nobody changes their own, so a client always keeps an owner.
pub async fn set_role(db: &Db, actor: &User, id: &str, role: Role) -> Result<(), ApiError> {
    if !has_shape(id, "usr") {
        return Err(ApiError::not_found("user"));
    }
    if id == actor.id {
        return Err(ApiError::invalid("id", "you cannot change your own role"));
    }
    let mut tx = team_change(db, actor).await?;
    let user = store::dashboard::set_role(&mut tx, &actor.client_id, id, role, store::now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    record_team_change(&mut tx, EventType::TeamMemberRoleChanged, &user).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a teammate and ends their sessions (owners only, as for roles); nobody removes
/// themselves.
pub async fn remove_user(db: &Db, actor: &User, id: &str) -> Result<(), ApiError> {
    if !has_shape(id, "usr") {
        return Err(ApiError::not_found("user"));
    }
    if id == actor.id {
        return Err(ApiError::invalid("id", "you cannot remove yourself"));
    }
    let mut tx = team_change(db, actor).await?;
    let user = store::dashboard::delete_user(&mut tx, &actor.client_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    record_team_change(&mut tx, EventType::TeamMemberRemoved, &user).await?;
    tx.commit().await?;
    Ok(())
}

/// The transaction of a change `actor` makes to their team, while they are still its owner.
async fn team_change(db: &Db, actor: &User) -> Result<WriteTx, ApiError> {
    store::dashboard::begin_team_change(db, &actor.client_id, &actor.id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Forbidden, "Only an owner changes the team"))
}

pub async fn sign_out(db: &Db, token: &str) -> Result<(), sqlx::Error> {
    store::dashboard::delete_session(db, &hash_secret(token)).await
}
