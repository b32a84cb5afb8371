// The sandbox demo: the server plays a merchant; the hosted payment comes back to a receipt page
// that verifies the signed redirect, and the embedded element pays on the demo page itself.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startServer } from "../support/harness.mjs";
import { fillCard, inElement } from "../support/govifi.mjs";

let server, browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("demo: the hosted page pays and the receipt verifies the signature", async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/demo`);
  await page.locator("button[type=submit]").click();
  await page.locator("#hosted-link").click();
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  await page.waitForURL(/\/demo\/receipt/, { timeout: 15000 });
  assert.match(await page.locator("#signature").textContent(), /Signature verified/);
  assert.match(await page.locator("#payment").textContent(), /^pay_/);
  // A tampered redirect is called out.
  await page.goto(page.url().replace(/govifi_sig=[0-9a-f]+/, "govifi_sig=" + "0".repeat(64)));
  assert.match(await page.locator("#signature").textContent(), /NOT valid/);
  await page.close();
});

test("demo: the embedded element pays beside it", async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/demo`);
  await page.locator("button[type=submit]").click();
  await page.locator("#embedded").waitFor();
  await fillCard(page, "4242 4242 4242 4242");
  await inElement(page, ".total-amount").waitFor();
  await inElement(page, "button.pay").click();
  await page.waitForURL(/\/demo\/receipt/, { timeout: 15000 });
  assert.match(await page.locator("#signature").textContent(), /Signature verified/);
  await page.close();
});
