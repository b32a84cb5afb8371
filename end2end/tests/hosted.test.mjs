// The hosted checkout page: paying, declines, checks before any request, ACH, ended sessions,
// Spanish, and paying with the keyboard alone.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startMerchantSite, startServer } from "../support/harness.mjs";
import { api, fillCard, inElement, merchant, session } from "../support/govifi.mjs";

let server, site, browser, m;

before(async () => {
  server = await startServer();
  site = await startMerchantSite(() => `<!doctype html><html lang="en"><head><title>Receipt</title></head><body><h1>Thanks</h1></body></html>`);
  m = await merchant(server);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.stop();
  await server?.stop();
});

const receiptSession = (fields = {}) =>
  session(server, m, { success_url: `${site.url}/receipt?session_id={CHECKOUT_SESSION_ID}`, ...fields });

test("pays 4242 on the hosted page: fee and total first, then the signed success URL", async () => {
  const s = await receiptSession({ required_avs_fields: ["zip"] });
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  await inElement(page, "#gv-number").waitFor();
  assert.ok(!page.url().includes("#"), "the credential left the address bar");
  const pay = inElement(page, "button.pay");
  assert.ok(await pay.isDisabled(), "no paying before the fee is known");
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, ".total-amount").waitFor();
  assert.equal(await inElement(page, ".fee-amount").textContent(), "$4.20");
  assert.equal(await inElement(page, ".total-amount").textContent(), "$146.47");
  assert.match(await inElement(page, ".disclosure").textContent(), /convenience fee of \$4\.20/);
  assert.equal((await pay.textContent()).trim(), "Pay $146.47");
  assert.ok(await pay.isEnabled());
  await pay.click();
  await page.waitForURL(new RegExp(`^${site.url}/receipt`), { timeout: 15000 });
  const landed = page.url();
  assert.ok(landed.includes(`session_id=${s.session_id}`) && landed.includes("govifi_sig="), landed);
  assert.ok(!landed.includes("_secret_"), "the credential never rides along");
  const verdict = await api(server, "POST", "/v1/hosted-sessions/verify-redirect", { token: m.token, account: m.uid, body: { url: landed } });
  assert.deepEqual(verdict.body, { valid: true });
  await page.close();
});

test("an answer lost on its way still lands on the signed success URL, charged once", async () => {
  const s = await receiptSession();
  const page = await browser.newPage();
  // The first confirm reaches the server, which pays; its answer is lost on the way back and
  // the page gets a 503 instead. The page asks again with the same key until it gets the answer.
  let confirms = 0;
  await page.route("**/confirm", async (route) => {
    confirms += 1;
    if (confirms > 1) return route.continue();
    await route.fetch();
    const error = { type: "api_error", code: "processor_unavailable", message: "The payment processor did not answer" };
    await route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ error }) });
  });
  await page.goto(s.hosted_url);
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  await page.waitForURL(new RegExp(`^${site.url}/receipt`), { timeout: 20000 });
  assert.ok(confirms >= 2, "asked again");
  assert.ok(page.url().includes("govifi_sig="), page.url());
  const paid = await api(server, "GET", `/api/payments?$filter=session_id eq '${s.session_id}'&$count=true`, { token: m.token, account: m.uid });
  assert.equal(paid.body["@odata.count"], 1, JSON.stringify(paid.body));
  await page.close();
});

test("the pay button is busy while its confirm is in flight, and nothing sends a second", async () => {
  const s = await receiptSession();
  const page = await browser.newPage();
  // The first confirm is held at the browser until the test lets it go on.
  const sent = [];
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route("**/confirm", async (route) => {
    sent.push(route.request().headers()["idempotency-key"]);
    await held;
    await route.continue();
  });
  await page.goto(s.hosted_url);
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, ".total-amount").waitFor();
  const pay = inElement(page, "button.pay");
  await pay.click();
  await page.waitForFunction(() => document.querySelector("govifi-payment").shadowRoot.querySelector("button.pay").getAttribute("aria-busy") === "true");
  assert.ok(await pay.isDisabled(), "disabled while paying");
  assert.match(await pay.textContent(), /Processing your payment/);
  // Enter in a field, a script's submit, and a click forced onto the disabled button.
  await inElement(page, "#gv-cvc").press("Enter");
  await page.evaluate(() => document.querySelector("govifi-payment").shadowRoot.querySelector("form.pay-form").requestSubmit());
  await pay.dispatchEvent("click");
  await page.waitForTimeout(300);
  assert.equal(sent.length, 1, `one confirm in flight, not ${sent.length}`);
  release();
  await page.waitForURL(new RegExp(`^${site.url}/receipt`), { timeout: 15000 });
  assert.equal(new Set(sent).size, 1, "any retry reused the attempt's key");
  const paid = await api(server, "GET", `/api/payments?$filter=session_id eq '${s.session_id}'&$count=true`, { token: m.token, account: m.uid });
  assert.equal(paid.body["@odata.count"], 1, JSON.stringify(paid.body));
  await page.close();
});

