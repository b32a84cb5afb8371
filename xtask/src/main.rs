//! `cargo xtask run | test | dist`: the project's front door (see README.md).

mod checkout;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const USAGE: &str = "usage: cargo xtask <command>

  run    install what is missing, build the element, start govifi-server (SQLite, sandbox)
  test   fmt, clippy, tests on SQLite (and PostgreSQL with GOVIFI_TEST_POSTGRES_URL), the
         element's release build, browser tests in Chromium; ends with a summary
  dist   install what is missing and build the element into dist/ (release)
  bench  confirms/s with p50/p99 on SQLite and PostgreSQL beside each database's one-row-insert
         transaction rate; the element's gzipped size  [--seconds N] [--concurrency N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // See `workspace_root`: this binary may be another checkout's xtask.
    if std::env::var_os("CARGO_MANIFEST_DIR").is_some_and(|dir| dir != env!("CARGO_MANIFEST_DIR")) {
        eprintln!(
            "xtask: note: this binary was built in {} (a target directory shared with it); \
             `touch xtask/src/main.rs` makes cargo build this checkout's own",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    let result = match args.first().map(String::as_str) {
        Some("run") => run(),
        Some("test") => test(),
        Some("dist") => dist().map(|_| ()),
        Some("bench") => bench(&args[1..]),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The checkout `cargo xtask` was run in: cargo sets `CARGO_MANIFEST_DIR` when it runs the binary
/// too, and that wins over the path compiled in. Checkouts that share a target directory (`.ci/run`
/// keeps one in `~/.cache/govifi/target`) share the `debug/xtask` cargo runs, and cargo does not
/// link it again for a checkout whose own build is still fresh, so the binary may have been built
/// from another checkout: the work must still be done on this one.
pub fn workspace_root() -> PathBuf {
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest.parent().expect("xtask sits in the workspace").to_path_buf()
}

/// Progress line, visible among cargo's output.
pub fn say(message: &str) {
    println!("\n==> {message}");
}

pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs a command with inherited output; an error unless it exits successfully.
pub fn run_ok(cmd: &mut Command) -> Result<()> {
    let program = Path::new(cmd.get_program()).file_name().unwrap_or_default().to_string_lossy().into_owned();
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let shown = format!("{program} {}", args.join(" "));
    let status = cmd.status().map_err(|e| format!("cannot start `{shown}`: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{shown}` failed ({status})").into()) }
}

/// Cargo's target directory (honours CARGO_TARGET_DIR and config).
pub fn target_dir() -> Result<PathBuf> {
    let out = cargo().args(["metadata", "--format-version", "1", "--no-deps"]).output()?;
    let text = String::from_utf8(out.stdout)?;
    let key = "\"target_directory\":\"";
    let start = text.find(key).ok_or("cargo metadata has no target_directory")? + key.len();
    let end = text[start..].find('"').ok_or("malformed cargo metadata")? + start;
    Ok(PathBuf::from(&text[start..end]))
}

/// How the WASM bundles are compiled, beyond the `wasm-release` profile: `std` rebuilt for size,
/// and panics that stop at once (`panic = "immediate-abort"`: no panic messages, file names or
/// formatting machinery in the bundle; a panic was already fatal with `panic = "abort"`). Both
/// are unstable options of the pinned 1.95.0 compiler, enabled for these builds only
/// (`RUSTC_BOOTSTRAP`); the server and the tests build on plain stable. Measured: the checkout's
/// WASM 168,469 → 148,731 B (zlib -9; zopfli then writes the served .gz, see `gzip`).
pub const WASM_RUSTFLAGS: &str = "-Zunstable-options -Cpanic=immediate-abort";
pub const ELEMENT_BUILD_ENV: &[(&str, &str)] = &[
    ("RUSTC_BOOTSTRAP", "1"),
    ("CARGO_UNSTABLE_BUILD_STD", "std,panic_abort"),
    ("CARGO_UNSTABLE_BUILD_STD_FEATURES", "optimize_for_size"),
    ("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", WASM_RUSTFLAGS),
];

/// Cargo takes a caller's `RUSTFLAGS` before the per-target flags above, which would drop the
/// bundles' panic and size settings (or put a host linker flag on a WASM link).
pub fn without_user_rustflags(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("RUSTFLAGS").env_remove("CARGO_ENCODED_RUSTFLAGS")
}

/// Builds the element: the checkout bundle, split into chunks (`checkout::build`, into
/// dist/checkout-<hash>/), then with Trunk (release, offline) the wallet bundle into dist/wallet/
/// and the dashboard's into dist/dashboard/. Returns the checkout's gzipped size as a paying
/// customer downloads it (the chunks of parts their session does not show excluded).
fn dist() -> Result<BundleSize> {
    tools::ensure_frontend_tools()?;
    let trunk = |target: &str, extra: &[&str]| {
        let mut cmd = Command::new("trunk");
        cmd.args(["build", "--release", "--config", "Trunk.toml", target])
            .args(extra)
            .current_dir(workspace_root())
            .env("PATH", tools::tool_path())
            .env("TRUNK_SKIP_VERSION_CHECK", "true")
            .env("NO_COLOR", "true")
            .envs(ELEMENT_BUILD_ENV.iter().copied());
        without_user_rustflags(&mut cmd);
        run_ok(&mut cmd)
    };
    // Trunk copies wasm-bindgen's whole snippets folder: drop what earlier builds left there.
    let _ = std::fs::remove_dir_all(target_dir()?.join("wasm-bindgen"));
    let dist = workspace_root().join("dist");
    let checkout = checkout::build(&dist)?;
    say("building the <govifi-payment> element: wallet bundle (trunk build --release)");
    trunk("frontend/wallet.html", &["--dist", "dist/wallet", "--public-url", "/assets/wallet/"])?;
    say("building the dashboard's hydration bundle (trunk build --release)");
    trunk("frontend/dashboard.html", &["--dist", "dist/dashboard", "--public-url", "/assets/dashboard/"])?;
    minify_loader(&dist)?;
    precompress(&dist)?;
    let loader = app::loader::script(&dist).ok_or("the loader found no bundles in dist/")?.into_bytes();
    let size = BundleSize::measure(&checkout.folder, &loader)?;
    let wallet = BundleSize::measure(&dist.join("wallet"), &loader)?;
    let starter = app::loader::dashboard_starter(&dist).ok_or("no dashboard bundle in dist/dashboard")?.into_bytes();
    let dashboard = BundleSize::measure(&dist.join("dashboard"), &starter)?;
    println!("{size}");
    let mut chunks = Vec::new();
    for chunk in &checkout.chunks {
        let gz = std::fs::metadata(checkout.folder.join(format!("{chunk}.gz")))?.len();
        let br = std::fs::metadata(checkout.folder.join(format!("{chunk}.br")))?.len();
        chunks.push(format!("{chunk} {gz} B ({br} B brotli)"));
    }
    println!("checkout chunks, fetched only by sessions that show their part (gzip): {}", chunks.join(", "));
    println!(
        "wallet bundle (loaded only for ws_ credentials, gzip): {} B; brotli: checkout {} B, wallet {} B",
        wallet.total(),
        size.brotli,
        wallet.brotli
    );
    println!(
        "dashboard bundle (merchants' staff only, no budget): {} B gzip, {} B brotli",
        dashboard.total(),
        dashboard.brotli
    );
    Ok(size)
}

/// Writes the loader minified beside the bundles (`app::loader::MINIFIED_NAME`, which the server
/// serves in place of the readable `frontend/loader.js`), with the glue's minifier.
fn minify_loader(dist: &Path) -> Result<()> {
    let name = app::loader::MINIFIED_NAME;
    let staging = target_dir()?.join("loader-min");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    std::fs::copy(workspace_root().join("frontend/loader.js"), staging.join(name))?;
    run_ok(
        Command::new("node")
            .current_dir(workspace_root())
            .env("PATH", tools::tool_path())
            .arg("end2end/minify-glue.mjs")
            .arg(&staging),
    )?;
    std::fs::copy(staging.join(name), dist.join(name))?;
    Ok(())
}

/// Writes `<file>.gz` (gzip, by zopfli) and `<file>.br` (brotli 11) beside every WASM and JS file under
/// `dir`; the server sends them to browsers that accept those encodings.
fn precompress(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned();
        if path.is_dir() {
            precompress(&path)?;
        } else if name.ends_with(".wasm") || name.ends_with(".js") {
            let bytes = std::fs::read(&path)?;
            std::fs::write(path.with_file_name(format!("{name}.gz")), gzip(&bytes)?)?;
            std::fs::write(path.with_file_name(format!("{name}.br")), brotli(&bytes)?)?;
        }
    }
    Ok(())
}

/// gzip as zopfli writes it: standard gzip that every browser reads, about 5 % smaller than
/// zlib's level 9 (15 iterations; 5 for files over a megabyte, the dashboard's, to stay quick).
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let iterations = if bytes.len() > 1_000_000 { 5 } else { 15 };
    let options = zopfli::Options {
        iteration_count: std::num::NonZeroU64::new(iterations).ok_or("zero iterations")?,
        ..Default::default()
    };
    let mut out = Vec::new();
    zopfli::compress(options, zopfli::Format::Gzip, bytes, &mut out)?;
    Ok(out)
}

