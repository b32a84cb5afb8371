//! The `GOVIFI_*` variables of SPEC §10, parsed once into typed configuration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::domain::payment::AuthorizationWindow;

/// The 32-byte key that encrypts secrets at rest (signing keys, processor credentials).
#[derive(Clone)]
pub struct MasterKey(pub [u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn parse(b64: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD.decode(b64.trim()).context("GOVIFI_MASTER_KEY is not valid base64")?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|_| anyhow::anyhow!("GOVIFI_MASTER_KEY must decode to exactly 32 bytes"))?;
        Ok(MasterKey(key))
    }

    pub fn generate() -> Self {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        MasterKey(key)
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

/// Credentials of an app client that must exist after start (automation).
#[derive(Clone)]
pub struct BootstrapClient {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for BootstrapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapClient").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// Its `Debug` leaves out what may hold a password: the database and SMTP URLs and the demo
/// password (the master key and the bootstrap secret redact themselves).
#[derive(Clone)]
pub struct Config {
    /// `GOVIFI_BIND`
    pub bind: SocketAddr,
    /// `GOVIFI_PUBLIC_URL`, without a trailing slash: base of `hosted_url`, `embed_url` and `iss`.
    pub public_url: String,
    /// `GOVIFI_DATABASE_URL`
    pub database_url: String,
    /// `GOVIFI_DATABASE_MAX_CONNECTIONS`: the most database connections this process opens
    /// (PostgreSQL; on SQLite, readers, at most [`crate::store::SQLITE_READERS`], beside one writer).
    pub database_max_connections: u32,
    /// `GOVIFI_MASTER_KEY`
    pub master_key: MasterKey,
    /// `GOVIFI_SANDBOX`
    pub sandbox: bool,
    /// `GOVIFI_ASSETS_DIR`: the element's build output (Trunk's `dist`).
    pub assets_dir: PathBuf,
    /// `GOVIFI_OAUTH_ISSUER` and `GOVIFI_OAUTH_JWKS_URL`
    pub external_issuer: Option<ExternalIssuer>,
    /// `GOVIFI_BOOTSTRAP_CLIENT_ID` and `GOVIFI_BOOTSTRAP_CLIENT_SECRET`
    pub bootstrap_client: Option<BootstrapClient>,
    /// `GOVIFI_SMTP_URL`
    pub smtp_url: Option<String>,
    /// The sender of customers' mail (`GOVIFI_SMTP_FROM`); default `no-reply@` the public host.
    pub smtp_from: Option<String>,
    /// `GOVIFI_WEBHOOK_ALLOW_PRIVATE`
    pub webhook_allow_private: bool,
    /// `GOVIFI_AUTH_FAILURES_PER_MINUTE`: failed authentications a client address may make a
    /// minute (after a burst of as many) before it is turned away; 0 turns the guard off.
    pub auth_failures_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`GOVIFI_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `GOVIFI_SANDBOX_DEMO_PASSWORD`: the sandbox dashboard user's password (generated and
    /// printed once when unset).
    pub demo_password: Option<String>,
    /// `GOVIFI_AUTHORIZATION_DAYS`: how long an authorization may wait for its capture before
    /// the server voids it (7; 0 for never, at most 31).
    pub authorization_window: AuthorizationWindow,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("public_url", &self.public_url)
            .field("database_max_connections", &self.database_max_connections)
            .field("master_key", &self.master_key)
            .field("sandbox", &self.sandbox)
            .field("assets_dir", &self.assets_dir)
            .field("external_issuer", &self.external_issuer)
            .field("bootstrap_client", &self.bootstrap_client)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("auth_failures_per_minute", &self.auth_failures_per_minute)
            .field("authorization_window", &self.authorization_window)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct ExternalIssuer {
    pub issuer: String,
    pub jwks_url: String,
}

/// Failed authentications a client address may make a minute, by default.
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 60;

/// Database connections a process opens, by default.
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 16;

/// Where local state lives when nothing else is configured (SQLite file, generated master key).
pub const DATA_DIR: &str = "data";

/// The workspace's build output, used when `GOVIFI_ASSETS_DIR` is not set.
pub fn default_assets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("dist")
}

/// Variables whose blank value is an error rather than their default: a blank sandbox switch
/// would turn sandbox mode on, a blank master key would make a new one (nothing sealed under
/// the real key would open).
const NEVER_BLANK: [&str; 2] = ["GOVIFI_SANDBOX", "GOVIFI_MASTER_KEY"];

impl Config {
    /// The origin of `public_url` (`https://checkout.example`): where the pages, the element
    /// and the dashboard are served from.
    pub fn public_origin(&self) -> String {
        url::Url::parse(&self.public_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
    }

    /// Reads the process environment (after `.env`, which `main` loads).
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Parses configuration from any variable source (tests pass a map). A blank value counts
    /// as unset, except where that would be silently unsafe (see [`NEVER_BLANK`]).
    pub fn from_lookup(raw: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        for name in NEVER_BLANK {
            if raw(name).is_some_and(|v| v.trim().is_empty()) {
                bail!("{name} is set but empty: give it a value, or unset it for the default");
            }
        }
        let get = |name: &str| raw(name).filter(|v| !v.trim().is_empty());
        let bind: SocketAddr = match get("GOVIFI_BIND") {
            Some(v) => v.parse().with_context(|| format!("GOVIFI_BIND={v:?} is not an address like 127.0.0.1:8080"))?,
            None => "127.0.0.1:8080".parse().expect("static address"),
        };
        let public_url = match get("GOVIFI_PUBLIC_URL") {
            Some(v) => {
                let v = v.trim_end_matches('/').to_owned();
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    bail!("GOVIFI_PUBLIC_URL={v:?} must start with http:// or https://");
                }
                v
            }
            None => format!("http://{bind}"),
        };
        let sandbox = parse_bool(&get, "GOVIFI_SANDBOX", true)?;
        let database_url =
            get("GOVIFI_DATABASE_URL").unwrap_or_else(|| format!("sqlite://{DATA_DIR}/govifi.db?mode=rwc"));
        let database_max_connections = match get("GOVIFI_DATABASE_MAX_CONNECTIONS") {
            None => DEFAULT_DATABASE_MAX_CONNECTIONS,
            Some(v) => v.trim().parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                anyhow::anyhow!("GOVIFI_DATABASE_MAX_CONNECTIONS={v:?} must be a whole number from 1 to 1000")
            })?,
        };
        let master_key = match get("GOVIFI_MASTER_KEY") {
            Some(v) => MasterKey::parse(&v)?,
            None => load_or_generate_master_key(Path::new(DATA_DIR))?,
        };
        let assets_dir = get("GOVIFI_ASSETS_DIR").map(PathBuf::from).unwrap_or_else(default_assets_dir);
        let external_issuer = match (get("GOVIFI_OAUTH_ISSUER"), get("GOVIFI_OAUTH_JWKS_URL")) {
            (Some(issuer), Some(jwks_url)) => {
                Some(ExternalIssuer { issuer: issuer.trim_end_matches('/').to_owned(), jwks_url })
            }
            (None, None) => None,
            _ => bail!("GOVIFI_OAUTH_ISSUER and GOVIFI_OAUTH_JWKS_URL must be set together"),
        };
        let bootstrap_client = match (get("GOVIFI_BOOTSTRAP_CLIENT_ID"), get("GOVIFI_BOOTSTRAP_CLIENT_SECRET")) {
            (Some(client_id), Some(client_secret)) => {
                if client_secret.len() < 16 {
                    bail!("GOVIFI_BOOTSTRAP_CLIENT_SECRET must be at least 16 characters");
                }
                Some(BootstrapClient { client_id, client_secret })
            }
            (None, None) => None,
            _ => bail!("GOVIFI_BOOTSTRAP_CLIENT_ID and GOVIFI_BOOTSTRAP_CLIENT_SECRET must be set together"),
        };
        let smtp_url = get("GOVIFI_SMTP_URL");
        let smtp_from = get("GOVIFI_SMTP_FROM");
        let webhook_allow_private = parse_bool(&get, "GOVIFI_WEBHOOK_ALLOW_PRIVATE", sandbox)?;
        let demo_password = get("GOVIFI_SANDBOX_DEMO_PASSWORD");
        let auth_failures_per_minute = match get("GOVIFI_AUTH_FAILURES_PER_MINUTE") {
            None => DEFAULT_AUTH_FAILURES_PER_MINUTE,
            Some(v) => v.trim().parse().map_err(|_| {
                anyhow::anyhow!("GOVIFI_AUTH_FAILURES_PER_MINUTE must be a whole number (0 turns the guard off)")
            })?,
        };
        let trusted_proxies = match get("GOVIFI_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse::<ipnet::IpNet>()
                        .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            anyhow::anyhow!(
                                "GOVIFI_TRUSTED_PROXIES: {p:?} is not an address or a network like 10.0.0.0/8"
                            )
                        })
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let authorization_window = match get("GOVIFI_AUTHORIZATION_DAYS") {
            None => AuthorizationWindow::DEFAULT,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(days) if days <= AuthorizationWindow::MAX_DAYS => AuthorizationWindow::days(days),
                _ => bail!(
                    "GOVIFI_AUTHORIZATION_DAYS must be a whole number of days up to {} (0: authorizations never expire)",
                    AuthorizationWindow::MAX_DAYS
                ),
            },
        };
        if demo_password.as_ref().is_some_and(|p| p.chars().count() < 12) {
            bail!("GOVIFI_SANDBOX_DEMO_PASSWORD must be at least 12 characters");
        }
        Ok(Config {
            bind,
            public_url,
            database_url,
            database_max_connections,
            master_key,
            sandbox,
            assets_dir,
            external_issuer,
            bootstrap_client,
            smtp_url,
            smtp_from,
            webhook_allow_private,
            demo_password,
            auth_failures_per_minute,
            authorization_window,
            trusted_proxies,
        })
    }
}

