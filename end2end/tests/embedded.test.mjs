// The element embedded on merchants' pages: events on an allowed origin, a clear refusal on
// another, the embed page in an iframe (credential by postMessage), and Apple Pay.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startMerchantSite, startServer, watchErrors } from "../support/harness.mjs";
import { api, fillCard, inElement, merchant, session } from "../support/govifi.mjs";

let server, allowed, foreign, framing, browser, m;
const pages = new Map(); // path → html, for the allowed site

before(async () => {
  server = await startServer();
  allowed = await startMerchantSite(() => pages.get("current") ?? "<!doctype html><title>x</title>");
  foreign = await startMerchantSite(() => pages.get("foreign") ?? "<!doctype html><title>x</title>");
  framing = await startMerchantSite(() => pages.get("framing") ?? "<!doctype html><title>x</title>");
  m = await merchant(server, { origins: [allowed.url, framing.url] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const s of [allowed, foreign, framing]) await s?.stop();
  await server?.stop();
});

function merchantPage(s, preamble = "") {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
${preamble}
<script type="module" src="${server.url}/sdk/govifi-payment.js"></script></head>
<body><h1>Checkout</h1>
<govifi-payment id="pay" session-id="${s.session_id}" client-secret="${s.client_secret}"></govifi-payment>
<script>
  window.__events = [];
  for (const name of ["govifi-ready", "govifi-success", "govifi-error", "govifi-cancel"]) {
    document.getElementById("pay").addEventListener(name, (e) => window.__events.push({ name, detail: e.detail }));
  }
</script></body></html>`;
}

test("on an allowed origin: govifi-success fires with the payment id and a receipt shows", async () => {
  const s = await session(server, m, { layout: "embedded" });
  pages.set("current", merchantPage(s));
  const page = await browser.newPage();
  const errors = watchErrors(page);
  await page.goto(`${allowed.url}/shop`);
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  await page.waitForFunction(() => window.__events.some((e) => e.name === "govifi-success"));
  const events = await page.evaluate(() => window.__events);
  assert.ok(events.some((e) => e.name === "govifi-ready"));
  const success = events.find((e) => e.name === "govifi-success").detail;
  const got = await api(server, "GET", `/v1/hosted-sessions/${s.session_id}`, { token: m.token, account: m.uid });
  assert.equal(success.payment_id, got.body.payment_id);
  assert.equal(success.session_id, s.session_id);
  assert.ok(success.redirect_url.includes("govifi_sig="));
  assert.equal(page.url(), `${allowed.url}/shop`, "embedded: the merchant decides, the element does not navigate");
  await inElement(page, ".receipt").waitFor();
  assert.match(await inElement(page, ".receipt").textContent(), /Payment complete/);
  assert.equal(await inElement(page, ".payment-id").textContent(), got.body.payment_id);
  assert.deepEqual(errors, []);
  await page.close();
});

test("the cancel link becomes a govifi-cancel event when embedded", async () => {
  const s = await session(server, m, { layout: "embedded" });
  pages.set("current", merchantPage(s));
  const page = await browser.newPage();
  await page.goto(`${allowed.url}/shop`);
  await inElement(page, ".cancel button").click();
  await page.waitForFunction(() => window.__events.some((e) => e.name === "govifi-cancel"));
  await page.close();
});

test("on an origin the account does not allow, the element shows a clear error", async () => {
  const s = await session(server, m, { layout: "embedded" });
  pages.set("foreign", merchantPage(s));
  const page = await browser.newPage();
  await page.goto(`${foreign.url}/shop`);
  const notice = inElement(page, ".error-box");
  await notice.waitFor();
  assert.match(await notice.textContent(), /cannot be used on this website/);
  assert.equal(await inElement(page, "#gv-number").count(), 0, "no payment form");
  await page.waitForFunction(() => window.__events.some((e) => e.name === "govifi-error"));
  await page.close();
});

test("the embed page in an iframe takes the credential by postMessage and reports back", async () => {
  const s = await session(server, m, { layout: "embedded" });
  pages.set("framing", `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Framing shop</title></head><body>
<iframe id="checkout" title="Checkout" src="${s.embed_url}" style="width:100%;height:900px;border:0"></iframe>
<script>
  window.__messages = [];
  window.addEventListener("message", (event) => {
    if (event.origin !== ${JSON.stringify(server.url)}) return;
    window.__messages.push(event.data);
    if (event.data && event.data.type === "govifi-embed-ready") {
      document.getElementById("checkout").contentWindow.postMessage(
        { type: "govifi:credential", client_secret: ${JSON.stringify(s.client_secret)} }, ${JSON.stringify(server.url)});
    }
  });
</script></body></html>`);
  const page = await browser.newPage();
  await page.goto(`${framing.url}/shop`);
  const frame = page.frameLocator("#checkout");
  await frame.locator("govifi-payment #gv-number").waitFor();
  await frame.locator("govifi-payment #gv-number").fill("4242 4242 4242 4242");
  await frame.locator("govifi-payment #gv-exp").fill("12/30");
  await frame.locator("govifi-payment #gv-cvc").fill("123");
  await frame.locator("govifi-payment .total-amount").waitFor();
  await frame.locator("govifi-payment button.pay").click();
  await page.waitForFunction(() => window.__messages.some((m) => m.type === "govifi-success"));
  const success = (await page.evaluate(() => window.__messages)).find((m) => m.type === "govifi-success");
  assert.ok(success.detail.payment_id.startsWith("pay_"));
  // The embed page may be framed by allowed origins only.
  const response = await fetch(s.embed_url);
  const csp = response.headers.get("content-security-policy");
  assert.ok(csp.includes(`frame-ancestors ${server.url} ${allowed.url} ${framing.url}`), csp);
  const hosted = await fetch(`${server.url}/${s.session_id}`);
  assert.ok(hosted.headers.get("content-security-policy").includes("frame-ancestors 'none'"));
  await page.close();
});

test("the embed page ignores a credential posted from an origin the account does not allow", async () => {
  const s = await session(server, m, { layout: "embedded" });
  const secret = JSON.stringify(s.client_secret);
  // A frame of another origin beside the checkout, posting the session's own credential to it
  // (a cross-origin frame may post to its siblings).
  pages.set("foreign", `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Other</title></head><body><script>
  window.__sent = 0;
  setInterval(() => { parent.frames[0].postMessage({ type: "govifi:credential", client_secret: ${secret} }, "*"); window.__sent++; }, 50);
</script></body></html>`);
  pages.set("framing", `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Framing shop</title></head><body>
<iframe id="checkout" title="Checkout" src="${s.embed_url}" style="width:100%;height:400px;border:0"></iframe>
<iframe id="other" title="Other" src="${foreign.url}/other" style="width:200px;height:50px"></iframe>
<script>
  window.__messages = [];
  window.addEventListener("message", (event) => { if (event.origin === ${JSON.stringify(server.url)}) window.__messages.push(event.data); });
  window.__send = () => document.getElementById("checkout").contentWindow.postMessage(
    { type: "govifi:credential", client_secret: ${secret} }, ${JSON.stringify(server.url)});
</script></body></html>`);
  const page = await browser.newPage();
  await page.goto(`${framing.url}/shop`);
  // The embed page listens from before it says it is ready. (Both frames in view: Chromium
  // slows the timers of a cross-origin frame out of sight.)
  await page.waitForFunction(() => window.__messages.some((m) => m.type === "govifi-embed-ready"));
  const other = page.frames().find((f) => f.url().startsWith(`${foreign.url}/`));
  assert.ok(other, "the other origin's frame loaded");
  const sentBefore = await other.evaluate(() => window.__sent);
  // (Polled by time: a frame of another origin gets no animation frames of its own.)
  await other.waitForFunction((n) => window.__sent >= n + 10, sentBefore, { polling: 100 });
  const checkout = page.frameLocator("#checkout");
  assert.equal(await checkout.locator("govifi-payment #gv-number").count(), 0, "no form from a foreign origin's credential");
  assert.ok(!(await page.evaluate(() => window.__messages)).some((m) => m.type === "govifi-ready"), "nor any event sent on its behalf");
  // The allowed parent's own message opens it.
  await page.evaluate(() => window.__send());
  await checkout.locator("govifi-payment #gv-number").waitFor();
  await page.close();
});

test("Apple Pay appears where the browser offers it and pays (stubbed ApplePaySession)", async () => {
  const s = await session(server, m, { layout: "embedded" });
  const stub = `<script>
  window.ApplePaySession = class {
    static canMakePayments() { return true; }
    static STATUS_SUCCESS = 0;
    static STATUS_FAILURE = 1;
    constructor(version, request) { window.__applePayRequest = request; }
    begin() {
      setTimeout(() => this.onvalidatemerchant && this.onvalidatemerchant({ validationURL: "https://apple.example" }), 10);
      setTimeout(() => this.onpaymentauthorized({ payment: { token: window.__applePayToken || "tok_applepay_visa" } }), 30);
    }
    completeMerchantValidation() {}
    // The sheet closes once the server has answered: success for its payment, failure else.
    completePayment(status) { window.__applePayStatus = status; }
  };
</script>`;
  pages.set("current", merchantPage(s, stub));
  const page = await browser.newPage();
  await page.goto(`${allowed.url}/shop`);
  await inElement(page, "#gv-tab-apple_pay").click();
  await inElement(page, ".total-amount").waitFor();
  const button = inElement(page, "button.pay");
  assert.match(await button.textContent(), /Pay with Apple Pay/);
  await button.click();
  await page.waitForFunction(() => window.__events.some((e) => e.name === "govifi-success"));
  const request = await page.evaluate(() => window.__applePayRequest);
  assert.equal(request.total.amount, "142.27", "no fee rule for Apple Pay here: the amount");
  assert.equal(request.currencyCode, "USD");
  assert.equal(await page.evaluate(() => window.__applePayStatus), 0, "success, once the server paid");
  // A declined token: the sheet says it failed (it never shows success for a decline).
  const declined = await session(server, m, { layout: "embedded" });
  pages.set("current", merchantPage(declined, stub.replace("<script>", '<script>window.__applePayToken = "tok_applepay_decline";')));
  await page.goto(`${allowed.url}/shop`);
  await inElement(page, "#gv-tab-apple_pay").click();
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  await page.waitForFunction(() => window.__applePayStatus !== undefined);
  assert.equal(await page.evaluate(() => window.__applePayStatus), 1, "failure for a decline");
  await page.waitForFunction(() => document.querySelector("govifi-payment").shadowRoot.querySelector(".form-message")?.textContent.includes("declined"));
  // Without ApplePaySession there is no Apple Pay tab.
  const plain = await session(server, m, { layout: "embedded" });
  pages.set("current", merchantPage(plain));
  await page.goto(`${allowed.url}/shop`);
  await inElement(page, "#gv-number").waitFor();
  assert.equal(await inElement(page, "#gv-tab-apple_pay").count(), 0);
  await page.close();
});
