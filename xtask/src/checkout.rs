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

use crate::{
    ELEMENT_BUILD_ENV, Result, WASM_RUSTFLAGS, cargo, run_ok, say, target_dir, tools, without_user_rustflags,
    workspace_root,
};

/// The module the main WASM imports its chunk loaders from (written by the splitter).
const LINK_NAME: &str = "./__wasm_split.js";

/// Exports of the main module that nothing in the element can call, by prefix. `leptos` turns on
/// `server_fn`'s `browser` feature unconditionally, which brings `wasm-streams`, whose
/// `#[wasm_bindgen]` classes (adapters between Rust and JS streams, for streaming server
/// functions; the element has none) wasm-bindgen exports from every bundle. Code reachable only
/// from these exports goes when wasm-opt runs after (1.3 kB gzip). Nothing constructs the glue's JS
/// classes whose methods would call them (the loader calls `default` and `mount` only), so they
/// go too.
const UNCALLABLE_EXPORTS: &[&str] = &["intounderlying", "__wbg_intounderlying"];
/// The glue's classes for those exports (`IntoUnderlyingSink`, …), removed before terser (0.3 kB).
const GLUE_CLASSES_DROPPED: &str = "IntoUnderlying";

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
        without_user_rustflags(&mut cargo())
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
    let glue = out.join(format!("{OUT_NAME}.js"));
    let shortened = shorten_names(&main_wasm, &glue, &out.join(LINK_NAME))?;
    println!("checkout: {} names shortened, {} uncallable exports dropped", shortened.renamed, shortened.dropped);
    let mut chunks = Vec::new();
    let mut wasm_files = vec![main_wasm];
    for chunk in &split.split_modules {
        let name = chunk.file_name().and_then(|n| n.to_str()).ok_or("chunk without a name")?.to_owned();
        chunks.push(name);
        wasm_files.push(chunk.clone());
    }
    // The same optimisation Trunk gives the other bundles (`data-wasm-opt="z"`, `--converge`),
    // plus `--low-memory-unused`: wasm-opt may then fold a constant added to a pointer into the
    // load's offset. It assumes nothing lives in the memory's first 1 KiB; Rust's WASM puts the
    // 1 MiB stack first, growing down towards 0, so that is the stack's last KiB, reached only a
    // step before it overflows (the element's calls go a few KiB deep). 0.65 kB gzip.
    // `--one-caller-inline-max-function-size=50`: -Oz inlines every function that has one caller,
    // however large, which welds the components' code into a few huge functions; left as
    // functions, their code repeats more alike and compresses better. The module grows 0.1 %,
    // its gzip shrinks 1.6 kB (measured from 0 to 2,000: 30–80 all within 0.1 kB of the best).
    for wasm in &wasm_files {
        run_ok(
            Command::new("wasm-opt")
                .env("PATH", tools::tool_path())
                .arg("--low-memory-unused")
                .arg("--one-caller-inline-max-function-size=50")
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
            .args(["--drop-classes", GLUE_CLASSES_DROPPED])
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

/// What [`shorten_names`] did.
struct Shortened {
    dropped: usize,
    renamed: usize,
}

/// Rewrites the main module and its glue so that the names they share are short, and drops the
/// exports no JavaScript can reach.
///
/// wasm-bindgen names every import `__wbg_<method>_<16 hex digits>` and the closures' exports by
/// their mangled Rust paths (up to 160 characters); each name is written twice, in the WASM's
/// import or export section and in the glue, and the hex digits do not compress (3.8 kB gzip in
/// all, WASM and glue, measured). The names are the glue's to choose: every import from the
/// glue's own module (`./<name>_bg.js`) is a key of one object in it, and every export it calls
/// is read as `wasm.<name>`. So both sides are rewritten together: an import's name is replaced
/// wherever it occurs as a whole identifier (each is unique, hash included), an export's only
/// after `wasm.`.
/// Exports named in the split loader (`__wasm_split.js`: the memory, the table, the shared
/// globals the chunks import) keep their names. Exports named nowhere (`main`, lld's
/// `__heap_base`, and `UNCALLABLE_EXPORTS`) are dropped, and wasm-opt then removes what only they
/// reached.
fn shorten_names(wasm: &Path, glue: &Path, link: &Path) -> Result<Shortened> {
    use std::collections::HashMap;
    use wasm_encoder::reencode::{self, Reencode};

    let bytes = std::fs::read(wasm)?;
    let glue_text = std::fs::read_to_string(glue)?;
    let link_text = std::fs::read_to_string(link)?;
    let own_module = format!("./{OUT_NAME}_bg.js");
    let glue_calls = called_exports(&glue_text);
    let link_names = identifiers(&link_text);

    let mut imports = HashMap::new();
    let mut exports = HashMap::new();
    let mut dropped = 0;
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        match payload.map_err(|e| format!("reading {}: {e}", wasm.display()))? {
            wasmparser::Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import.map_err(|e| format!("reading imports: {e}"))?;
                    if import.module == own_module {
                        let short = short_name(imports.len())?;
                        imports.insert(import.name.to_owned(), short);
                    }
                }
            }
            wasmparser::Payload::ExportSection(section) => {
                for export in section {
                    let name = export.map_err(|e| format!("reading exports: {e}"))?.name;
                    let uncallable = UNCALLABLE_EXPORTS.iter().any(|p| name.starts_with(p));
                    if link_names.contains(name) {
                        continue;
                    } else if glue_calls.contains(name) && !uncallable {
                        let short = short_name(exports.len())?;
                        exports.insert(name.to_owned(), Some(short));
                    } else {
                        exports.insert(name.to_owned(), None);
                        dropped += 1;
                    }
                }
            }
            _ => {}
        }
    }

    struct Renamer<'a> {
        own_module: &'a str,
        imports: &'a HashMap<String, String>,
        exports: &'a HashMap<String, Option<String>>,
    }
    impl Reencode for Renamer<'_> {
        type Error = std::convert::Infallible;
        fn parse_imports(
            &mut self,
            section: &mut wasm_encoder::ImportSection,
            imports: wasmparser::Imports<'_>,
        ) -> Result<(), reencode::Error<Self::Error>> {
            match imports {
                wasmparser::Imports::Single(_, import) if import.module == self.own_module => {
                    let name = self.imports.get(import.name).map_or(import.name, String::as_str);
                    section.import(import.module, name, self.entity_type(import.ty)?);
                    Ok(())
                }
                other => reencode::utils::parse_imports(self, section, other),
            }
        }
        fn parse_export(
            &mut self,
            section: &mut wasm_encoder::ExportSection,
            export: wasmparser::Export<'_>,
        ) -> Result<(), reencode::Error<Self::Error>> {
            match self.exports.get(export.name) {
                Some(None) => Ok(()),
                Some(Some(short)) => {
                    let kind = self.export_kind(export.kind)?;
                    section.export(short, kind, self.external_index(export.kind, export.index)?);
                    Ok(())
                }
                None => reencode::utils::parse_export(self, section, export),
            }
        }
    }

    let mut renamer = Renamer { own_module: &own_module, imports: &imports, exports: &exports };
    let mut module = wasm_encoder::Module::new();
    renamer
        .parse_core_module(&mut module, wasmparser::Parser::new(0), &bytes)
        .map_err(|e| format!("rewriting {}: {e:?}", wasm.display()))?;
    std::fs::write(wasm, module.finish())?;
    let renamed: HashMap<&str, &str> = exports.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?))).collect();
    std::fs::write(glue, rename_in_glue(&glue_text, &imports, &renamed))?;
    Ok(Shortened { dropped, renamed: imports.len() + renamed.len() })
}

