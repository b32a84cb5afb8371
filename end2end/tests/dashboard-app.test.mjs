// The merchant dashboard's pages (hydrated): a paid checkout found in Payments by reference and
// partly refunded from its page (ledger and status change, the API agrees, the event names the
// user); a viewer without Refund and refused by the server; an API key shown once, used and
// revoked; a webhook to a loopback receiver with its test event in the delivery log; branding
// seen on the next checkout; axe-core, 320 px and a screenshot of each main page.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { launchBrowser, startServer, watchErrors } from "../support/harness.mjs";
import { adminToken, api, fillCard, inElement } from "../support/govifi.mjs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
// The README's screenshots are written over only when asked (GOVIFI_UPDATE_SCREENSHOTS=1), so a
// test run leaves the work tree as it found it.
const SHOTS = process.env.GOVIFI_UPDATE_SCREENSHOTS === "1"
  ? join(dirname(fileURLToPath(import.meta.url)), "..", "..", "docs", "screenshots")
  : join(dirname(fileURLToPath(import.meta.url)), "..", "test-results", "screenshots");
let server, browser, password, demo, receiver;

before(async () => {
  server = await startServer();
  for (let i = 0; i < 100 && !password; i++) {
    password = server.output().match(/Dashboard password: (\S+)\s+\(shown once\)/)?.[1];
    if (!password) await new Promise((r) => setTimeout(r, 100));
  }
  // The sandbox's demo account (the demo user's client owns it), driven with the admin token.
  const token = await adminToken(server);
  const accounts = await api(server, "GET", "/api/paymentaccounts", { token });
  const account = accounts.body.value.find((a) => a.name === "Utility payments");
  demo = { token, uid: account.uid, client: account.client_id };
  receiver = await startReceiver();
  browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await receiver?.stop();
  await server?.stop();
});

/** A loopback webhook receiver that records what it is sent. */
async function startReceiver() {
  const received = [];
  const http = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("thanks");
    });
  });
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${http.address().port}/hooks`, received, stop: () => new Promise((r) => http.close(r)) };
}

async function violations(page) {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
}

/** A signed-in page (its own browser context: its own cookie); axe is let past the CSP. */
async function signedIn(email, secret, viewport = { width: 1200, height: 900 }) {
  const context = await browser.newContext({ bypassCSP: true, viewport });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/dashboard/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(secret);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/dashboard$/);
  await hydrated(page);
  return { context, page, errors };
}

/** Waits until the app is live (the hydration bundle has run). */
async function hydrated(page) {
  await page.waitForFunction(() => performance.getEntriesByType("resource").some((e) => e.name.includes("/assets/dashboard/") && e.name.endsWith(".wasm")));
  await page.waitForLoadState("networkidle");
}

async function payCheckout(reference, amount = 2500) {
  const r = await api(server, "POST", "/v1/hosted-sessions", {
    token: demo.token, account: demo.uid,
    body: { amount, currency: "USD", reference, description: "Dog licence", success_url: "https://shop.example/ok", cancel_url: "https://shop.example/no" },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const page = await browser.newPage();
  await page.goto(r.body.hosted_url);
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, ".total-amount").waitFor();
  await page.route("https://shop.example/**", (route) => route.fulfill({ body: "<!doctype html><title>ok</title>" }));
  await inElement(page, "button.pay").click();
  await page.waitForURL(/shop\.example\/ok/, { timeout: 15000 });
  await page.close();
  const got = await api(server, "GET", `/v1/hosted-sessions/${r.body.session_id}`, { token: demo.token, account: demo.uid });
  return got.body.payment_id;
}

async function checkPage(page, name) {
  assert.deepEqual(await violations(page), [], `axe on ${name}`);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  // The same page, loaded on a 320 px wide screen.
  const narrow = await page.context().newPage();
  await narrow.setViewportSize({ width: 320, height: 800 });
  await narrow.goto(page.url());
  await narrow.waitForLoadState("networkidle");
  const wide = await narrow.evaluate(() =>
    document.documentElement.scrollWidth <= window.innerWidth
      ? []
      : [...document.querySelectorAll("body *")]
          .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
          .map((e) => `${e.tagName.toLowerCase()}.${e.className}#${e.id}`)
          .slice(0, 8),
  );
  assert.deepEqual(wide, [], `no horizontal scroll at 320 px on ${name}`);
  await narrow.close();
}