test("a decline shows its reason and the customer pays with another card", async () => {
  const s = await receiptSession();
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  await fillCard(page, "4000 0000 0000 0002");
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  const alert = inElement(page, ".form-message");
  await page.waitForFunction(() => document.querySelector("govifi-payment").shadowRoot.querySelector(".form-message").textContent.includes("declined"));
  assert.match(await alert.textContent(), /Your payment was declined/);
  await inElement(page, "#gv-number").fill("4000 0000 0000 9995");
  await page.waitForFunction(() => !document.querySelector("govifi-payment").shadowRoot.querySelector("button.pay").disabled);
  await inElement(page, "button.pay").click();
  await page.waitForFunction(() => document.querySelector("govifi-payment").shadowRoot.querySelector(".form-message").textContent.includes("insufficient"));
  assert.match(await alert.textContent(), /insufficient funds/);
  await inElement(page, "#gv-number").fill("4242 4242 4242 4242");
  await page.waitForFunction(() => !document.querySelector("govifi-payment").shadowRoot.querySelector("button.pay").disabled);
  await inElement(page, "button.pay").click();
  await page.waitForURL(new RegExp(`^${site.url}/receipt`), { timeout: 15000 });
  await page.close();
});

test("a Luhn-invalid number is refused before any request", async () => {
  const s = await receiptSession();
  const page = await browser.newPage();
  const confirms = [];
  page.on("request", (r) => r.url().endsWith("/confirm") && confirms.push(r.url()));
  await page.goto(s.hosted_url);
  await fillCard(page, "4242 4242 4242 4241");
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  const number = inElement(page, "#gv-number");
  await page.waitForFunction(() => document.querySelector("govifi-payment").shadowRoot.querySelector("#gv-number").getAttribute("aria-invalid") === "true");
  assert.equal(await number.getAttribute("aria-describedby"), "gv-number-error");
  assert.match(await inElement(page, "#gv-number-error").textContent(), /valid card number/);
  const focused = await page.evaluate(() => document.querySelector("govifi-payment").shadowRoot.activeElement?.id);
  assert.equal(focused, "gv-number", "focus moves to the first error");
  assert.deepEqual(confirms, [], "no confirm was sent");
  await page.close();
});

test("a bank account (ACH) payment ends processing", async () => {
  const s = await receiptSession();
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  await inElement(page, "#gv-tab-ach").click();
  await inElement(page, "#gv-holder").fill("Alex Doe");
  await inElement(page, "#gv-routing").fill("110000000");
  await inElement(page, "#gv-account").fill("000123456789");
  await inElement(page, ".total-amount").waitFor();
  assert.equal(await inElement(page, ".fee-amount").textContent(), "$1.50");
  await inElement(page, "button.pay").click();
  await page.waitForURL(new RegExp(`^${site.url}/receipt`), { timeout: 15000 });
  const got = await api(server, "GET", `/v1/hosted-sessions/${s.session_id}`, { token: m.token, account: m.uid });
  const payment = await api(server, "GET", `/api/payments/${got.body.payment_id}`, { token: m.token, account: m.uid });
  assert.equal(payment.body.status, "processing");
  await page.close();
});

test("a bad routing number is caught in the browser", async () => {
  const s = await receiptSession();
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  await inElement(page, "#gv-tab-ach").click();
  await inElement(page, "#gv-holder").fill("Alex Doe");
  await inElement(page, "#gv-routing").fill("110000001");
  await inElement(page, "#gv-account").fill("000123456789");
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  await inElement(page, "#gv-routing-error").waitFor();
  assert.equal(await inElement(page, "#gv-routing").getAttribute("aria-invalid"), "true");
  await page.close();
});

test("an expired session says so and links back to the merchant", async () => {
  const s = await receiptSession();
  await api(server, "POST", `/v1/hosted-sessions/${s.session_id}/expire`, { token: m.token, account: m.uid });
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  // Said by the server: the page needs no credential (nor the element) for it.
  await page.locator(".ended").waitFor();
  assert.match(await page.locator(".ended").textContent(), /This checkout has expired/);
  assert.equal(await page.locator("a.button").getAttribute("href"), "https://shop.example/billing");
  assert.equal(await page.locator("govifi-payment").count(), 0);
  await page.close();
});

