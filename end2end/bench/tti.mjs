// `cargo xtask bench`: the hosted checkout's time to interactive in headless Chromium, beside a
// static HTML form page served by the same server (issue 14). For each page, ROUNDS cold loads
// (a fresh browser context each: nothing cached), timed from the navigation to
//   - ready: the card number field is there to type in;
//   - pay:   the same test card typed into the same fields and the Pay button enabled (on the
//            hosted page that waits for the element's fee quote).
// The medians and their ratios are printed and written to target/bench/tti.json.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchBrowser, startServer } from "../support/harness.mjs";
import { fillCard, inElement, merchant, session } from "../support/govifi.mjs";

const ROUNDS = Number(process.env.GOVIFI_TTI_ROUNDS || 15);
const OUT = process.env.GOVIFI_BENCH_OUT || join(import.meta.dirname, "../../target/bench");

// The baseline: what a form costs when the browser has nothing to run. Same fields, same button.
const STATIC_FORM = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Pay</title></head>
<body><form><label>Card number <input id="gv-number" autocomplete="cc-number" inputmode="numeric"></label>
<label>Expiry <input id="gv-exp" autocomplete="cc-exp"></label>
<label>CVC <input id="gv-cvc" autocomplete="cc-csc"></label>
<label>ZIP <input id="gv-postal" autocomplete="postal-code"></label>
<button class="pay" type="submit">Pay $146.47</button></form></body></html>`;

// A copy of the built element with the static page beside it, served from /assets/.
const assets = mkdtempSync(join(tmpdir(), "govifi-tti-"));
cpSync(process.env.GOVIFI_ASSETS_DIR, assets, { recursive: true });
// `.htm`: the server refuses `.html` under /assets/ (Trunk's index pages are not part of the API).
writeFileSync(join(assets, "static-form.htm"), STATIC_FORM);

const server = await startServer({ GOVIFI_ASSETS_DIR: assets });
const browser = await launchBrowser();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One cold load of `url`: [ms to the number field, ms to Pay enabled after typing the card]. */
async function round(url, inside) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const locate = (selector) => (inside ? inElement(page, selector) : page.locator(selector));
  const started = performance.now();
  await page.goto(url, { waitUntil: "commit" });
  await locate("#gv-number").waitFor({ state: "visible" });
  const ready = performance.now() - started;
  if (inside) {
    await fillCard(page, "4242424242424242");
  } else {
    for (const [id, value] of [["#gv-number", "4242424242424242"], ["#gv-exp", "12/30"], ["#gv-cvc", "123"], ["#gv-postal", "94107"]]) {
      await page.locator(id).fill(value);
    }
  }
  await page.waitForFunction(
    (shadow) => {
      const root = shadow ? document.querySelector("govifi-payment")?.shadowRoot : document;
      const pay = root?.querySelector("button.pay");
      return pay && !pay.disabled;
    },
    inside,
    { polling: "raf" },
  );
  const pay = performance.now() - started;
  await context.close();
  return [ready, pay];
}

let code = 0;
try {
  const m = await merchant(server);
  const results = {};
  for (const [name, inside] of [["static", false], ["hosted", true]]) {
    const ready = [];
    const pay = [];
    // One warm-up load (the server's and the browser's own first-time costs), not counted.
    for (let i = 0; i <= ROUNDS; i++) {
      const url = inside
        ? (await session(server, m, { required_avs_fields: ["zip"] })).hosted_url
        : `${server.url}/assets/static-form.htm`;
      const [r, p] = await round(url, inside);
      if (i > 0) {
        ready.push(r);
        pay.push(p);
      }
    }
    results[name] = { ready_ms: median(ready), pay_enabled_ms: median(pay), rounds: ROUNDS };
  }
  const ratio = (key) => results.hosted[key] / results.static[key];
  results.ratio = { ready: ratio("ready_ms"), pay_enabled: ratio("pay_enabled_ms") };
  console.log(`\n== the hosted checkout's time to interactive in Chromium (median of ${ROUNDS} cold loads) ==`);
  console.log("page        ready ms   Pay enabled ms");
  for (const name of ["static", "hosted"]) {
    const r = results[name];
    console.log(`${name.padEnd(10)} ${r.ready_ms.toFixed(1).padStart(9)} ${r.pay_enabled_ms.toFixed(1).padStart(16)}`);
  }
  console.log(`ratio      ${results.ratio.ready.toFixed(2).padStart(9)} ${results.ratio.pay_enabled.toFixed(2).padStart(16)}`);
  console.log("(ready: the card number field is there; Pay enabled: the test card typed and, on the hosted page, its fee quoted)");
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "tti.json"), JSON.stringify(results, null, 2));
  console.log(`results: ${join(OUT, "tti.json")}`);
} catch (e) {
  console.error(e);
  code = 1;
} finally {
  await browser.close();
  await server.stop();
  rmSync(assets, { recursive: true, force: true });
}
process.exit(code);
