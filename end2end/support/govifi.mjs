// The merchant's side for browser tests: API calls as a merchant's back end makes them.
import { BOOTSTRAP } from "./harness.mjs";

export async function api(server, method, path, { token, account, body } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (account) headers["x-payment-account-uid"] = account;
  const response = await fetch(`${server.url}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

export async function adminToken(server) {
  const basic = Buffer.from(`${BOOTSTRAP.id}:${BOOTSTRAP.secret}`).toString("base64");
  const response = await fetch(`${server.url}/oauth2/token`, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials&scope=com.govineer.payments/admin",
  });
  return (await response.json()).access_token;
}

/** A merchant: an account whose allowed origins include `origins`; returns {token, uid, secret}. */
export async function merchant(server, { origins = [], extra = {} } = {}) {
  const token = await adminToken(server);
  const client = await api(server, "POST", "/api/clients", { token, body: { name: "Test City" } });
  const account = await api(server, "POST", "/api/paymentaccounts", {
    token,
    body: {
      client_id: client.body.id, name: "Utilities", currency: "USD", allowed_origins: origins,
      branding: { display_name: "City of Example Utilities", primary_color: "#1A5FB4" },
      fee_rules: [
        { method: "card", card_funding: "debit", fixed_amount: 395 },
        { method: "card", percent_bps: 295, min_fee: 195 },
        { method: "ach", fixed_amount: 150 },
      ],
      ...extra,
    },
  });
  if (account.status !== 201) throw new Error(`account: ${JSON.stringify(account.body)}`);
  return { token, uid: account.body.uid, secret: account.body.redirect_signing_secret };
}

/** A hosted session (201 body) with sensible defaults and `fields` on top. */
export async function session(server, m, fields = {}) {
  const body = {
    amount: 14227, currency: "USD", description: "Water bill — account #4471",
    success_url: "https://shop.example/receipt?session_id={CHECKOUT_SESSION_ID}",
    cancel_url: "https://shop.example/billing",
    ...fields,
  };
  const r = await api(server, "POST", "/v1/hosted-sessions", { token: m.token, account: m.uid, body });
  if (r.status !== 201) throw new Error(`session: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The latest challenge code sent (the sandbox outbox). */
export async function latestCode(server, m) {
  const r = await api(server, "GET", "/api/outbox", { token: m.token });
  const match = r.body.value[0]?.body.match(/\b(\d{6})\b/);
  if (!match) throw new Error("no code in the outbox");
  return match[1];
}

/** Inside the element: a locator for a selector in its shadow root. */
export function inElement(page, selector) {
  return page.locator(`govifi-payment ${selector}`);
}

/** Fills the card form (and the postal code when shown). */
export async function fillCard(page, number, { exp = "12/30", cvc = "123", postal = "94107" } = {}) {
  await inElement(page, "#gv-number").fill(number);
  await inElement(page, "#gv-exp").fill(exp);
  await inElement(page, "#gv-cvc").fill(cvc);
  if (await inElement(page, "#gv-postal").count()) await inElement(page, "#gv-postal").fill(postal);
}