fn parse_bool(get: &impl Fn(&str) -> Option<String>, name: &str, default: bool) -> anyhow::Result<bool> {
    match get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
        Some(v) => bail!("{name}={v:?} must be true or false"),
    }
}

/// Without `GOVIFI_MASTER_KEY`, a key is kept in `data/master.key` (created on first start).
fn load_or_generate_master_key(dir: &Path) -> anyhow::Result<MasterKey> {
    let path = dir.join("master.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return MasterKey::parse(&text).with_context(|| format!("in {}", path.display()));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = MasterKey::generate();
    write_private(&path, &key.to_base64())?;
    tracing::warn!(
        path = %path.display(),
        "GOVIFI_MASTER_KEY is not set: generated a master key into this file. Back it up, or set \
         GOVIFI_MASTER_KEY in production; secrets stored with it cannot be read without it."
    );
    Ok(key)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        map.entry("GOVIFI_MASTER_KEY".into()).or_insert_with(|| MasterKey::generate().to_base64());
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(c.sandbox);
        assert!(c.webhook_allow_private, "sandbox allows private webhook targets by default");
        assert!(c.database_url.starts_with("sqlite://data/"));
        assert!(c.external_issuer.is_none() && c.bootstrap_client.is_none() && c.smtp_url.is_none());
        assert_eq!(c.auth_failures_per_minute, 60);
        assert_eq!(c.database_max_connections, DEFAULT_DATABASE_MAX_CONNECTIONS);
    }

    #[test]
    fn the_pool_size_is_bounded() {
        assert_eq!(parse(&[("GOVIFI_DATABASE_MAX_CONNECTIONS", " 4 ")]).unwrap().database_max_connections, 4);
        for bad in ["0", "1001", "-3", "many"] {
            let err = parse(&[("GOVIFI_DATABASE_MAX_CONNECTIONS", bad)]).unwrap_err().to_string();
            assert!(err.contains("GOVIFI_DATABASE_MAX_CONNECTIONS"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_auth_failure_guard_can_be_tuned_or_turned_off() {
        assert_eq!(parse(&[("GOVIFI_AUTH_FAILURES_PER_MINUTE", "0")]).unwrap().auth_failures_per_minute, 0);
        assert_eq!(parse(&[("GOVIFI_AUTH_FAILURES_PER_MINUTE", " 300 ")]).unwrap().auth_failures_per_minute, 300);
    }

    #[test]
    fn the_authorization_window_is_a_week_or_what_is_set() {
        assert_eq!(parse(&[]).unwrap().authorization_window, AuthorizationWindow::DEFAULT);
        let days = |v: &str| parse(&[("GOVIFI_AUTHORIZATION_DAYS", v)]).map(|c| c.authorization_window.in_days());
        assert_eq!(days("0").unwrap(), None, "0: never");
        assert_eq!(days(" 30 ").unwrap(), Some(30));
        assert!(days("32").is_err() && days("-1").is_err() && days("a week").is_err());
        let err = parse(&[("GOVIFI_AUTH_FAILURES_PER_MINUTE", "lots")]).unwrap_err().to_string();
        assert!(err.contains("GOVIFI_AUTH_FAILURES_PER_MINUTE"), "{err}");
    }

    #[test]
    fn public_url_loses_its_trailing_slash_and_production_denies_private_webhooks() {
        let c = parse(&[("GOVIFI_PUBLIC_URL", "https://pay.example.gov/"), ("GOVIFI_SANDBOX", "false")]).unwrap();
        assert_eq!(c.public_url, "https://pay.example.gov");
        assert!(!c.sandbox && !c.webhook_allow_private);
    }

    #[test]
    fn a_blank_sandbox_switch_or_master_key_is_refused_not_defaulted() {
        // (An uninjected secret, a half-edited template: the default would be sandbox mode, or
        // a new key under which nothing sealed so far opens.)
        for name in ["GOVIFI_SANDBOX", "GOVIFI_MASTER_KEY"] {
            let err = parse(&[(name, " ")]).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("empty"), "{err}");
        }
        assert!(parse(&[("GOVIFI_SMTP_URL", "")]).unwrap().smtp_url.is_none(), "others: blank is unset");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = parse(&[("GOVIFI_BIND", "nowhere")]).unwrap_err().to_string();
        assert!(err.contains("GOVIFI_BIND"), "{err}");
        let err = parse(&[("GOVIFI_MASTER_KEY", "c2hvcnQ=")]).unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
        let err = parse(&[("GOVIFI_OAUTH_ISSUER", "https://cognito")]).unwrap_err().to_string();
        assert!(err.contains("GOVIFI_OAUTH_JWKS_URL"), "{err}");
        let err = parse(&[("GOVIFI_SANDBOX", "maybe")]).unwrap_err().to_string();
        assert!(err.contains("GOVIFI_SANDBOX"), "{err}");
    }

    #[test]
    fn a_generated_master_key_is_kept_for_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate_master_key(dir.path()).unwrap();
        let second = load_or_generate_master_key(dir.path()).unwrap();
        assert_eq!(first.0, second.0);
    }
}
