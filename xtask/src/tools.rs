//! Installs the front-end tool chain when it is missing (see ../shared/TOOLCHAIN.md for why
//! each pin is what it is). Every step checks first and skips what is already present.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, cargo, run_ok, say, target_dir, workspace_root};

pub const TRUNK_VERSION: &str = "0.21.14";
/// The API fuzzer (PyPI), in a virtual environment of its own under the target directory.
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The wasm-opt that Trunk.toml pins (`wasm_opt = "version_132"`).
const WASM_OPT_VERSION: &str = "132";

/// The PATH entries our tools live in, first: cargo's bin folder (trunk, wasm-bindgen) and
/// `end2end/node_modules/.bin` (npm's binaryen wasm-opt, ahead of any Debian one).
pub fn tool_path() -> String {
    let mut parts = vec![npm_bin().display().to_string(), cargo_home().join("bin").display().to_string()];
    if let Ok(path) = std::env::var("PATH") {
        parts.push(path);
    }
    parts.join(":")
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"))
}

fn npm_bin() -> PathBuf {
    workspace_root().join("end2end/node_modules/.bin")
}

/// Output of `program --version`, or None when it cannot run.
fn version_of(program: &str) -> Option<String> {
    let out = Command::new(program).arg("--version").env("PATH", tool_path()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Everything `cargo xtask dist` needs.
pub fn ensure_frontend_tools() -> Result<()> {
    ensure_wasm_target()?;
    ensure_std_source()?;
    ensure_node_modules()?;
    ensure_trunk()?;
    ensure_wasm_bindgen()?;
    check_wasm_opt()?;
    Ok(())
}

pub fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match out {
        Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) => Ok(()),
        Ok(_) => {
            say(&format!("installing the {WASM_TARGET} target (rustup)"));
            run_ok(Command::new("rustup").args(["target", "add", WASM_TARGET]))
        }
        Err(_) => Err(format!("rustup is not available: install the {WASM_TARGET} target for this toolchain").into()),
    }
}

/// The standard library's source and the crates it builds from, for the element's bundles,
/// which rebuild `std` for the smallest WASM (see `crate::ELEMENT_BUILD_ENV`). rustup's
/// `rust-src` component; its dependencies are fetched here because Trunk runs cargo offline.
fn ensure_std_source() -> Result<()> {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output()?;
    let sysroot = PathBuf::from(String::from_utf8(sysroot.stdout)?.trim());
    let library = sysroot.join("lib/rustlib/src/rust/library/Cargo.toml");
    if !library.exists() {
        say("installing the standard library's source (rustup component add rust-src)");
        run_ok(Command::new("rustup").args(["component", "add", "rust-src"]))?;
    }
    // Quick when everything is in cargo's cache already. The library's manifest uses unstable
    // cargo features, hence RUSTC_BOOTSTRAP (the same compiler; see README, Size).
    run_ok(cargo().arg("fetch").arg("--quiet").arg("--manifest-path").arg(&library).env("RUSTC_BOOTSTRAP", "1"))
}

/// schemathesis in `target/tools/schemathesis-<version>` (a venv of the machine's python3); its
/// executable.
pub fn ensure_schemathesis() -> Result<PathBuf> {
    let venv = target_dir()?.join(format!("tools/schemathesis-{SCHEMATHESIS_VERSION}"));
    let bin = venv.join("bin/schemathesis");
    let present = Command::new(&bin).arg("--version").output().ok().filter(|o| o.status.success());
    if present.is_some_and(|o| String::from_utf8_lossy(&o.stdout).contains(SCHEMATHESIS_VERSION)) {
        return Ok(bin);
    }
    say(&format!("installing schemathesis {SCHEMATHESIS_VERSION} (pip, into {})", venv.display()));
    run_ok(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run_ok(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}")),
    )?;
    Ok(bin)
}

/// npm packages of end2end/ (playwright-core, axe-core, binaryen's wasm-opt, terser and acorn), from the lock.
pub fn ensure_node_modules() -> Result<()> {
    let dir = workspace_root().join("end2end");
    let lock = dir.join("package-lock.json");
    let stamp = dir.join("node_modules/.package-lock.json");
    let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&stamp)) {
        (Ok(l), Ok(s)) => s.modified()? >= l.modified()?,
        _ => false,
    };
    if fresh && npm_bin().join("wasm-opt").exists() {
        return Ok(());
    }
    say("installing end2end/ npm packages (npm ci: playwright-core, axe-core, binaryen, terser, acorn)");
    run_ok(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir))
}