test("an owner finds a paid checkout by reference and refunds part of it from its page", async () => {
  assert.ok(password, server.output());
  const reference = `INV-${Date.now()}`;
  const paymentId = await payCheckout(reference);
  await payCheckout(`OTHER-${Date.now()}`, 1200);
  const { context, page, errors } = await signedIn("demo@govifi.test", password);
  await page.locator(".figures").first().waitFor();
  assert.match(await page.locator("svg.chart desc").textContent(), /Bars from/);
  await checkPage(page, "home");

  await page.getByRole("link", { name: "Payments", exact: true }).click();
  await page.waitForURL(/\/dashboard\/payments$/);
  await page.getByLabel("Reference").fill(reference);
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/reference=INV-/);
  await page.getByText("1 payments").waitFor();
  await checkPage(page, "payments");
  await page.getByRole("link", { name: "$25.00" }).click();
  await page.waitForURL(new RegExp(`/dashboard/payments/${paymentId}`));
  assert.equal(await page.locator("#payment-status").textContent(), "captured");

  await page.getByLabel(/^Amount \(up to/).fill("5.00");
  await page.getByLabel("Reason").fill("Duplicate tag");
  await page.getByRole("button", { name: "Refund", exact: true }).click();
  // A confirmation step before the money moves.
  await page.getByRole("heading", { name: "Refund $5.00?" }).waitFor();
  assert.equal(await api(server, "GET", `/api/payments/${paymentId}`, { token: demo.token, account: demo.uid }).then((r) => r.body.amount_refunded), 0);
  await checkPage(page, "payment");
  await page.getByRole("button", { name: "Confirm refund" }).click();
  await page.waitForFunction(() => document.querySelector("#payment-status")?.textContent === "partially_refunded");
  assert.equal(await page.locator("#payment-refunded").textContent(), "$5.00");
  assert.match(await page.locator("#ledger").textContent(), /refund\s*\$5\.00/);

  // The API agrees, and the event says who did it.
  const p = await api(server, "GET", `/api/payments/${paymentId}`, { token: demo.token, account: demo.uid });
  assert.equal(p.body.status, "partially_refunded");
  assert.equal(p.body.amount_refunded, 500);
  const refunds = await api(server, "GET", `/api/payments/${paymentId}/refunds`, { token: demo.token, account: demo.uid });
  assert.deepEqual(refunds.body.value.map((r) => [r.amount, r.reason]), [[500, "Duplicate tag"]]);
  const events = await api(server, "GET", `/api/events?$filter=type eq 'refund.created'`, { token: demo.token, account: demo.uid });
  assert.equal(events.body.value[0].actor, "user:demo@govifi.test");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a viewer sees no Refund, and a refund forged as the viewer is 403", async () => {
  const paymentId = await payCheckout(`VIEW-${Date.now()}`);
  const viewerPassword = "viewer password 123";
  await server.cli(["user", "create", "--client", demo.client, "--email", "viewer@govifi.test", "--role", "viewer", "--password-stdin"], viewerPassword);
  const { context, page, errors } = await signedIn("viewer@govifi.test", viewerPassword);
  await page.goto(`${server.url}/dashboard/payments/${paymentId}`);
  await page.locator("#payment-status").waitFor();
  assert.equal(await page.getByRole("button", { name: "Refund" }).count(), 0);
  const forged = await page.evaluate(async (id) => {
    const r = await fetch("/dashboard/api/refund", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: `id=${id}&amount=1.00&reason=forged&key=forged1`,
    });
    return r.status;
  }, paymentId);
  assert.equal(forged, 403);
  const p = await api(server, "GET", `/api/payments/${paymentId}`, { token: demo.token, account: demo.uid });
  assert.equal(p.body.amount_refunded, 0);
  assert.deepEqual(errors.filter((e) => !e.includes("403")), []);
  await context.close();
});

