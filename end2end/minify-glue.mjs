// Trunk post-build hook: minifies the element's JavaScript (wasm-bindgen's glue and its
// snippets) in Trunk's staging folder with terser. Trunk's own minifier cannot parse the glue.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { minify } from "terser";

const staging = process.env.TRUNK_STAGING_DIR;
if (!staging) throw new Error("TRUNK_STAGING_DIR is not set: run through `trunk build`");

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
