// Minifies the element's JavaScript (wasm-bindgen's glue, its snippets, the split chunks' link
// module) with terser, in Trunk's staging folder (as a Trunk post-build hook) or in the folder
// `cargo xtask dist` names. Trunk's own minifier cannot parse the glue.
//
// `--drop-classes <prefix>` (the checkout's build) also removes the glue's exported classes whose
// names start with <prefix>, and the statements that name them: classes wasm-bindgen writes for
// exports the build has dropped from the WASM, which nothing constructs. terser then removes what
// only they used (their finalization registries, helpers).
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "acorn";
import { minify } from "terser";

const args = process.argv.slice(2);
const at = args.indexOf("--drop-classes");
const dropPrefix = at >= 0 ? args.splice(at, 2)[1] : undefined;
const staging = args[0] ?? process.env.TRUNK_STAGING_DIR;
if (!staging) throw new Error("no folder: pass one, or run as a Trunk hook (TRUNK_STAGING_DIR)");

async function* scripts(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* scripts(path);
    else if (entry.name.endsWith(".js")) yield path;
  }
}

/** The module without its exported classes named `prefix…` and the top-level statements naming them. */
function dropClasses(source, prefix) {
  const body = parse(source, { ecmaVersion: "latest", sourceType: "module" }).body;
  const isDropped = (node) =>
    node.type === "ExportNamedDeclaration" &&
    node.declaration?.type === "ClassDeclaration" &&
    node.declaration.id.name.startsWith(prefix);
  const names = body.filter(isDropped).map((node) => node.declaration.id.name);
  if (names.length === 0) return { source, names };
  const naming = new RegExp(`\\b(${names.join("|")})\\b`);
  const cuts = body.filter((node) => isDropped(node) || naming.test(source.slice(node.start, node.end)));
  let out = "";
  let copied = 0;
  for (const node of cuts) {
    out += source.slice(copied, node.start);
    copied = node.end;
  }
  return { source: out + source.slice(copied), names };
}

for await (const path of scripts(staging)) {
  let source = await readFile(path, "utf8");
  const length = source.length;
  if (dropPrefix) {
    const dropped = dropClasses(source, dropPrefix);
    source = dropped.source;
    if (dropped.names.length) console.log(`${path}: dropped ${dropped.names.join(", ")}`);
  }
  // `pure_new`: a `new` whose result is unused (a dropped class's registry) can go.
  const { code } = await minify(source, { module: true, compress: { passes: 2, pure_new: true }, mangle: true });
  await writeFile(path, code);
  console.log(`minified ${path}: ${length} → ${code.length} bytes`);
}