test("an API key is shown once, works, and stops working when revoked", async () => {
  const { context, page, errors } = await signedIn("demo@govifi.test", password);
  await page.getByRole("link", { name: "Developers" }).click();
  await page.waitForURL(/\/dashboard\/developers$/);
  await page.getByLabel("Label").fill("Billing back end");
  await page.getByRole("button", { name: "Create API key" }).click();
  const secret = (await page.locator(".secret-value").textContent()).trim();
  assert.match(await page.locator(".secret").textContent(), /won't see this again/);
  assert.match(secret, /^gk_/);
  await checkPage(page, "developers");
  const use = () => fetch(`${server.url}/api/payments?$top=1`, { headers: { authorization: `Bearer ${secret}` } }).then((r) => r.status);
  assert.equal(await use(), 200);
  await page.getByRole("button", { name: "Revoke Billing back end" }).click();
  await page.locator("#api-keys").getByText("revoked", { exact: true }).waitFor();
  // The answer takes the focus: the Revoke button went with the redrawn list.
  await page.waitForFunction(() => document.activeElement?.textContent === "Revoked.");
  assert.equal(await use(), 401);
  // Shown once: a fresh load of the page does not have it.
  await page.reload();
  await page.locator("#api-keys").waitFor();
  assert.equal(await page.locator(".secret-value").count(), 0);
  assert.ok(!(await page.content()).includes(secret));
  assert.deepEqual(errors, []);
  await context.close();
});

test("a webhook to a loopback receiver gets its test event, and the delivery log shows it", async () => {
  const { context, page, errors } = await signedIn("demo@govifi.test", password);
  await page.goto(`${server.url}/dashboard/developers/webhooks`);
  await hydrated(page);
  await page.getByLabel("Endpoint URL").fill(receiver.url);
  await page.getByRole("button", { name: "Add webhook" }).click();
  assert.match((await page.locator(".secret-value").textContent()).trim(), /^whsec_/);
  await page.getByRole("button", { name: "Send test event" }).click();
  await page.getByText("Test event sent").waitFor();
  for (let i = 0; i < 100 && !receiver.received.some((r) => r.body.includes("webhook.test")); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(receiver.received.some((r) => r.body.includes("webhook.test") && r.headers["webhook-signature"]?.startsWith("v1,")));
  await checkPage(page, "webhooks");
  await page.getByRole("link", { name: "Delivery log" }).click();
  await page.waitForURL(/\/developers\/webhooks\/wh/);
  for (let i = 0; i < 20 && (await page.locator(".attempt-status").count()) === 0; i++) {
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.waitForTimeout(250);
  }
  assert.equal((await page.locator(".attempt-status").first().textContent()).trim(), "200");
  assert.match(await page.locator("#deliveries").textContent(), /webhook\.test/);
  assert.match(await page.locator("#deliveries").textContent(), /thanks/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("branding changed in Settings shows on the next checkout", async () => {
  const { context, page, errors } = await signedIn("demo@govifi.test", password);
  await page.getByRole("link", { name: "Settings" }).click();
  await page.waitForURL(/\/dashboard\/settings$/);
  await page.getByLabel("Name shown to customers").fill("Springfield Animal Services");
  // The live preview follows the form as it is typed.
  await page.waitForFunction(() => document.querySelector("#preview-name")?.textContent === "Springfield Animal Services");
  await page.locator("#brand-color").evaluate((el) => {
    el.value = "#2b7a0b";
    el.dispatchEvent(new Event("input", { bubbles: true }));
  });
  assert.equal(await page.locator("#preview-pay").getAttribute("fill"), "#2b7a0b");
  await page.getByLabel("Amount (USD)").fill("100.00");
  await page.getByRole("button", { name: "Calculate" }).click();
  await page.locator("#fee-result").waitFor();
  assert.match(await page.locator("#fee-result").textContent(), /^Fee \$[\d.]+ · total \$[\d.]+$/);
  await page.getByRole("button", { name: "Save branding" }).click();
  await page.getByText("Saved: new checkouts show it.").waitFor();
  // The fee rules are a form in dollars: ACH's flat fee changed, the calculator agrees, the API
  // agrees in cents; an empty row is there for a new rule and "Add a row" gives another.
  const rows = await page.locator("#fee-rules tbody tr").count();
  assert.equal(await page.getByLabel("Rule 3: method").inputValue(), "ach");
  assert.equal(await page.getByLabel("Rule 3: fixed amount").inputValue(), "1.50");
  await page.getByRole("button", { name: "Add a row" }).click();
  assert.equal(await page.locator("#fee-rules tbody tr").count(), rows + 1);
  await page.getByLabel("Rule 3: fixed amount").fill("2.25");
  await page.getByRole("button", { name: "Save fee rules" }).click();
  await page.getByText("Saved: new quotes use these rules.").waitFor();
  await page.locator("#fee-method").selectOption("ach");
  await page.getByLabel("Amount (USD)").fill("100.00");
  await page.getByRole("button", { name: "Calculate" }).click();
  await page.waitForFunction(() => document.querySelector("#fee-result")?.textContent === "Fee $2.25 · total $102.25");
  const account = await api(server, "GET", `/api/paymentaccounts/${demo.uid}`, { token: demo.token });
  assert.equal(account.body.fee_rules[2].fixed_amount, 225);
  assert.equal(account.body.fee_rules.length, rows - 1, "the empty rows added nothing");
  await checkPage(page, "settings");
  // Put back as the other tests expect it.
  await page.getByLabel("Rule 3: fixed amount").fill("1.50");
  await page.getByRole("button", { name: "Save fee rules" }).click();
  await page.getByText("Saved: new quotes use these rules.").waitFor();
  // Rotating the redirect secret asks first; the new secret is shown once.
  await page.getByRole("button", { name: "Rotate redirect secret" }).click();
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("button", { name: "Rotate redirect secret" }).click();
  await page.getByRole("button", { name: "Confirm rotation" }).click();
  const secret = page.getByRole("region", { name: "The new redirect secret" }).locator(".secret-value");
  await secret.waitFor();
  assert.ok((await secret.textContent()).length >= 32, "a new secret, shown once");
  assert.equal(await page.getByRole("button", { name: "Confirm rotation" }).isVisible(), false, "the question closed");
  const s = await api(server, "POST", "/v1/hosted-sessions", {
    token: demo.token, account: demo.uid,
    body: { amount: 1000, currency: "USD", success_url: "https://shop.example/ok", cancel_url: "https://shop.example/no" },
  });
  const checkout = await browser.newPage();
  await checkout.goto(s.body.hosted_url);
  await checkout.waitForFunction(() => document.querySelector("govifi-payment")?.shadowRoot?.querySelector("#gv-title")?.textContent === "Springfield Animal Services");
  const primary = await checkout.locator("govifi-payment").evaluate((el) => el.style.getPropertyValue("--govifi-primary"));
  assert.equal(primary.trim().toUpperCase(), "#2B7A0B");
  await checkout.close();
  assert.deepEqual(errors, []);
  await context.close();
});

test("a payment link from Checkout sessions opens a hosted checkout", async () => {
  const { context, page, errors } = await signedIn("demo@govifi.test", password);
  await page.getByRole("link", { name: "Checkout sessions" }).click();
  await page.waitForURL(/\/dashboard\/sessions$/);
  await page.getByText("New payment link").click();
  await page.getByLabel("Amount (USD)").fill("42.50");
  await page.getByLabel("Description").fill("Parking permit");
  await page.getByLabel("Success URL").fill("https://shop.example/ok");
  await page.getByLabel("Cancel URL").fill("https://shop.example/no");
  await page.getByRole("button", { name: "Create payment link" }).click();
  const link = (await page.locator("#payment-link").textContent()).trim();
  assert.match(link, /#cs=/);
  await checkPage(page, "sessions");
  // Its page: open, with the same link to copy.
  await page.getByRole("link", { name: "$42.50" }).first().click();
  await page.waitForURL(/\/dashboard\/sessions\/cs_/);
  assert.equal(await page.locator("#session-status").textContent(), "active");
  assert.equal((await page.locator(".secret-value").textContent()).trim(), link);
  await checkPage(page, "session");
  const checkout = await browser.newPage();
  await checkout.goto(link);
  await inElement(checkout, "#gv-number").waitFor();
  await checkout.close();
  assert.deepEqual(errors, []);
  await context.close();
});

test("an owner adds a teammate, whose password is shown once and signs them in", async () => {
  const { context, page, errors } = await signedIn("demo@govifi.test", password);
  await page.getByRole("link", { name: "Team" }).click();
  await page.waitForURL(/\/dashboard\/team$/);
  await page.getByLabel("Email").fill("clerk@govifi.test");
  await page.getByLabel("Role", { exact: true }).selectOption("admin");
  await page.getByRole("button", { name: "Add user" }).click();
  const secret = (await page.locator(".secret-value").textContent()).trim();
  assert.ok(secret.length >= 16, secret);
  await page.locator("#team").getByText("clerk@govifi.test").waitFor();
  await checkPage(page, "team");
  const clerk = await signedIn("clerk@govifi.test", secret);
  assert.equal(await clerk.page.locator("#signed-in-as").textContent(), "clerk@govifi.test (admin)");
  await clerk.context.close();
  assert.deepEqual(errors, []);
  await context.close();
});

test("a customer's saved card is shown by brand and last 4 and removed after a confirmation", async () => {
  const as = { token: demo.token, account: demo.uid };
  const cus = await api(server, "POST", "/api/customers", { ...as, body: { name: "Ada Lovelace", email: "ada@example.com" } });
  assert.equal(cus.status, 201, JSON.stringify(cus.body));
  const methods = `/api/customers/${cus.body.id}/payment-methods`;
  const card = { type: "card", card: { number: "4242424242424242", exp_month: 12, exp_year: 2031, cvc: "123" } };
  const saved = await api(server, "POST", methods, { ...as, body: { usage: "on_session", payment_method: card } });
  assert.equal(saved.status, 201, JSON.stringify(saved.body));

  const { context, page, errors } = await signedIn("demo@govifi.test", password);
  await page.getByRole("link", { name: "Customers" }).click();
  await page.waitForURL(/\/dashboard\/customers$/);
  await page.getByLabel("Name, email or reference").fill("lovelace");
  await page.getByRole("button", { name: "Search" }).click();
  await page.waitForURL(/q=lovelace/);
  await page.locator("#customers").getByRole("link", { name: "Ada Lovelace" }).click();
  await page.waitForURL(new RegExp(`/dashboard/customers/${cus.body.id}$`));
  await hydrated(page);
  await page.locator("#saved-methods").getByText("Visa •••• 4242").waitFor();
  await checkPage(page, "customer");
  await page.getByRole("button", { name: "Remove Visa •••• 4242" }).click();
  await page.getByRole("heading", { name: "Remove Visa •••• 4242?" }).waitFor();
  await hydrated(page);
  await page.getByRole("button", { name: "Confirm removal" }).click();
  await page.getByText("No saved methods.").waitFor();
  const left = await api(server, "GET", methods, as);
  assert.deepEqual(left.body.value, []);
  assert.deepEqual(errors, []);
  await context.close();
});

test("a terminal is added, takes a payment that a test card completes, and another that is cancelled", async () => {
  const { context, page, errors } = await signedIn("demo@govifi.test", password);
  await page.getByRole("link", { name: "Terminals" }).click();
  await page.waitForURL(/\/dashboard\/terminals$/);
  await page.getByLabel("Label").fill("Front desk");
  await page.getByLabel("Serial number").fill("SN-2026-001");
  await page.getByLabel("Location").fill("Lobby");
  await page.getByRole("button", { name: "Add terminal" }).click();
  const terminal = page.locator("#terminals li", { hasText: "Front desk" });
  await terminal.getByText("online").waitFor();

  await terminal.getByLabel("Amount (USD)").fill("12.00");
  await terminal.getByLabel("Reference").fill("DESK-42");
  await terminal.getByRole("button", { name: "Start a payment on Front desk" }).click();
  await terminal.getByText("Waiting for a card: $12.00").waitFor();
  await checkPage(page, "terminals");
  await terminal.getByLabel("Test card").selectOption({ label: "Visa, approved" });
  await terminal.getByRole("button", { name: "Present card" }).click();
  await page.getByText("Card presented: the payment is captured.").waitFor();
  await terminal.getByText("online").waitFor();
  const paid = await api(server, "GET", "/api/payments?$filter=reference eq 'DESK-42'", { token: demo.token, account: demo.uid });
  assert.deepEqual(paid.body.value.map((p) => [p.status, p.amount]), [["captured", 1200]]);

  await terminal.getByLabel("Amount (USD)").fill("3.00");
  await terminal.getByRole("button", { name: "Start a payment on Front desk" }).click();
  await terminal.getByText("busy").waitFor();
  await terminal.getByRole("button", { name: "Cancel payment on Front desk" }).click();
  await page.getByText("Payment cancelled.").waitFor();
  await terminal.getByText("online").waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});