fn ensure_trunk() -> Result<()> {
    if version_of("trunk").is_some_and(|v| v.split_whitespace().nth(1) == Some(TRUNK_VERSION)) {
        return Ok(());
    }
    say(&format!("installing trunk {TRUNK_VERSION} (cargo install; about 9 minutes on 2 cores)"));
    run_ok(cargo().args(["install", "--locked", "trunk", "--version", TRUNK_VERSION]).env_remove("CARGO_TARGET_DIR"))
}

/// The wasm-bindgen version Cargo.lock resolved; the CLI must match it exactly.
pub fn locked_wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_owned());
        }
    }
    Err("Cargo.lock has no wasm-bindgen".into())
}

fn ensure_wasm_bindgen() -> Result<()> {
    let version = locked_wasm_bindgen_version()?;
    let trunk_toml = std::fs::read_to_string(workspace_root().join("Trunk.toml"))?;
    if !trunk_toml.contains(&format!("wasm_bindgen = \"{version}\"")) {
        return Err(format!("Trunk.toml's [tools] wasm_bindgen must equal Cargo.lock's wasm-bindgen {version}").into());
    }
    if version_of("wasm-bindgen").is_some_and(|v| v.split_whitespace().nth(1) == Some(version.as_str())) {
        return Ok(());
    }
    say(&format!("installing wasm-bindgen-cli {version} (about 3 minutes)"));
    let direct = cargo()
        .args(["install", "--locked", "wasm-bindgen-cli", "--version", &version])
        .env_remove("CARGO_TARGET_DIR")
        .status()?;
    if direct.success() {
        return Ok(());
    }
    // Its published lock can name a dependency version the registry here lacks (webpki-roots
    // 1.0.11 for 0.2.130). Build the registry's copy of its source with that one pinned back.
    say("retrying wasm-bindgen-cli from its registry source with webpki-roots pinned to 1.0.10");
    let source = find_registry_source(&format!("wasm-bindgen-cli-{version}"))
        .ok_or("wasm-bindgen-cli's source is not in the cargo registry (the download above failed)")?;
    let work = std::env::temp_dir().join(format!("govifi-wasm-bindgen-cli-{version}"));
    let _ = std::fs::remove_dir_all(&work);
    copy_dir(&source, &work)?;
    let pinned = cargo()
        .args(["update", "-p", "webpki-roots", "--precise", "1.0.10"])
        .current_dir(&work)
        .env_remove("CARGO_TARGET_DIR")
        .status()?;
    if !pinned.success() {
        say("(webpki-roots could not be pinned; installing with the lock as it is)");
    }
    run_ok(cargo().args(["install", "--path", ".", "--locked"]).current_dir(&work).env_remove("CARGO_TARGET_DIR"))?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn find_registry_source(dir_name: &str) -> Option<PathBuf> {
    let src = cargo_home().join("registry/src");
    std::fs::read_dir(src).ok()?.filter_map(|e| e.ok()).map(|e| e.path().join(dir_name)).find(|p| p.is_dir())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn check_wasm_opt() -> Result<()> {
    match version_of("wasm-opt") {
        Some(v) if v.contains(&format!("version {WASM_OPT_VERSION}")) => Ok(()),
        Some(v) => {
            Err(format!("wasm-opt on PATH is {v:?}; npm's binaryen {WASM_OPT_VERSION} should come first").into())
        }
        None => Err("wasm-opt from npm's binaryen is missing (end2end/node_modules)".into()),
    }
}

/// Debian's Chromium for the browser tests (never a downloaded browser).
pub fn ensure_chromium() -> Result<PathBuf> {
    let path = PathBuf::from(std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if path.exists() {
        return Ok(path);
    }
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    if is_root && Path::new("/usr/bin/apt-get").exists() {
        say("installing Debian's chromium for the browser tests (apt-get)");
        run_ok(Command::new("apt-get").args(["update", "-qq"]))?;
        run_ok(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    if path.exists() {
        Ok(path)
    } else {
        Err(format!("{} not found: install Debian's chromium (apt-get install chromium)", path.display()).into())
    }
}