fn brotli(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams { quality: 11, ..Default::default() };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

/// The element as a browser downloads it, gzipped: the loader script (`/sdk/govifi-payment.js`),
/// the bundle's WASM, and its JS (wasm-bindgen's glue and the snippets it imports).
pub struct BundleSize {
    loader_gz: u64,
    wasm_gz: u64,
    js_gz: u64,
    /// The same files with brotli, which browsers prefer when the server offers it.
    brotli: u64,
}

impl BundleSize {
    /// The bundle in `dir` (not the wallet bundle in `dir/wallet`, measured on its own), read
    /// from the compressed files `precompress` wrote.
    fn measure(dir: &Path, loader: &[u8]) -> Result<Self> {
        let mut size = BundleSize {
            loader_gz: gzip(loader)?.len() as u64,
            wasm_gz: 0,
            js_gz: 0,
            brotli: brotli(loader)?.len() as u64,
        };
        size.add_dir(dir)?;
        if size.wasm_gz == 0 {
            return Err(format!("{} holds no WASM bundle", dir.display()).into());
        }
        Ok(size)
    }

    /// The most a checkout may weigh, gzipped (SPEC §6, "Size budget"): above it the test step
    /// fails.
    const BUDGET: u64 = 125_000;

    fn within_budget(&self) -> Result<Option<String>> {
        let total = self.total();
        if total > Self::BUDGET {
            return Err(format!("{self}: {} B over the budget of {} B", total - Self::BUDGET, Self::BUDGET).into());
        }
        Ok(Some(format!("{total} B, {} B under the {} B budget", Self::BUDGET - total, Self::BUDGET)))
    }

    fn total(&self) -> u64 {
        self.loader_gz + self.wasm_gz + self.js_gz
    }

    fn add_dir(&mut self, dir: &Path) -> Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let len = || std::fs::metadata(&path).map(|m| m.len());
            // The wallet's and the dashboard's bundles are measured on their own.
            if path.is_dir() && name != "wallet" && name != "dashboard" {
                self.add_dir(&path)?;
            } else if name.ends_with("_bg.wasm.gz") {
                self.wasm_gz += len()?;
            } else if name.ends_with(".js.gz") {
                self.js_gz += len()?;
            } else if name.ends_with("_bg.wasm.br") || name.ends_with(".js.br") {
                self.brotli += len()?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for BundleSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total = self.total();
        write!(
            f,
            "element size (gzip): loader {} B + wasm {} B + js {} B = {} B ({:.1} kB; budget {} kB)",
            self.loader_gz,
            self.wasm_gz,
            self.js_gz,
            total,
            total as f64 / 1000.0,
            Self::BUDGET / 1000
        )
    }
}

/// `node` in end2end/, against the `govifi-server` at `server` and the built element in dist/.
fn end2end_node(server: PathBuf) -> Command {
    let mut cmd = Command::new("node");
    cmd.current_dir(workspace_root().join("end2end"))
        .env("GOVIFI_SERVER_BIN", server)
        .env("GOVIFI_ASSETS_DIR", workspace_root().join("dist"));
    cmd
}

/// `cargo xtask bench`: the confirm benchmark (release build), the element's size, and the hosted
/// page's time to interactive in Chromium.
fn bench(args: &[String]) -> Result<()> {
    let mut cmd = cargo();
    cmd.args(["bench", "-p", "server", "--bench", "confirm", "--"]).args(args);
    if std::env::var_os("GOVIFI_TEST_POSTGRES_URL").is_none() && std::env::var_os("GOVIFI_BENCH_POSTGRES_URL").is_none()
    {
        // The local PostgreSQL of this machine kind, when it answers.
        let local = std::net::TcpStream::connect_timeout(&"127.0.0.1:5432".parse()?, std::time::Duration::from_secs(1));
        if local.is_ok() {
            cmd.env("GOVIFI_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres");
        }
    }
    say("confirm benchmark (cargo bench, release build)");
    run_ok(&mut cmd)?;
    let size = dist()?;
    // The hosted page's time to interactive beside a static form page, in Chromium, against the
    // release server the benchmark built.
    say("the hosted checkout's time to interactive (Chromium, end2end/bench/tti.mjs)");
    let chromium = tools::ensure_chromium()?;
    tools::ensure_node_modules()?;
    run_ok(
        end2end_node(target_dir()?.join("release/govifi-server"))
            .arg("bench/tti.mjs")
            .env("GOVIFI_BENCH_OUT", workspace_root().join("target/bench"))
            .env("CHROMIUM_PATH", chromium),
    )?;
    println!(
        "
{size}"
    );
    Ok(())
}

/// Sandbox credentials kept between runs, so every `cargo xtask run` can print them: the app
/// client and the dashboard's demo password.
struct SandboxCredentials {
    client_id: String,
    client_secret: String,
    demo_password: String,
}

fn sandbox_bootstrap() -> Result<SandboxCredentials> {
    let path = workspace_root().join("data/sandbox-bootstrap.env");
    let earlier = std::fs::read_to_string(&path).unwrap_or_default();
    let get = |key: &str| earlier.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_owned);
    let (id, secret, kept_password) =
        (get("GOVIFI_BOOTSTRAP_CLIENT_ID"), get("GOVIFI_BOOTSTRAP_CLIENT_SECRET"), get("GOVIFI_SANDBOX_DEMO_PASSWORD"));
    if let (Some(client_id), Some(client_secret), Some(demo_password)) = (&id, &secret, &kept_password) {
        return Ok(SandboxCredentials {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            demo_password: demo_password.clone(),
        });
    }
    let random = |n: usize| -> Result<String> {
        use std::io::Read;
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut urandom = std::fs::File::open("/dev/urandom")?;
        let mut out = String::with_capacity(n);
        let mut byte = [0u8; 1];
        while out.len() < n {
            urandom.read_exact(&mut byte)?;
            // 252 = 7 × 36: dropping the rest keeps every character equally likely.
            if byte[0] < 252 {
                out.push(ALPHABET[byte[0] as usize % ALPHABET.len()] as char);
            }
        }
        Ok(out)
    };
    // An earlier file without the demo password keeps its client (the database knows it).
    let (id, secret) = match (id, secret) {
        (Some(id), Some(secret)) => (id, secret),
        _ => (random(26)?, random(48)?),
    };
    let password = random(20)?;
    std::fs::create_dir_all(path.parent().expect("data/ has a parent"))?;
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create(true).truncate(true);
    // Readable by its owner only from the moment it exists.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    let mut file = file.open(&path)?;
    #[cfg(unix)]
    {
        // (A file an earlier run left keeps its mode through `open`.)
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    std::io::Write::write_all(
        &mut file,
        format!(
            "# Made by `cargo xtask run`: the sandbox's app client and dashboard password, printed at every start.\n\
             GOVIFI_BOOTSTRAP_CLIENT_ID={id}\nGOVIFI_BOOTSTRAP_CLIENT_SECRET={secret}\n\
             GOVIFI_SANDBOX_DEMO_PASSWORD={password}\n"
        )
        .as_bytes(),
    )?;
    Ok(SandboxCredentials { client_id: id, client_secret: secret, demo_password: password })
}

/// `cargo xtask run`: tools, element, server (SQLite under ./data, sandbox mode).
fn run() -> Result<()> {
    dist()?;
    say("building govifi-server");
    run_ok(cargo().args(["build", "-p", "server", "--bin", "govifi-server"]))?;
    let binary = target_dir()?.join("debug/govifi-server");
    let SandboxCredentials { client_id, client_secret, demo_password } = sandbox_bootstrap()?;
    // The server reads the workspace's .env too (the environment first), trims a trailing `/`
    // and takes a blank value as unset: the addresses printed here are its own. (Read, not
    // loaded: the server's environment stays as before.)
    let dotenv: Vec<(String, String)> = dotenvy::from_path_iter(workspace_root().join(".env"))
        .map(|lines| lines.filter_map(|line| line.ok()).collect())
        .unwrap_or_default();
    let setting = |name: &str| {
        let from_file = || dotenv.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        std::env::var(name).ok().or_else(from_file).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    };
    // The server never echoes a secret it was given; these are ours (data/sandbox-bootstrap.env).
    let bind = setting("GOVIFI_BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
    let base = setting("GOVIFI_PUBLIC_URL").map(|url| url.trim_end_matches('/').to_owned()).or_else(|| {
        // `…:0` asks for any free port: only the server knows which (its lines below say).
        (!bind.ends_with(":0")).then(|| format!("http://{bind}"))
    });
    say("the sandbox's app client and dashboard user (kept in data/sandbox-bootstrap.env)");
    println!("  App client id:      {client_id}");
    println!("  App client secret:  {client_secret}");
    println!("  Dashboard user:     demo@govifi.test");
    println!("  Dashboard password: {demo_password}");
    match &base {
        Some(base) => {
            println!("  Get a token:");
            println!("    curl -s -X POST {base}/oauth2/token -u '{client_id}:{client_secret}' \\");
            println!("      -d grant_type=client_credentials -d scope=com.govineer.payments/admin");
            println!("  Dashboard:          {base}/dashboard");
        }
        None => println!("  Addresses:          printed by the server below (GOVIFI_BIND={bind} takes any free port)"),
    }
    say("starting govifi-server (Ctrl-C stops it)");
    let mut cmd = Command::new(binary);
    cmd.current_dir(workspace_root())
        .env("GOVIFI_ASSETS_DIR", workspace_root().join("dist"))
        .env("GOVIFI_BOOTSTRAP_CLIENT_ID", client_id)
        .env("GOVIFI_BOOTSTRAP_CLIENT_SECRET", client_secret)
        .env("GOVIFI_SANDBOX_DEMO_PASSWORD", demo_password);
    // Sandbox mode unless the environment or .env says otherwise.
    if setting("GOVIFI_SANDBOX").is_none() {
        cmd.env("GOVIFI_SANDBOX", "true");
    }
    run_ok(&mut cmd)
}

enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

struct StepReport {
    name: &'static str,
    outcome: Outcome,
    took: Duration,
    note: Option<String>,
}

/// `cargo xtask test`: every check, in order; a failing step does not hide the later ones
/// (unless they depend on it). Ends with a summary.
fn test() -> Result<()> {
    let started = Instant::now();
    let mut reports: Vec<StepReport> = Vec::new();
    let mut step = |name: &'static str, f: &mut dyn FnMut() -> Result<Option<String>>| -> bool {
        say(name);
        let t = Instant::now();
        let (outcome, note) = match f() {
            Ok(note) => (Outcome::Passed, note),
            Err(e) => (Outcome::Failed(e.to_string()), None),
        };
        let passed = matches!(outcome, Outcome::Passed);
        reports.push(StepReport { name, outcome, took: t.elapsed(), note });
        passed
    };

    step("format (cargo fmt --check)", &mut || run_ok(cargo().args(["fmt", "--all", "--", "--check"])).map(|_| None));
    step("lints (cargo clippy -D warnings)", &mut || {
        run_ok(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
        // The element's bundles as they ship: WASM, and the checkout with its split parts.
        tools::ensure_wasm_target()?;
        run_ok(cargo().args(["clippy", "-p", "frontend", "--bins", "--features", "split"]).args([
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ]))?;
        // And the dashboard's hydration bundle, with `app`'s browser-only code.
        run_ok(
            cargo().args(["clippy", "-p", "frontend", "--bin", "govifi-dashboard", "--features", "dashboard"]).args([
                "--target",
                "wasm32-unknown-unknown",
                "--",
                "-D",
                "warnings",
            ]),
        )
        .map(|_| None)
    });
    let postgres = std::env::var("GOVIFI_TEST_POSTGRES_URL").ok().filter(|v| !v.is_empty());
    step("tests (SQLite, and PostgreSQL when GOVIFI_TEST_POSTGRES_URL is set)", &mut || {
        match &postgres {
            Some(_) => println!("PostgreSQL: on (GOVIFI_TEST_POSTGRES_URL is set)"),
            None => println!("PostgreSQL: off (set GOVIFI_TEST_POSTGRES_URL to run every storage test there too)"),
        }
        run_ok(cargo().args(["test", "--workspace", "--exclude", "frontend"]))?;
        Ok(Some(if postgres.is_some() { "sqlite + postgres".into() } else { "sqlite only".into() }))
    });
    let mut element = None;
    let built = step("element release build (split checkout, trunk for wallet and dashboard)", &mut || {
        let size = dist()?;
        let note = size.to_string();
        element = Some(size);
        Ok(Some(note))
    });
    if let Some(size) = &element {
        step("element size budget (gzip, loader + WASM + JS)", &mut || size.within_budget());
    }

    step("API fuzzing (schemathesis over /openapi.json, end2end/fuzz)", &mut || {
        let schemathesis = tools::ensure_schemathesis()?;
        tools::ensure_node_modules()?;
        run_ok(cargo().args(["build", "-p", "server", "--bin", "govifi-server"]))?;
        run_ok(
            end2end_node(target_dir()?.join("debug/govifi-server"))
                .arg("fuzz/api.mjs")
                .env("SCHEMATHESIS", schemathesis),
        )?;
        Ok(Some(format!("schemathesis {}", tools::SCHEMATHESIS_VERSION)))
    });

    if built {
        step("browser tests (Chromium, end2end/)", &mut || {
            let chromium = tools::ensure_chromium()?;
            tools::ensure_node_modules()?;
            run_ok(cargo().args(["build", "-p", "server", "--bin", "govifi-server"]))?;
            let server = target_dir()?.join("debug/govifi-server");
            let dir = workspace_root().join("end2end");
            let mut files: Vec<String> = std::fs::read_dir(dir.join("tests"))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".test.mjs"))
                .map(|n| format!("tests/{n}"))
                .collect();
            files.sort();
            run_ok(
                end2end_node(server)
                    // A test that hangs fails after five minutes, and a file whose server
                    // outlived its tests ends anyway, instead of holding CI to its limit.
                    .args(["--test", "--test-concurrency=1", "--test-timeout=300000", "--test-force-exit"])
                    .args(&files)
                    .env("CHROMIUM_PATH", chromium),
            )?;
            Ok(Some(format!("{} files", files.len())))
        });
    } else {
        reports.push(StepReport {
            name: "browser tests (Chromium, end2end/)",
            outcome: Outcome::Skipped("the element did not build".into()),
            took: Duration::ZERO,
            note: None,
        });
    }

    println!("\n== cargo xtask test: summary ({:.0?}) ==", started.elapsed());
    let mut failed = 0;
    for r in &reports {
        let (tag, detail) = match &r.outcome {
            Outcome::Passed => ("PASS", r.note.clone().unwrap_or_default()),
            Outcome::Failed(why) => {
                failed += 1;
                ("FAIL", why.clone())
            }
            Outcome::Skipped(why) => {
                failed += 1;
                ("SKIP", why.clone())
            }
        };
        println!("  {tag}  {:<70} {:>7.1}s  {detail}", r.name, r.took.as_secs_f64());
    }
    if failed == 0 {
        println!("all {} steps passed", reports.len());
        Ok(())
    } else {
        Err(format!("{failed} of {} steps did not pass", reports.len()).into())
    }
}
