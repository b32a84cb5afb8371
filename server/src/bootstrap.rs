//! What must exist after start: the operator's bootstrap client, and in sandbox mode on an
//! empty database, a demo merchant to try everything with.

use serde::{Deserialize, Serialize};

use anyhow::Context;

use crate::config::Config;
use crate::domain::account::{Branding, FeeMethod, FeeRule, Funding, MethodType, ProcessorConfig};
use crate::domain::dashboard::Role;
use crate::domain::money::{Amount, Currency};
use crate::state::AppState;
use crate::store::{Db, accounts, app_clients, clients, meta};

/// `GOVIFI_BOOTSTRAP_CLIENT_ID` / `_SECRET`: an admin app client with exactly these credentials.
pub async fn ensure_bootstrap_client(db: &Db, config: &Config) -> anyhow::Result<()> {
    if let Some(bootstrap) = &config.bootstrap_client {
        app_clients::ensure(db, &bootstrap.client_id, &bootstrap.client_secret, "bootstrap").await?;
        tracing::info!(client_id = %bootstrap.client_id, "bootstrap app client is ready");
    }
    Ok(())
}

const MASTER_KEY_CHECK: &str = "master_key_check";

/// Refuses to go on with a master key other than the one this database's secrets were sealed
/// with: a process or a command run without `GOVIFI_MASTER_KEY` (and away from the
/// `data/master.key` the server uses) would otherwise seal new secrets under a key nobody keeps,
/// or fail on every sealed read. The first start leaves a value sealed under its key in `meta`;
/// on a database from before that check, only a key that opens an account's sealed secret may
/// leave it.
pub async fn check_master_key(db: &Db, config: &Config) -> anyhow::Result<()> {
    const WHICH: &str = "the master key (GOVIFI_MASTER_KEY, or data/master.key when it is unset)";
    let key = &config.master_key;
    let stored = match meta::get(db, MASTER_KEY_CHECK).await? {
        Some(stored) => stored,
        None => {
            if let Some(account) = accounts::oldest(db).await?
                && account.redirect_secret(key).is_err()
            {
                anyhow::bail!(
                    "{WHICH} does not open the secrets already in this database: start with the key they were sealed with"
                );
            }
            let made = crate::auth::sealed::seal(key, MASTER_KEY_CHECK, b"govifi");
            meta::set_if_absent(db, MASTER_KEY_CHECK, &made).await?;
            // Another process starting at once may have left its own.
            meta::get(db, MASTER_KEY_CHECK).await?.context("the master key check vanished")?
        }
    };
    if crate::auth::sealed::open(key, MASTER_KEY_CHECK, &stored).is_err() {
        anyhow::bail!(
            "{WHICH} is not the one this database's secrets are sealed with: start with the key the other processes use"
        );
    }
    Ok(())
}

const DEMO_KEY: &str = "sandbox_demo";
/// The demo's marker while a start creates it (`creating:<ms>`).
const CREATING: &str = "creating";
/// A marker this old belongs to a start that was killed while creating the demo.
const CREATION_ABANDONED_MS: i64 = 120_000;
const DEMO_USER_KEY: &str = "sandbox_demo_user";
/// The sandbox's dashboard user (SPEC §12).
pub const DEMO_EMAIL: &str = "demo@govifi.test";

/// The sandbox demo's ids, kept in `meta` so later starts can name them.
#[derive(Clone, Serialize, Deserialize)]
pub struct Demo {
    pub app_client_id: String,
    pub account_uid: String,
    /// Known only at the start that generated it; never one the operator supplied.
    #[serde(skip)]
    pub app_client_secret: Option<String>,
    #[serde(skip)]
    pub redirect_signing_secret: Option<String>,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secrets are printed once, on purpose, by `announce`; never by a debug print.
        f.debug_struct("Demo")
            .field("app_client_id", &self.app_client_id)
            .field("account_uid", &self.account_uid)
            .finish_non_exhaustive()
    }
}

