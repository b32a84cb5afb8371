// Wallet mode: a customer lists, adds and removes saved payment methods.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startServer } from "../support/harness.mjs";
import { api, inElement, merchant } from "../support/govifi.mjs";

let server, browser, m;

before(async () => {
  server = await startServer();
  m = await merchant(server);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("lists, adds and removes saved methods with a wallet credential", async () => {
  const customer = await api(server, "POST", "/api/customers", { token: m.token, account: m.uid, body: { email: "wally@example.com" } });
  const wallet = await api(server, "POST", "/v1/wallet-sessions", {
    token: m.token, account: m.uid, body: { customer_id: customer.body.id, return_url: "https://shop.example/account" },
  });
  assert.equal(wallet.status, 201);
  const page = await browser.newPage();
  await page.goto(wallet.body.wallet_url);
  await inElement(page, ".wallet-list").waitFor();
  assert.ok(!page.url().includes("#"), "the credential left the address bar");
  await page.waitForFunction(() => /no saved payment methods/.test(document.querySelector("govifi-payment").shadowRoot.querySelector(".wallet-list").textContent));
  await inElement(page, "#gv-w-number").fill("4242424242424242");
  await inElement(page, "#gv-w-exp").fill("1230");
  await inElement(page, "form button[type=submit]").click();
  await page.waitForFunction(() => /ending in 4242/.test(document.querySelector("govifi-payment").shadowRoot.querySelector(".wallet-list").textContent));
  const listed = await api(server, "GET", `/api/customers/${customer.body.id}/payment-methods`, { token: m.token, account: m.uid });
  assert.equal(listed.body.value.length, 1);
  await inElement(page, ".wallet-item button").click();
  await page.waitForFunction(() => /no saved payment methods/.test(document.querySelector("govifi-payment").shadowRoot.querySelector(".wallet-list").textContent));
  const after = await api(server, "GET", `/api/customers/${customer.body.id}/payment-methods`, { token: m.token, account: m.uid });
  assert.equal(after.body.value.length, 0);
  assert.equal(await inElement(page, "a.button").getAttribute("href"), "https://shop.example/account");
  await page.close();
});

test("a save whose answer was lost, sent again, saves the card once", async () => {
  const customer = await api(server, "POST", "/api/customers", { token: m.token, account: m.uid, body: { email: "twice@example.com" } });
  const wallet = await api(server, "POST", "/v1/wallet-sessions", {
    token: m.token, account: m.uid, body: { customer_id: customer.body.id, return_url: "https://shop.example/account" },
  });
  const page = await browser.newPage();
  // The first save reaches the server, which saves the card; its answer never comes back.
  let saves = 0;
  await page.route("**/payment-methods", async (route) => {
    if (route.request().method() !== "POST") return route.continue();
    saves += 1;
    if (saves > 1) return route.continue();
    await route.fetch();
    await route.abort("internetdisconnected");
  });
  await page.goto(wallet.body.wallet_url);
  await inElement(page, ".wallet-list").waitFor();
  await inElement(page, "#gv-w-number").fill("4242424242424242");
  await inElement(page, "#gv-w-exp").fill("1230");
  const save = inElement(page, "form button[type=submit]");
  await save.click();
  await page.waitForFunction(() => /could not reach|No pudimos/.test(document.querySelector("govifi-payment").shadowRoot.textContent));
  await save.click();
  await page.waitForFunction(() => /ending in 4242/.test(document.querySelector("govifi-payment").shadowRoot.querySelector(".wallet-list").textContent));
  assert.equal(saves, 2);
  const listed = await api(server, "GET", `/api/customers/${customer.body.id}/payment-methods`, { token: m.token, account: m.uid });
  assert.equal(listed.body.value.length, 1, "saved once");
  await page.close();
});
