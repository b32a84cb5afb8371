//! `govifi-server`: serve (the default), or operator commands.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::app::{self, AppState};
use server::store::{Db, app_clients};
use server::{Config, telemetry};

/// mimalloc, not glibc's malloc. Under the bench's loads glibc's malloc and free took about a
/// fifth of the server's CPU (`perf`); with mimalloc `GET config` serves ~20 % more requests at
/// about the same peak RSS (`server/benches/HISTORY.md`, stop 29). Its `override` feature gives
/// it C's `malloc` and `free` in this binary too, so the bundled SQLite's allocations (page
/// caches, statements) leave glibc as well. Only the binary: in-process tests keep the system
/// allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "govifi-server", version, about = "Govifi Payments server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the APIs and pages (the default).
    Serve,
    /// Manage OAuth 2.0 app clients.
    AppClient {
        #[command(subcommand)]
        command: AppClientCommand,
    },
    /// Manage the identity provider's token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage dashboard users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a dashboard user of a client; prints a one-time password unless one is read from
    /// standard input.
    Create {
        /// The client (tenant), `cli_…`.
        #[arg(long)]
        client: String,
        #[arg(long)]
        email: String,
        /// owner, admin, developer or viewer.
        #[arg(long)]
        role: String,
        /// Read the password from standard input (its first line) instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Start signing with a new key; older keys stay published until their tokens expire.
    Rotate,
}

#[derive(Subcommand)]
enum AppClientCommand {
    /// Create an app client with the admin scope; prints its id and secret once.
    Create {
        #[arg(long)]
        name: String,
    },
}

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: reading .env: {e}");
        return ExitCode::FAILURE;
    }
    telemetry::init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // In the log (JSON where it is JSON) and plainly on stderr, which a terminal shows.
            tracing::error!(error = format!("{e:#}"), "govifi-server stopped");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::AppClient { command: AppClientCommand::Create { name } } => {
            let name = name.trim();
            anyhow::ensure!(!name.is_empty() && name.len() <= 200, "--name must be 1 to 200 characters");
            let db = open_db(&config).await?;
            let (client, secret) = app_clients::create(&db, name).await?;
            println!("client_id:     {}", client.client_id);
            println!("client_secret: {secret}");
            println!("scope:         {}", app_clients::ADMIN_SCOPE);
            println!("(the secret is shown only now; it is stored hashed)");
            db.close().await;
            Ok(())
        }
        Command::User { command: UserCommand::Create { client, email, role, password_stdin } } => {
            let role = server::domain::dashboard::Role::parse(&role)
                .context("--role must be owner, admin, developer or viewer")?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let db = open_db(&config).await?;
            let made = server::dashboard::create_user(&db, client.trim(), &email, role, password).await;
            db.close().await;
            let (user, generated) = made.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("user:     {} ({})", user.email, user.id);
            println!("client:   {}", user.client_id);
            println!("role:     {}", user.role);
            if let Some(password) = generated {
                println!("password: {password}");
                println!("(the password is shown only now; it is stored as an Argon2id hash)");
            }
            Ok(())
        }
        Command::Keys { command: KeysCommand::Rotate } => {
            let db = open_db(&config).await?;
            let keys = server::auth::keys::KeyStore::new(db.clone(), config.master_key.clone());
            let kid = keys.rotate().await?;
            println!("signing with new key {kid}; earlier keys stay in the JWKS until their last tokens expire");
            db.close().await;
            Ok(())
        }
    }
}

/// The database for a one-off command: migrated, and checked against the master key.
async fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url, 2).await?;
    db.migrate().await?;
    server::bootstrap::check_master_key(&db, config).await?;
    Ok(db)
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    let bind = config.bind;
    let listen = async || tokio::net::TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"));
    // The port opens once the database is migrated (a load balancer that sees it open sends
    // traffic), except port 0 (tests, tools), whose port the public URL must know first: with
    // GOVIFI_BIND=…:0 the default public URL takes the port actually bound.
    let early = if bind.port() == 0 { Some(listen().await?) } else { None };
    if let Some(listener) = &early
        && config.public_url == format!("http://{bind}")
    {
        config.public_url = format!("http://{}", listener.local_addr()?);
    }
    let state = AppState::init(config).await?;
    let listener = match early {
        Some(listener) => listener,
        None => listen().await?,
    };
    let local = listener.local_addr()?;
    let cfg = state.config();
    tracing::info!(
        address = %local,
        public_url = %cfg.public_url,
        database = state.db().backend().name(),
        sandbox = cfg.sandbox,
        "govifi-server listening"
    );
    // Tools that start the server on port 0 read the address from this line.
    println!("govifi-server listening on http://{local}");
    server::bootstrap::announce(&state).await?;
    let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
    let jobs = server::jobs::spawn(state.clone(), jobs_stopped.clone());
    let deliveries = server::webhooks::delivery::spawn(state.clone(), jobs_stopped);
    let router = app::router(state.clone());
    app::serve(listener, router, app::shutdown_signal()).await?;
    let _ = stop_jobs.send(true);
    let _ = jobs.await;
    // Attempts in flight finish (each within its 15 s timeout); leases left are given back.
    let _ = deliveries.await;
    state.db().close().await;
    tracing::info!("stopped");
    Ok(())
}
