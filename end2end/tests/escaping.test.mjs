// A merchant's name is text, never markup: with `<script>` in it, every page and the element
// show it as typed and run nothing.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startServer, watchErrors } from "../support/harness.mjs";
import { api, inElement, merchant, session } from "../support/govifi.mjs";

const NAME = `Tom & Jerry's "Shop" <script>window.__ran = 1</script><img src=x onerror="window.__ran = 2">`;
let server, browser, m;

before(async () => {
  server = await startServer();
  m = await merchant(server, { extra: { branding: { display_name: NAME, primary_color: "#1A5FB4" } } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function shownAsText(page, url, { title } = {}) {
  const errors = watchErrors(page);
  await page.goto(url);
  // (While loading, the title is the loading notice.)
  await inElement(page, "#gv-title").filter({ hasText: "Tom & Jerry" }).waitFor();
  assert.equal(await inElement(page, "#gv-title").textContent(), NAME, url);
  if (title) assert.equal(await page.title(), title, url);
  assert.equal(await page.evaluate(() => window.__ran), undefined, `nothing ran on ${url}`);
  const markup = await page.evaluate(() => document.documentElement.outerHTML + document.querySelector("govifi-payment").shadowRoot.innerHTML);
  assert.ok(!markup.includes("<script>window.__ran") && !markup.includes("<img src=\"x\""), `no injected element on ${url}`);
  assert.deepEqual(errors, [], url);
}

test("a merchant name with <script> in it renders as text on every page", async () => {
  const s = await session(server, m);
  const page = await browser.newPage();
  await shownAsText(page, s.hosted_url, { title: `Pay ${NAME}` });
  const embedded = await session(server, m, { layout: "embedded" });
  await shownAsText(page, `${embedded.embed_url}#cs=${embedded.client_secret}`, { title: NAME });
  const customer = await api(server, "POST", "/api/customers", { token: m.token, account: m.uid, body: { email: "w@example.com" } });
  const wallet = await api(server, "POST", "/v1/wallet-sessions", {
    token: m.token, account: m.uid, body: { customer_id: customer.body.id, return_url: "https://shop.example/account" },
  });
  assert.equal(wallet.status, 201, JSON.stringify(wallet.body));
  await shownAsText(page, wallet.body.wallet_url);
  await page.close();
});
