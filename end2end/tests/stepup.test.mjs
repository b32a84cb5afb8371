// Step-up: a high-risk session asks for a code by email first; saved methods appear after it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startMerchantSite, startServer } from "../support/harness.mjs";
import { api, fillCard, inElement, latestCode, merchant, session } from "../support/govifi.mjs";

let server, site, browser, m;

before(async () => {
  server = await startServer();
  site = await startMerchantSite(() => "<!doctype html><html lang=\"en\"><head><title>Receipt</title></head><body>ok</body></html>");
  m = await merchant(server);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await server?.stop();
});

async function verify(page) {
  await inElement(page, ".challenge button").click();
  await inElement(page, "#gv-code").waitFor();
  const code = await latestCode(server, m);
  await inElement(page, "#gv-code").fill(code);
  await inElement(page, ".challenge button.button:not(.secondary)").click();
  await page.waitForFunction(() => !document.querySelector("govifi-payment").shadowRoot.querySelector(".challenge"));
}

test("a high-risk session: a code by email, then payment", async () => {
  const s = await session(server, m, {
    customer_email: "alex@example.com", fraud_signals: { risk_level: "high" },
    success_url: `${site.url}/receipt?session_id={CHECKOUT_SESSION_ID}`,
  });
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  await inElement(page, ".challenge").waitFor();
  assert.match(await inElement(page, ".challenge").textContent(), /a\*\*\*@example\.com/);
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, ".total-amount").waitFor();
  assert.ok(await inElement(page, "button.pay").isDisabled(), "no paying before the challenge");
  // A wrong code says how many tries are left.
  await inElement(page, ".challenge button").click();
  await inElement(page, "#gv-code").waitFor();
  await inElement(page, "#gv-code").fill("000000" === (await latestCode(server, m)) ? "111111" : "000000");
  await inElement(page, ".challenge button.button:not(.secondary)").click();
  await page.waitForFunction(() => /Attempts left: 4/.test(document.querySelector("govifi-payment").shadowRoot.querySelector(".challenge-note").textContent));
  await inElement(page, "#gv-code").fill(await latestCode(server, m));
  await inElement(page, ".challenge button.button:not(.secondary)").click();
  await page.waitForFunction(() => !document.querySelector("govifi-payment").shadowRoot.querySelector(".challenge"));
  await page.waitForFunction(() => !document.querySelector("govifi-payment").shadowRoot.querySelector("button.pay").disabled);
  await inElement(page, "button.pay").click();
  await page.waitForURL(new RegExp(`^${site.url}/receipt`), { timeout: 15000 });
  await page.close();
});

test("a saved card appears after the challenge and pays", async () => {
  const customer = await api(server, "POST", "/api/customers", { token: m.token, account: m.uid, body: { email: "sam@example.com" } });
  await api(server, "POST", `/api/customers/${customer.body.id}/payment-methods`, {
    token: m.token, account: m.uid,
    body: { usage: "on_session", payment_method: { type: "card", card: { number: "4000056655665556", exp_month: 12, exp_year: 2031 } } },
  });
  const s = await session(server, m, {
    customer_id: customer.body.id, fraud_signals: { risk_level: "high" },
    success_url: `${site.url}/receipt?session_id={CHECKOUT_SESSION_ID}`,
  });
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  await inElement(page, ".challenge").waitFor();
  assert.equal(await inElement(page, ".saved").count(), 0, "no saved methods before the challenge");
  await verify(page);
  await inElement(page, ".saved").waitFor();
  assert.match(await inElement(page, ".saved").textContent(), /Visa ending in 5556/);
  await inElement(page, ".total-amount").waitFor();
  assert.equal(await inElement(page, ".fee-amount").textContent(), "$3.95", "the saved debit card's fee");
  await inElement(page, "button.pay").click();
  await page.waitForURL(new RegExp(`^${site.url}/receipt`), { timeout: 15000 });
  await page.close();
});

test("the step-up card asks for the challenge, then pays", async () => {
  const s = await session(server, m, { customer_email: "step@example.com", success_url: `${site.url}/receipt?session_id={CHECKOUT_SESSION_ID}` });
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  await fillCard(page, "4000 0027 6000 3184");
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  await inElement(page, ".challenge").waitFor();
  assert.match(await inElement(page, ".form-message").textContent(), /verify it's you/);
  await verify(page);
  await page.waitForFunction(() => !document.querySelector("govifi-payment").shadowRoot.querySelector("button.pay").disabled);
  await inElement(page, "button.pay").click();
  await page.waitForURL(new RegExp(`^${site.url}/receipt`), { timeout: 15000 });
  await page.close();
});
