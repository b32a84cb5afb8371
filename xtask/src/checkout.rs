//! The checkout bundle, built without Trunk because it is split: cargo → `wasm-split` →
//! wasm-bindgen → wasm-opt (the main module and every chunk) → terser, into
//! `dist/checkout-<hash>/`.
//!
//! The parts of the checkout most sessions never show are `wasm_split` functions (Leptos's code
//! splitting, what `#[lazy]` expands to). Their code must be cut out of the linked WASM into chunks before wasm-bindgen
//! runs, a step Trunk has no place for. Everything in the folder refers to its neighbours by
//! relative names (the glue to `./__wasm_split.js` and `./snippets/…`, the link file to
//! `./govifi-payment.js` and the chunks), so the folder is named after a hash of everything in
//! it and each file can be cached for ever.

use std::path::{Path, PathBuf};
use std::process::Command;

use app::loader::{CHECKOUT_FOLDER_PREFIX, CHECKOUT_NAME as OUT_NAME};
use sha2::{Digest, Sha256};

use crate::{ELEMENT_BUILD_ENV, Result, WASM_RUSTFLAGS, cargo, run_ok, say, target_dir, tools, workspace_root};

/// The module the main WASM imports its chunk loaders from (written by the splitter).
const LINK_NAME: &str = "./__wasm_split.js";

/// Exports of the main module that nothing in the element can call, by prefix. `leptos` turns on
/// `server_fn`'s `browser` feature unconditionally, which brings `wasm-streams`, whose
/// `#[wasm_bindgen]` classes (adapters between Rust and JS streams, for streaming server
/// functions; the element has none) wasm-bindgen exports from every bundle. Code reachable only
/// from these exports goes when wasm-opt runs after (1.3 kB gzip). The glue keeps the JS classes,
/// whose methods would call them, but nothing constructs those classes: the loader calls
/// `default` and `mount` only.
const UNCALLABLE_EXPORTS: &[&str] = &["intounderlying", "__wbg_intounderlying"];

/// What a checkout folder holds, by what downloads it.
pub struct Files {
    pub folder: PathBuf,
    /// Chunk file names: fetched only when a session shows their part.
    pub chunks: Vec<String>,
}

