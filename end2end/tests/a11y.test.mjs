// Accessibility and layout: axe-core finds nothing in each state of the hosted page (form,
// error, success, the challenge, saved methods, the ended pages) nor in the wallet; screenshots
// at 1280 and 320 px; no horizontal scrolling at 320 px.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launchBrowser, startMerchantSite, startServer } from "../support/harness.mjs";
import { api, fillCard, inElement, latestCode, merchant, session } from "../support/govifi.mjs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
export const SCREENSHOTS = join(import.meta.dirname, "..", "test-results", "screenshots");

let server, site, browser, m;

before(async () => {
  server = await startServer();
  site = await startMerchantSite(() => "<!doctype html><html lang=\"en\"><head><title>Receipt</title></head><body>ok</body></html>");
  m = await merchant(server);
  browser = await launchBrowser();
  mkdirSync(SCREENSHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await server?.stop();
});

/** axe-core's violations on the page (it looks inside open shadow roots). */
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")) }));
  });
}

async function newPage(width) {
  // Axe is injected as a script: the test context lets it past the page's (strict) CSP.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width, height: 900 } });
  return context.newPage();
}

test("axe finds no violations in the form, error and success states", async () => {
  const s = await session(server, m, {
    success_url: `${site.url}/receipt?session_id={CHECKOUT_SESSION_ID}`,
    required_avs_fields: ["cardholder", "zip"],
    line_items: [{ name: "Water", quantity: 2, unit_amount: 5000 }, { name: "Sewer", quantity: 1, unit_amount: 4227 }],
    amount: null,
  });
  const page = await newPage(1280);
  await page.goto(s.hosted_url);
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, "#gv-name").fill("Alex Doe");
  await inElement(page, ".total-amount").waitFor();
  assert.deepEqual(await violations(page), [], "form state");

  // Error state: a field error and a decline message.
  await inElement(page, "#gv-number").fill("4242 4242 4242 4241");
  await inElement(page, "button.pay").click();
  await inElement(page, "#gv-number-error").waitFor();
  assert.deepEqual(await violations(page), [], "field error state");
  await inElement(page, "#gv-number").fill("4000 0000 0000 0002");
  await page.waitForFunction(() => !document.querySelector("govifi-payment").shadowRoot.querySelector("button.pay").disabled);
  await inElement(page, "button.pay").click();
  await page.waitForFunction(() => document.querySelector("govifi-payment").shadowRoot.querySelector(".form-message").textContent.includes("declined"));
  assert.deepEqual(await violations(page), [], "decline state");

  await page.context().close();

  // Success state: the receipt. (With layout "hosted" it shows while the browser leaves for the
  // success URL; with "embedded" it stays, which lets axe look at it.)
  const done = await session(server, m, { layout: "embedded" });
  const receiptPage = await newPage(1280);
  await receiptPage.goto(done.hosted_url);
  await fillCard(receiptPage, "4242 4242 4242 4242");
  await inElement(receiptPage, ".total-amount").waitFor();
  await inElement(receiptPage, "button.pay").click();
  await inElement(receiptPage, ".receipt").waitFor();
  assert.deepEqual(await violations(receiptPage), [], "success state");
  await receiptPage.context().close();
});

test("screenshots at 1280 and 320 px; the form fits 320 px without horizontal scrolling", async () => {
  for (const width of [1280, 320]) {
    const s = await session(server, m, { required_avs_fields: ["zip"] });
    const page = await newPage(width);
    await page.goto(s.hosted_url);
    await fillCard(page, "4242 4242 4242 4242");
    await inElement(page, ".total-amount").waitFor();
    const path = join(SCREENSHOTS, `hosted-${width}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot: ${path}`);
    const widths = await page.evaluate(() => {
      const host = document.querySelector("govifi-payment");
      return { page: document.documentElement.scrollWidth, viewport: window.innerWidth, element: host.scrollWidth, section: host.shadowRoot.querySelector(".govifi").scrollWidth };
    });
    assert.ok(widths.page <= widths.viewport, `no horizontal scroll at ${width}px: ${JSON.stringify(widths)}`);
    assert.ok(widths.section <= widths.viewport, `the checkout fits at ${width}px: ${JSON.stringify(widths)}`);
    await page.context().close();
  }
});

