// The element itself: it loads from the server into a page of another origin, renders inside an
// open shadow root, and takes its credential from #cs= and removes it from the address at once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startMerchantSite, startServer, watchErrors } from "../support/harness.mjs";
import { inElement, merchant, session } from "../support/govifi.mjs";

let server, site, browser, m;

before(async () => {
  server = await startServer();
  site = await startMerchantSite(
    () => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Merchant</title>
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
  const encodings = {};
  page.on("response", async (r) => {
    if (r.url().startsWith(server.url)) encodings[new URL(r.url()).pathname] = (await r.allHeaders())["content-encoding"];
  });
  await page.goto(`${site.url}/checkout`);
  const line = inElement(page, ".brand-line");
  await line.waitFor();
  const wasm = Object.keys(encodings).filter((p) => p.endsWith(".wasm"));
  assert.equal(wasm.length, 1, `one WASM bundle, the checkout's: ${JSON.stringify(encodings)}`);
  assert.match(wasm[0], /^\/assets\/govifi-payment-[0-9a-f]+_bg\.wasm$/);
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

test("reads the credential from #cs= and removes the fragment from the address", async () => {
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