/// In sandbox mode, creates the demo on an empty database (exactly once, even with several
/// processes starting together) and returns it; `None` outside sandbox mode or while another
/// process is still creating it.
pub async fn ensure_sandbox_demo(state: &AppState) -> anyhow::Result<Option<Demo>> {
    let config = state.config();
    let db = state.db();
    if !config.sandbox {
        return Ok(None);
    }
    let now = crate::store::now_ms();
    let marker = format!("{CREATING}:{now}");
    if !meta::set_if_absent(db, DEMO_KEY, &marker).await? {
        let stored = meta::get(db, DEMO_KEY).await?.unwrap_or_default();
        let Some(since) = stored.strip_prefix(CREATING) else {
            // A later start: the ids, and no secret (a generated one was shown once).
            return Ok(serde_json::from_str::<Demo>(&stored).ok());
        };
        // Another process is creating it; unless a start was killed doing so, long ago (its
        // marker would otherwise keep every later start from making the demo).
        let since: i64 = since.strip_prefix(':').and_then(|t| t.parse().ok()).unwrap_or(0);
        if now - since < CREATION_ABANDONED_MS || !meta::replace(db, DEMO_KEY, &stored, &marker).await? {
            return Ok(None);
        }
        tracing::warn!("an earlier start stopped while creating the sandbox demo: creating it again");
    }
    match create_demo(state).await {
        Ok(demo) => {
            meta::set(db, DEMO_KEY, &serde_json::to_string(&demo)?).await?;
            Ok(Some(demo))
        }
        Err(e) => {
            // Let the next start try again.
            let _ = meta::delete(db, DEMO_KEY).await;
            Err(e)
        }
    }
}

async fn create_demo(state: &AppState) -> anyhow::Result<Demo> {
    let config = state.config();
    let db = state.db();
    // The operator's bootstrap client, whose secret they gave us (never echoed), or a new one.
    let (app_client_id, app_client_secret) = match &config.bootstrap_client {
        Some(b) => (b.client_id.clone(), None),
        None => {
            let (client, secret) = app_clients::create(db, "sandbox demo").await?;
            (client.client_id, Some(secret))
        }
    };
    let tenant = clients::insert(db, "Demo City Hall", Some("payments@demo-city.example"), &Default::default()).await?;
    let amount = |minor| Amount::new(minor).expect("static amount");
    let (account, redirect_secret) = accounts::insert(
        db,
        &config.master_key,
        accounts::NewAccount {
            client_id: tenant.id,
            name: "Utility payments".into(),
            currency: Currency::parse("USD").expect("USD is a currency"),
            processor: ProcessorConfig::Sandbox { credentials: None },
            enabled_methods: MethodType::ALL.to_vec(),
            // A typical convenience-fee schedule: debit cards flat, credit by percentage, ACH flat.
            fee_rules: vec![
                FeeRule {
                    method: FeeMethod::Card,
                    card_funding: Some(Funding::Debit),
                    percent_bps: 0,
                    fixed_amount: amount(395),
                    min_fee: None,
                    max_fee: None,
                },
                FeeRule {
                    method: FeeMethod::Card,
                    card_funding: None,
                    percent_bps: 295,
                    fixed_amount: amount(0),
                    min_fee: Some(amount(195)),
                    max_fee: None,
                },
                FeeRule {
                    method: FeeMethod::Ach,
                    card_funding: None,
                    percent_bps: 0,
                    fixed_amount: amount(150),
                    min_fee: None,
                    max_fee: None,
                },
                FeeRule {
                    method: FeeMethod::ApplePay,
                    card_funding: None,
                    percent_bps: 295,
                    fixed_amount: amount(0),
                    min_fee: Some(amount(195)),
                    max_fee: None,
                },
            ],
            branding: Branding {
                display_name: Some("City of Example — Utilities".into()),
                logo_url: None,
                primary_color: Some("#1A5FB4".into()),
            },
            allowed_origins: vec!["http://localhost:3000".into()],
            statement_descriptor: Some("CITY OF EXAMPLE UTIL".into()),
            reject_avs_mismatch: false,
            metadata: Default::default(),
        },
    )
    .await?;
    Ok(Demo {
        app_client_id,
        account_uid: account.uid,
        app_client_secret,
        redirect_signing_secret: Some(redirect_secret),
    })
}