test("the bank tab and the autopay consent pass axe, and the payment keeps the mandate shown; tabs follow allowed_methods", async () => {
  const s = await session(server, m, { layout: "embedded", customer_email: "autopay@example.com", setup_future_usage: "off_session" });
  const page = await newPage(1280);
  await page.goto(s.hosted_url);
  await inElement(page, "#gv-save").waitFor();
  const shown = await inElement(page, ".mandate").textContent();
  assert.match(shown, /^By checking this box you authorize City of Example Utilities to charge this payment method/);
  assert.equal(await inElement(page, "#gv-tab-ach").count(), 1);
  await inElement(page, "#gv-tab-ach").click();
  await inElement(page, "#gv-routing").waitFor();
  assert.deepEqual(await violations(page), [], "the bank tab with the autopay consent");
  // Paid by card with the box ticked: the payment's consent keeps the very words shown.
  await inElement(page, "#gv-tab-card").click();
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, "#gv-save").check();
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  await inElement(page, ".receipt").waitFor();
  const done = await api(server, "GET", `/v1/hosted-sessions/${s.session_id}`, { token: m.token, account: m.uid });
  const payment = await api(server, "GET", `/api/payments/${done.body.payment_id}`, { token: m.token, account: m.uid });
  assert.equal(payment.body.consent.mandate, shown);
  await page.context().close();

  // A session that takes cards only shows no bank tab.
  const cardOnly = await session(server, m, { allowed_methods: ["card"] });
  const only = await newPage(1280);
  await only.goto(cardOnly.hosted_url);
  await inElement(only, "#gv-number").waitFor();
  assert.equal(await inElement(only, "#gv-tab-ach").count(), 0);
  await only.context().close();
});

test("the challenge, saved methods, the ended pages and the wallet pass axe; no countdown with time to spare", async () => {
  const auth = { token: m.token, account: m.uid };
  const customer = await api(server, "POST", "/api/customers", { ...auth, body: { email: "axe@example.com" } });
  const saved = await api(server, "POST", `/api/customers/${customer.body.id}/payment-methods`, {
    ...auth, body: { usage: "on_session", payment_method: { type: "card", card: { number: "4242424242424242", exp_month: 12, exp_year: 2031 } } },
  });
  assert.equal(saved.status, 201, JSON.stringify(saved.body));

  // A high-risk session: the challenge, then the saved methods.
  const s = await session(server, m, { layout: "embedded", customer_id: customer.body.id, fraud_signals: { risk_level: "high" } });
  const page = await newPage(1280);
  await page.goto(s.hosted_url);
  await inElement(page, ".challenge").waitFor();
  assert.deepEqual(await violations(page), [], "the challenge before its code is sent");
  await inElement(page, ".challenge button").click();
  await inElement(page, "#gv-code").waitFor();
  assert.deepEqual(await violations(page), [], "the challenge asking for its code");
  await inElement(page, "#gv-code").fill(await latestCode(server, m));
  await inElement(page, ".challenge button.button:not(.secondary)").click();
  await inElement(page, ".saved").waitFor();
  await inElement(page, ".total-amount").waitFor();
  assert.deepEqual(await violations(page), [], "the saved methods");
  // 30 minutes left: the countdown shows only in the last five.
  assert.equal(await inElement(page, ".countdown").count(), 0, "no countdown with time to spare");
  await inElement(page, "button.pay").click();
  await inElement(page, ".receipt").waitFor();
  // The same link again, paid: the server's ended page. (From another page first: the address
  // differs from the open page's only by its fragment, which would not load the page again.)
  await page.goto("about:blank");
  await page.goto(s.hosted_url);
  await page.locator(".ended").waitFor();
  assert.match(await page.locator(".ended").textContent(), /already been made/);
  assert.deepEqual(await violations(page), [], "the already-paid page");
  await page.context().close();

  const expired = await session(server, m);
  await api(server, "POST", `/v1/hosted-sessions/${expired.session_id}/expire`, auth);
  const ended = await newPage(1280);
  await ended.goto(expired.hosted_url);
  await ended.locator(".ended").waitFor();
  assert.deepEqual(await violations(ended), [], "the expired page");
  await ended.context().close();

  // The wallet, listing the saved card.
  const wallet = await api(server, "POST", "/v1/wallet-sessions", { ...auth, body: { customer_id: customer.body.id, return_url: "https://shop.example/account" } });
  assert.equal(wallet.status, 201, JSON.stringify(wallet.body));
  const w = await newPage(1280);
  await w.goto(wallet.body.wallet_url);
  await w.waitForFunction(() => /ending in 4242/.test(document.querySelector("govifi-payment")?.shadowRoot?.querySelector(".wallet-list")?.textContent ?? ""));
  assert.deepEqual(await violations(w), [], "the wallet");
  await w.context().close();
});
