// The merchant dashboard's sign-in: the sandbox's demo user (its password printed at the first
// start), the lockout after five failures, sign-out; axe-core and 320 px on its pages.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import { launchBrowser, startServer, watchErrors } from "../support/harness.mjs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
let server, browser, password;

before(async () => {
  server = await startServer();
  // The first start prints the demo user's password once (after the address line).
  for (let i = 0; i < 100 && !password; i++) {
    password = server.output().match(/Dashboard password: (\S+)\s+\(shown once\)/)?.[1];
    if (!password) await new Promise((r) => setTimeout(r, 100));
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function violations(page) {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
}

async function signIn(page, email, secret) {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(secret);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("the sandbox's demo user signs in and out", async () => {
  assert.ok(password, `the first start prints the password:\n${server.output()}`);
  // Axe is injected as a script: the test context lets it past the page's (strict) CSP.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 320, height: 700 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/dashboard`);
  await page.waitForURL(/\/dashboard\/login$/);
  assert.deepEqual(await violations(page), []);
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, "no horizontal scroll at 320 px");
  await signIn(page, "demo@govifi.test", password);
  await page.waitForURL(/\/dashboard$/);
  assert.equal(await page.locator("#signed-in-as").textContent(), "demo@govifi.test (owner)");
  assert.deepEqual(await violations(page), []);
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
  // The session cookie is not readable from script.
  assert.equal(await page.evaluate(() => document.cookie), "");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/dashboard\/login$/);
  await page.goto(`${server.url}/dashboard`);
  await page.waitForURL(/\/dashboard\/login$/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("five wrong passwords lock the email", async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/dashboard/login`);
  for (let i = 0; i < 5; i++) {
    await signIn(page, "demo@govifi.test", `not the password ${i}`);
    await page.waitForURL(/error=invalid/);
    assert.match(await page.locator("#signin-error").textContent(), /not right/);
  }
  await signIn(page, "demo@govifi.test", password);
  await page.waitForURL(/error=locked/);
  assert.match(await page.locator("#signin-error").textContent(), /locked for 15 minutes/);
  await page.goto(`${server.url}/dashboard`);
  await page.waitForURL(/\/dashboard\/login$/);
  await page.close();
});