/// In sandbox mode, the dashboard's demo user (an owner of the demo tenant), created once; the
/// password it was made with when this call made it and generated it (never one the operator
/// gave in `GOVIFI_SANDBOX_DEMO_PASSWORD`). A password given there is the demo user's at every
/// start, so the one `cargo xtask run` prints works even on a database an earlier start made.
pub async fn ensure_demo_user(state: &AppState, demo: &Demo) -> anyhow::Result<Option<String>> {
    let db = state.db();
    if !meta::set_if_absent(db, DEMO_USER_KEY, DEMO_EMAIL).await? {
        if let Some(given) = state.config().demo_password.clone()
            && crate::dashboard::reset_password(db, DEMO_EMAIL, given).await?
        {
            tracing::info!("the sandbox demo user now has the password in GOVIFI_SANDBOX_DEMO_PASSWORD");
        }
        return Ok(None);
    }
    let made = async {
        let account = accounts::get(db, &demo.account_uid).await?.context("the demo account")?;
        let given = state.config().demo_password.clone();
        let (_, generated) = crate::dashboard::create_user(db, &account.client_id, DEMO_EMAIL, Role::Owner, given)
            .await
            .map_err(|e| anyhow::anyhow!("creating the demo user: {e}"))?;
        anyhow::Ok(generated)
    }
    .await;
    if made.is_err() {
        let _ = meta::delete(db, DEMO_USER_KEY).await;
    }
    made
}

/// Prints where things are, and in sandbox mode the demo's credentials.
pub async fn announce(state: &AppState) -> anyhow::Result<()> {
    let config = state.config();
    let url = &config.public_url;
    let mut out = String::new();
    out.push_str("\n== Govifi is running ==\n");
    out.push_str(&format!("  API console:  {url}/docs\n  OpenAPI:      {url}/openapi.json\n"));
    out.push_str(&format!("  Health:       {url}/healthz  {url}/readyz  {url}/metrics\n"));
    out.push_str(&format!("  Database:     {}\n", state.db().backend().name()));
    if let Some(demo) = ensure_sandbox_demo(state).await? {
        out.push_str(&format!("  Sandbox mode: demo page {url}/demo\n\n"));
        out.push_str(&format!("  App client id:      {}\n", demo.app_client_id));
        let bootstrap = config.bootstrap_client.as_ref().is_some_and(|b| b.client_id == demo.app_client_id);
        match &demo.app_client_secret {
            Some(secret) => out.push_str(&format!("  App client secret:  {secret}  (shown once)\n")),
            None if bootstrap => out.push_str("  App client secret:  the one in GOVIFI_BOOTSTRAP_CLIENT_SECRET\n"),
            None => out.push_str(
                "  App client secret:  (shown at the first start only; make another with \
                 `govifi-server app-client create --name NAME`)\n",
            ),
        }
        out.push_str(&format!("  Demo account uid:   {}\n", demo.account_uid));
        let password = ensure_demo_user(state, &demo).await?;
        out.push_str(&format!("  Dashboard:          {url}/dashboard  (user {DEMO_EMAIL})\n"));
        match password {
            Some(password) => out.push_str(&format!("  Dashboard password: {password}  (shown once)\n")),
            None if state.config().demo_password.is_some() => {
                out.push_str("  Dashboard password: the one in GOVIFI_SANDBOX_DEMO_PASSWORD\n")
            }
            None => out.push_str("  Dashboard password: (shown at the first start only)\n"),
        }
        if let Some(secret) = &demo.redirect_signing_secret {
            out.push_str(&format!("  Redirect signing secret: {secret}  (shown once)\n"));
        }
        if let Some(secret) = &demo.app_client_secret {
            out.push_str(&format!(
                "\n  Get a token:\n    curl -s -X POST {url}/oauth2/token -u '{}:{secret}' \\\n      \
                 -d grant_type=client_credentials -d scope={}\n",
                demo.app_client_id,
                app_clients::ADMIN_SCOPE
            ));
        }
    } else if config.sandbox {
        out.push_str("  Sandbox mode: the demo is being created by another process\n");
    }
    println!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debug_print_shows_no_secret() {
        let demo = Demo {
            app_client_id: "cli_demo".into(),
            account_uid: "pa_demo".into(),
            app_client_secret: Some("client-secret-shown-once".into()),
            redirect_signing_secret: Some("grs_shown_once".into()),
        };
        let shown = format!("{demo:?}");
        assert!(shown.contains("cli_demo") && !shown.contains("shown-once") && !shown.contains("grs_"), "{shown}");
    }
}