/// The `n`th short identifier: `a`…`Z`, then two characters; 3,276 in all (`Err` beyond, where
/// names would repeat).
fn short_name(n: usize) -> Result<String> {
    const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const REST: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    if n < FIRST.len() {
        return Ok((FIRST[n] as char).to_string());
    }
    let n = n - FIRST.len();
    let first = FIRST.get(n / REST.len()).ok_or("too many names for two characters")?;
    Ok(format!("{}{}", *first as char, REST[n % REST.len()] as char))
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Each identifier in `text` with where it starts.
fn tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && !is_ident(bytes[i]) {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        (start < i).then(|| (start, &text[start..i]))
    })
}

fn identifiers(text: &str) -> std::collections::HashSet<&str> {
    tokens(text).map(|(_, t)| t).collect()
}

/// The exports the glue calls: identifiers read as `wasm.<name>`.
fn called_exports(glue: &str) -> std::collections::HashSet<&str> {
    tokens(glue).filter(|(at, _)| after_wasm(glue, *at)).map(|(_, t)| t).collect()
}

/// Whether the identifier at `at` follows `wasm.` (and not `xwasm.`).
fn after_wasm(text: &str, at: usize) -> bool {
    text[..at].strip_suffix("wasm.").is_some_and(|before| !before.bytes().last().is_some_and(is_ident))
}

fn rename_in_glue(
    glue: &str,
    imports: &std::collections::HashMap<String, String>,
    exports: &std::collections::HashMap<&str, &str>,
) -> String {
    let mut out = String::with_capacity(glue.len());
    let mut copied = 0;
    for (at, token) in tokens(glue) {
        let short =
            if after_wasm(glue, at) { exports.get(token).copied() } else { imports.get(token).map(String::as_str) };
        if let Some(short) = short {
            out.push_str(&glue[copied..at]);
            out.push_str(short);
            copied = at + token.len();
        }
    }
    out.push_str(&glue[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_distinct_identifiers_until_they_run_out() {
        let names: Vec<String> = (0..3_276).map(|n| short_name(n).unwrap()).collect();
        let distinct: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        assert!(names.iter().all(|n| n.len() <= 2 && n.as_bytes()[0].is_ascii_alphabetic() && n.bytes().all(is_ident)));
        assert!(short_name(3_276).is_err());
    }

    #[test]
    fn the_glue_is_renamed_by_whole_identifiers_and_exports_only_after_wasm() {
        let glue = "const i = { __wbg_f_01: function(x) { return wasm.run(x); }, __wbg_f_012: 1 };\n\
                    wasm.run_more(); run(); xwasm.run(); wasm.memory;";
        let imports = std::collections::HashMap::from([("__wbg_f_01".to_owned(), "a".to_owned())]);
        let exports = std::collections::HashMap::from([("run", "b")]);
        assert_eq!(
            rename_in_glue(glue, &imports, &exports),
            "const i = { a: function(x) { return wasm.b(x); }, __wbg_f_012: 1 };\n\
             wasm.run_more(); run(); xwasm.run(); wasm.memory;"
        );
        let called = called_exports(glue);
        assert!(called.contains("run") && called.contains("run_more") && called.contains("memory"));
        assert!(!called.contains("__wbg_f_01"));
    }
}
