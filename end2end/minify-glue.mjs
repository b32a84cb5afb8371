// Minifies the element's JavaScript (wasm-bindgen's glue, its snippets, the split chunks' link
// module) with terser, in Trunk's staging folder (as a Trunk post-build hook) or in the folder
// `cargo xtask dist` names. Trunk's own minifier cannot parse the glue.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { minify } from "terser";

const staging = process.argv[2] ?? process.env.TRUNK_STAGING_DIR;
if (!staging) throw new Error("no folder: pass one, or run as a Trunk hook (TRUNK_STAGING_DIR)");

async function* scripts(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* scripts(path);
    else if (entry.name.endsWith(".js")) yield path;
  }
}

for await (const path of scripts(staging)) {
  const source = await readFile(path, "utf8");
  const { code } = await minify(source, { module: true, compress: { passes: 2 }, mangle: true });
  await writeFile(path, code);
  console.log(`minified ${path}: ${source.length} → ${code.length} bytes`);
}
