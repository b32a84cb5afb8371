// The element itself: it loads from the server into a page of another origin, renders inside an
// open shadow root, and takes its credential from its attributes (on the platform's own pages,
// from #cs=). The merchant page here hands its own #cs= to the element, as a merchant's page may.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startMerchantSite, startServer, watchErrors } from "../support/harness.mjs";
import { inElement, merchant, session } from "../support/govifi.mjs";

let server, site, browser, m;

before(async () => {
  server = await startServer();
  // The merchant's own code moves a credential its back end put in the address into the
  // element's attribute (before the element's script runs); `/bare` pages have none of it.
  const handOver = `<script type="module">
const found = location.hash.match(/^#cs=([^&]+)/);
if (found) {
  document.querySelector("govifi-payment").setAttribute("client-secret", decodeURIComponent(found[1]));
  history.replaceState(null, "", location.pathname + location.search);
}
</script>`;
  site = await startMerchantSite(
    (_, path) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Merchant</title>
${path.startsWith("/bare") ? "" : handOver}
<script type="module" src="${server.url}/sdk/govifi-payment.js"></script></head>
<body><h1>Pay your bill</h1><govifi-payment></govifi-payment></body></html>`,
  );
  m = await merchant(server, { origins: [site.url] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await server?.stop();
});

test("renders inside its open shadow root on a merchant page of another origin", async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  // What the browser downloads of the element, by file, with the encoding it came in.
  const responses = [];
  page.on("response", (r) => r.url().startsWith(server.url) && responses.push(r));
  await page.goto(`${site.url}/checkout`);
  const line = inElement(page, ".brand-line");
  await line.waitFor();
  const encodings = {};
  for (const r of responses) encodings[new URL(r.url()).pathname] = (await r.allHeaders())["content-encoding"];
  const wasm = Object.keys(encodings).filter((p) => p.endsWith(".wasm"));
  assert.equal(wasm.length, 1, `one WASM bundle, the checkout's: ${JSON.stringify(encodings)}`);
  assert.match(wasm[0], /^\/assets\/checkout-[0-9a-f]{16}\/govifi-payment_bg\.wasm$/);
  assert.equal(encodings[wasm[0]], "br", "the WASM comes brotli-compressed");
  assert.equal(encodings["/sdk/govifi-payment.js"], "br", "and so does the loader");
  assert.equal(await line.textContent(), "Secure checkout by Govifi");
  const dom = await page.evaluate(() => {
    const host = document.querySelector("govifi-payment");
    return { light: host.textContent, open: !!host.shadowRoot, shadow: host.shadowRoot?.textContent ?? "" };
  });
  assert.equal(dom.light, "", "nothing in the merchant's DOM");
  assert.ok(dom.open, "an open shadow root");
  // Without a credential it says so, clearly.
  assert.match(dom.shadow, /This checkout link is not valid/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("takes its credential from its attributes; a #cs= in a merchant page's address is not its to read", async () => {
  const s = await session(server, m);
  const page = await browser.newPage();
  await page.goto(`${site.url}/checkout?invoice=7#cs=${s.client_secret}`);
  await inElement(page, "#gv-title").waitFor();
  await inElement(page, ".amount-due").waitFor();
  const href = await page.evaluate(() => location.href);
  assert.equal(href, `${site.url}/checkout?invoice=7`);
  assert.ok(!href.includes("#") && !href.includes("_secret_"), "the credential is gone from the address");
  assert.equal(await inElement(page, "#gv-title").textContent(), "City of Example Utilities");
  assert.match(await inElement(page, ".amount-due").textContent(), /\$142\.27/);
  await page.close();
  // Any tenant may list any origin as allowed: a session put in the address of a page that
  // did not hand it to the element would show under that site's name. It is not read.
  const bare = await browser.newPage();
  await bare.goto(`${site.url}/bare#cs=${s.client_secret}`);
  await inElement(bare, ".notice").waitFor();
  assert.match(await inElement(bare, ".notice").textContent(), /This checkout link is not valid/);
  assert.equal(await inElement(bare, "#gv-number").count(), 0);
  await bare.close();
});

test("a card payment downloads no chunk; the bank account tab fetches its own, once", async () => {
  const s = await session(server, m);
  const page = await browser.newPage();
  const errors = watchErrors(page);
  const wasm = [];
  page.on("response", (r) => r.url().endsWith(".wasm") && wasm.push(new URL(r.url()).pathname));
  await page.goto(`${site.url}/checkout#cs=${s.client_secret}`);
  await inElement(page, "#gv-number").waitFor();
  assert.equal(wasm.length, 1, `only the checkout's main WASM: ${wasm.join(", ")}`);
  const folder = wasm[0].slice(0, wasm[0].lastIndexOf("/") + 1);
  // The parts most sessions never show (the bank account's fields here) come in chunks from the
  // same content-hashed folder, the first time they are shown.
  await inElement(page, "#gv-tab-ach").click();
  await inElement(page, "#gv-routing").waitFor();
  const chunks = wasm.slice(1);
  assert.ok(chunks.length >= 1, "the bank account's chunk was fetched");
  for (const chunk of chunks) {
    assert.ok(chunk.startsWith(folder) && !chunk.endsWith("_bg.wasm"), `a chunk beside the main WASM: ${chunk}`);
  }
  await inElement(page, "#gv-tab-card").click();
  await inElement(page, "#gv-number").waitFor();
  await inElement(page, "#gv-tab-ach").click();
  await inElement(page, "#gv-routing").waitFor();
  assert.equal(wasm.length, 1 + chunks.length, "a second visit to the tab fetches nothing more");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a chunk that cannot be fetched is a message with a retry, and the element lives on", async () => {
  const s = await session(server, m);
  const page = await browser.newPage();
  const errors = watchErrors(page);
  const chunk = /\/assets\/checkout-[0-9a-f]+\/split_ach[^/]*\.wasm$/;
  // The connection drops just as the customer opens the bank account tab.
  await page.route(chunk, (route) => route.abort("internetdisconnected"));
  await page.goto(`${site.url}/checkout#cs=${s.client_secret}`);
  await inElement(page, "#gv-tab-ach").click();
  const alert = inElement(page, ".error-box[role=alert]");
  await alert.waitFor();
  assert.match(await alert.textContent(), /could not be loaded/);
  // The rest of the checkout still works: the card tab, then the bank account once back online.
  await inElement(page, "#gv-tab-card").click();
  await inElement(page, "#gv-number").waitFor();
  await inElement(page, "#gv-tab-ach").click();
  await page.unroute(chunk);
  await inElement(page, ".error-box[role=alert] button").click();
  await inElement(page, "#gv-routing").waitFor();
  // Only the failed fetch itself is reported (by the browser and the split loader's log).
  assert.ok(errors.every((e) => /ERR_INTERNET_DISCONNECTED|Failed to fetch|failed to load/i.test(e)), JSON.stringify(errors));
  await page.close();
});

test("the script can be loaded twice and attributes work", async () => {
  const s = await session(server, m);
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${site.url}/blank`);
  await page.setContent(`<!doctype html><html><head>
<script type="module" src="${server.url}/sdk/govifi-payment.js"></script>
<script type="module" src="${server.url}/sdk/govifi-payment.js?again"></script></head>
<body><govifi-payment session-id="${s.session_id}" client-secret="${s.client_secret}"></govifi-payment></body></html>`);
  await inElement(page, ".amount-due").waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test("removed from the page, the element stops its countdown timer; moved, it keeps running", async () => {
  const s = await session(server, m, { expires_in_seconds: 300 });
  const page = await browser.newPage();
  const errors = watchErrors(page);
  // Every interval callback the page runs, counted. (The real clock: Playwright's fake one hands
  // out interval ids too large for Leptos's `IntervalHandle`, an `i32`.)
  await page.addInitScript(() => {
    window.__ticks = 0;
    const every = window.setInterval;
    window.setInterval = (f, ms, ...rest) => every(() => { window.__ticks += 1; f(); }, ms, ...rest);
  });
  await page.goto(`${site.url}/checkout#cs=${s.client_secret}`);
  const countdown = inElement(page, ".countdown");
  await countdown.waitFor();
  const ticks = () => page.evaluate(() => window.__ticks);
  const tickedPast = (n) => page.waitForFunction((n) => window.__ticks >= n, n, { timeout: 10_000 });
  // The countdown ticks while the element is on the page.
  await tickedPast((await ticks()) + 2);
  // Moving the element (disconnect, then connect at once) keeps the same checkout running.
  await page.evaluate(() => {
    const host = document.querySelector("govifi-payment");
    const box = document.createElement("div");
    document.body.append(box);
    box.append(host);
  });
  // Still ticking after a move.
  await tickedPast((await ticks()) + 2);
  assert.equal(await countdown.count(), 1);
  // Removed: no timer callback runs any more.
  await page.evaluate(() => document.querySelector("govifi-payment").remove());
  const removed = await ticks();
  await page.waitForTimeout(3_000);
  assert.equal(await ticks(), removed, "no timer callback after removal");
  assert.deepEqual(errors, []);
  // A new element on the same page works again.
  await page.evaluate(([id, secret]) => {
    const host = document.createElement("govifi-payment");
    host.setAttribute("session-id", id);
    host.setAttribute("client-secret", secret);
    document.body.append(host);
  }, [s.session_id, s.client_secret]);
  await countdown.waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});
