// The API console runs under its content security policy: Swagger UI renders every operation
// and "Try it out" calls this server, with no script, style or request the policy refuses.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, startServer, watchErrors } from "../support/harness.mjs";

let server, browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the API console renders and calls the server under its CSP", async () => {
  const page = await browser.newPage();
  const errors = watchErrors(page);
  const violations = [];
  await page.exposeFunction("__cspViolation", (v) => violations.push(v));
  await page.addInitScript(() =>
    document.addEventListener("securitypolicyviolation", (e) => window.__cspViolation(`${e.violatedDirective} ${e.blockedURI}`)),
  );
  const response = await page.goto(`${server.url}/docs/`);
  assert.match(response.headers()["content-security-policy"], /script-src 'self';/);
  // The document's operations, grouped by tag: the health check among them.
  const health = page.locator(".opblock-get", { hasText: "/healthz" }).first();
  await health.waitFor();
  assert.ok((await page.locator(".opblock").count()) > 20, "every operation is listed");
  await health.locator(".opblock-summary").click();
  await health.getByRole("button", { name: "Try it out" }).click();
  await health.getByRole("button", { name: "Execute" }).click();
  await health.locator(".live-responses-table .response-col_status").filter({ hasText: "200" }).first().waitFor();
  assert.deepEqual(violations, []);
  assert.deepEqual(errors, []);
  await page.close();
});
