// The element's first breath: it loads from the server into a merchant page of another origin,
// renders inside an open shadow root, and takes its credential from #cs= and removes it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startMerchantSite, startServer, watchErrors } from "../support/harness.mjs";

let server, merchant, browser;

before(async () => {
  server = await startServer();
  merchant = await startMerchantSite(
    () => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Merchant</title>
<script type="module" src="${server.url}/sdk/govifi-payment.js"></script></head>
<body><h1>Pay your bill</h1><govifi-payment></govifi-payment></body></html>`,
  );
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await merchant?.stop();
  await server?.stop();
});

test("renders inside its open shadow root on a merchant page of another origin", async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${merchant.url}/checkout`);
  const brand = page.locator("govifi-payment .govifi-brand");
  await brand.waitFor();
  assert.equal(await brand.textContent(), "Secure checkout by Govifi");
  // The text lives in the shadow root, not the merchant's light DOM.
  const inShadow = await page.evaluate(() => {
    const host = document.querySelector("govifi-payment");
    return {
      light: host.textContent,
      shadow: host.shadowRoot?.textContent ?? null,
      mode: host.shadowRoot ? "open" : "none",
    };
  });
  assert.equal(inShadow.light, "");
  assert.equal(inShadow.mode, "open");
  assert.match(inShadow.shadow, /Secure checkout by Govifi/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("reads the credential from #cs= and removes the fragment from the address", async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  const credential = "cs_e2eSession1_secret_abcDEF123";
  await page.goto(`${merchant.url}/checkout?invoice=7#cs=${credential}`);
  const status = page.locator("govifi-payment .govifi-status");
  await status.waitFor();
  assert.equal(await status.textContent(), "Checkout session cs_e2eSession1");
  const href = await page.evaluate(() => location.href);
  assert.equal(href, `${merchant.url}/checkout?invoice=7`);
  assert.ok(!href.includes("#"), "fragment gone");
  assert.ok(!href.includes(credential), "credential gone from the address");
  assert.deepEqual(errors, []);
  await page.close();
});

test("attributes take precedence, and the script can be loaded twice", async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${merchant.url}/blank`);
  await page.setContent(`<!doctype html><html><head>
<script type="module" src="${server.url}/sdk/govifi-payment.js"></script>
<script type="module" src="${server.url}/sdk/govifi-payment.js?again"></script></head>
<body><govifi-payment session-id="cs_attr1" client-secret="cs_attr1_secret_x1"></govifi-payment></body></html>`);
  const status = page.locator("govifi-payment .govifi-status");
  await status.waitFor();
  assert.equal(await status.textContent(), "Checkout session cs_attr1");
  assert.deepEqual(errors, []);
  await page.close();
});