/// Builds the checkout into `dist/checkout-<hash>/`, after removing any earlier one.
pub fn build(dist: &Path) -> Result<Files> {
    say("building the <govifi-payment> element: checkout bundle (cargo, wasm-split, wasm-bindgen, wasm-opt)");
    // A target folder of its own: the checkout's code is compiled with other flags than the
    // wallet's and the dashboard's, and sharing one folder would rebuild everything each time.
    let target = target_dir()?.join("checkout-build");
    // `--cfg erase_components` is Leptos's switch that makes every component answer a
    // type-erased view and every reactive child closure one shared type, so the rendering code is
    // not monomorphised over each view's nested type: 3.2 kB (gzip) off the checkout. Not for the
    // wallet (+2.6 kB there) nor the dashboard, which must hydrate what the server rendered.
    let rustflags = format!("{WASM_RUSTFLAGS} --cfg erase_components");
    // `--emit-relocs` on the final link only (`cargo rustc`): the splitter follows the
    // relocations to tell which code each split point alone reaches.
    run_ok(
        cargo()
            .args(["rustc", "-p", "frontend", "--bin", OUT_NAME, "--features", "split", "--profile", "wasm-release"])
            .args(["--target", "wasm32-unknown-unknown", "--locked", "--target-dir"])
            .arg(&target)
            .args(["--", "-Clink-args=--emit-relocs"])
            .envs(ELEMENT_BUILD_ENV.iter().copied())
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", rustflags),
    )?;
    let linked = std::fs::read(target.join("wasm32-unknown-unknown/wasm-release").join(format!("{OUT_NAME}.wasm")))?;

    let stage = target.join("checkout-split");
    let _ = std::fs::remove_dir_all(&stage);
    let out = stage.join("bundle");
    std::fs::create_dir_all(&out)?;
    let main_split = stage.join("main.wasm");
    let main_module = format!("./{OUT_NAME}.js");
    let split = wasm_split_cli_support::transform({
        let mut opts = wasm_split_cli_support::Options::new(&linked);
        opts.output_dir = &out;
        opts.main_out_path = &main_split;
        opts.main_module = &main_module;
        opts.link_name = LINK_NAME;
        opts
    })
    .map_err(|e| format!("wasm-split: {e:?}"))?;
    if split.split_modules.is_empty() {
        return Err("wasm-split found no split points in the checkout (is the `split` feature on?)".into());
    }

    // The main module through wasm-bindgen; `--keep-lld-exports` keeps the exports the chunks
    // link against.
    run_ok(
        Command::new("wasm-bindgen")
            .env("PATH", tools::tool_path())
            .args(["--target=web", "--no-typescript", "--keep-lld-exports", "--no-demangle"])
            .arg(format!("--out-name={OUT_NAME}"))
            .arg(format!("--out-dir={}", out.display()))
            .arg(&main_split),
    )?;
    let main_wasm = out.join(format!("{OUT_NAME}_bg.wasm"));
    let dropped = drop_exports(&main_wasm, UNCALLABLE_EXPORTS)?;
    println!("dropped {dropped} exports of wasm-streams' classes from the checkout's WASM");
    let mut chunks = Vec::new();
    let mut wasm_files = vec![main_wasm];
    for chunk in &split.split_modules {
        let name = chunk.file_name().and_then(|n| n.to_str()).ok_or("chunk without a name")?.to_owned();
        chunks.push(name);
        wasm_files.push(chunk.clone());
    }
    // The same optimisation Trunk gives the other bundles (`data-wasm-opt="z"`, `--converge`).
    for wasm in &wasm_files {
        run_ok(
            Command::new("wasm-opt")
                .env("PATH", tools::tool_path())
                .arg("-Oz")
                .arg("--converge")
                .arg(wasm)
                .arg("-o")
                .arg(wasm),
        )?;
    }
    run_ok(
        Command::new("node")
            .current_dir(workspace_root())
            .env("PATH", tools::tool_path())
            .arg("end2end/minify-glue.mjs")
            .arg(&out),
    )?;

    // Replace any earlier checkout (and what Trunk used to write at dist/'s top level).
    std::fs::create_dir_all(dist)?;
    for entry in std::fs::read_dir(dist)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name == "wallet" || name == "dashboard" {
            continue;
        }
        if path.is_dir() { std::fs::remove_dir_all(&path)? } else { std::fs::remove_file(&path)? }
    }
    let folder = dist.join(format!("{CHECKOUT_FOLDER_PREFIX}{}", folder_hash(&out)?));
    std::fs::rename(&out, &folder)?;
    chunks.sort();
    Ok(Files { folder, chunks })
}

/// The first 16 hex digits of a SHA-256 over every file's relative path and bytes.
fn folder_hash(dir: &Path) -> Result<String> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for relative in files {
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(dir.join(&relative))?);
    }
    let digest = hasher.finalize();
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root)?.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Rewrites `wasm` without the exports whose names start with one of `prefixes`; how many went.
fn drop_exports(wasm: &Path, prefixes: &[&str]) -> Result<usize> {
    use wasm_encoder::reencode::{self, Reencode};

    struct Dropper<'a> {
        prefixes: &'a [&'a str],
        dropped: usize,
    }
    impl Reencode for Dropper<'_> {
        type Error = std::convert::Infallible;
        fn parse_export(
            &mut self,
            exports: &mut wasm_encoder::ExportSection,
            export: wasmparser::Export<'_>,
        ) -> Result<(), reencode::Error<Self::Error>> {
            if self.prefixes.iter().any(|p| export.name.starts_with(p)) {
                self.dropped += 1;
                return Ok(());
            }
            reencode::utils::parse_export(self, exports, export)
        }
    }

    let bytes = std::fs::read(wasm)?;
    let mut dropper = Dropper { prefixes, dropped: 0 };
    let mut module = wasm_encoder::Module::new();
    dropper
        .parse_core_module(&mut module, wasmparser::Parser::new(0), &bytes)
        .map_err(|e| format!("rewriting {}: {e:?}", wasm.display()))?;
    std::fs::write(wasm, module.finish())?;
    Ok(dropper.dropped)
}