test("the last five minutes count down, and an open page turns expired when time is up", async () => {
  const s = await receiptSession({ expires_in_seconds: 300 });
  const page = await browser.newPage();
  // The page's clock (Date.now, setInterval) is Playwright's, so minutes pass at once.
  await page.clock.install();
  await page.goto(s.hosted_url);
  const countdown = inElement(page, ".countdown");
  await countdown.waitFor();
  const seconds = async () => {
    const [, min, sec] = (await countdown.textContent()).match(/This checkout expires in (\d):(\d\d)$/);
    return Number(min) * 60 + Number(sec);
  };
  const before = await seconds();
  assert.ok(before > 240 && before <= 300, `starts near 5:00, not ${before}`);
  await page.clock.runFor(61_000);
  await page.waitForFunction(
    (limit) => {
      const text = document.querySelector("govifi-payment").shadowRoot.querySelector(".countdown")?.textContent ?? "";
      const [, min, sec] = text.match(/(\d):(\d\d)$/) ?? [];
      return min !== undefined && Number(min) * 60 + Number(sec) <= limit;
    },
    before - 60,
  );
  await page.clock.runFor(300_000);
  await inElement(page, ".ended").waitFor();
  assert.match(await inElement(page, ".ended").textContent(), /This checkout has expired/);
  assert.equal(await inElement(page, ".countdown").count(), 0);
  await page.close();
});

test("the element keeps the server's time, not a device clock set wrong", async () => {
  // Two hours fast: a 30-minute session is open, not "expired", and shows no countdown yet.
  const open = await receiptSession({ expires_in_seconds: 1800 });
  const fast = await browser.newPage();
  await fast.clock.install({ time: new Date(Date.now() + 2 * 3600_000) });
  await fast.goto(open.hosted_url);
  await inElement(fast, "button.pay").waitFor();
  assert.equal(await inElement(fast, ".ended").count(), 0, "open, by the server's clock");
  assert.equal(await inElement(fast, ".countdown").count(), 0, "30 minutes left");
  await fast.close();
  // An hour slow: a 5-minute session counts down from about 5:00.
  const short = await receiptSession({ expires_in_seconds: 300 });
  const slow = await browser.newPage();
  await slow.clock.install({ time: new Date(Date.now() - 3600_000) });
  await slow.goto(short.hosted_url);
  const countdown = inElement(slow, ".countdown");
  await countdown.waitFor();
  const [, min, sec] = (await countdown.textContent()).match(/(\d):(\d\d)$/);
  const left = Number(min) * 60 + Number(sec);
  assert.ok(left > 240 && left <= 300, `about 5:00 left, not ${left}`);
  await slow.close();
});

test("an already-paid session says so", async () => {
  const s = await receiptSession();
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  await page.waitForURL(new RegExp(`^${site.url}/receipt`), { timeout: 15000 });
  // Back from the merchant's page (the address without its #cs=), or the link again: paid.
  await page.goBack();
  await page.locator(".ended").waitFor();
  assert.match(await page.locator(".ended").textContent(), /already been made/);
  await page.goto(s.hosted_url);
  await page.locator(".ended").waitFor();
  assert.match(await page.locator(".ended").textContent(), /already been made/);
  await page.close();
});

test("the Spanish locale speaks Spanish", async () => {
  const s = await receiptSession({ locale: "es", required_avs_fields: ["zip"] });
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  await inElement(page, "#gv-number").waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), "es");
  assert.equal(await inElement(page, "label[for=gv-number]").textContent(), "Número de tarjeta");
  assert.equal(await inElement(page, "#gv-tab-ach").textContent(), "Cuenta bancaria");
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, ".total-amount").waitFor();
  assert.equal(await inElement(page, ".total-amount").textContent(), "$146,47");
  assert.match(await inElement(page, "button.pay").textContent(), /Pagar \$146,47/);
  assert.match(await inElement(page, ".cancel").textContent(), /Cancelar/);
  await page.close();
});

test("pays with the keyboard alone", async () => {
  const s = await receiptSession();
  const page = await browser.newPage();
  await page.goto(s.hosted_url);
  await inElement(page, "#gv-number").waitFor();
  const active = () => page.evaluate(() => document.querySelector("govifi-payment").shadowRoot.activeElement?.id ?? null);
  for (let i = 0; i < 10 && (await active()) !== "gv-number"; i++) await page.keyboard.press("Tab");
  assert.equal(await active(), "gv-number", "Tab reaches the card number");
  await page.keyboard.type("4242424242424242");
  await page.keyboard.press("Tab");
  await page.keyboard.type("1230");
  await page.keyboard.press("Tab");
  await page.keyboard.type("123");
  await inElement(page, ".total-amount").waitFor();
  await page.waitForFunction(() => !document.querySelector("govifi-payment").shadowRoot.querySelector("button.pay").disabled);
  await page.keyboard.press("Enter");
  await page.waitForURL(new RegExp(`^${site.url}/receipt`), { timeout: 15000 });
  await page.close();
});
