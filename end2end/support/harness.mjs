// Starts what a browser test needs: govifi-server on port 0 with a fresh SQLite database, a
// merchant's page on another origin, and Debian's Chromium through playwright-core.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const SERVER_BIN = process.env.GOVIFI_SERVER_BIN;
const ASSETS_DIR = process.env.GOVIFI_ASSETS_DIR;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

export const BOOTSTRAP = { id: "e2e-client", secret: "e2e-secret-0123456789abcdef" };

/** Starts govifi-server; resolves once it prints the address it listens on. */
export async function startServer(extraEnv = {}) {
  if (!SERVER_BIN || !ASSETS_DIR) {
    throw new Error("set GOVIFI_SERVER_BIN and GOVIFI_ASSETS_DIR (cargo xtask test does)");
  }
  const dir = mkdtempSync(join(tmpdir(), "govifi-e2e-"));
  // The developer's own GOVIFI_* settings (a public URL, a demo password, SMTP) would change
  // what the tests see: only the ones set here reach the server.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("GOVIFI_")));
  const env = {
    ...inherited,
    GOVIFI_BIND: "127.0.0.1:0",
    GOVIFI_DATABASE_URL: `sqlite://${join(dir, "govifi.db")}?mode=rwc`,
    GOVIFI_ASSETS_DIR: ASSETS_DIR,
    GOVIFI_SANDBOX: "true",
    GOVIFI_BOOTSTRAP_CLIENT_ID: BOOTSTRAP.id,
    GOVIFI_BOOTSTRAP_CLIENT_SECRET: BOOTSTRAP.secret,
    RUST_LOG: process.env.RUST_LOG || "warn",
    ...extraEnv,
  };
  const child = spawn(SERVER_BIN, [], { cwd: dir, env, stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // Killed, or its open pipe would keep the test file's event loop (and CI) waiting.
      child.kill("SIGKILL");
      reject(new Error(`server did not start:\n${output}`));
    }, 30_000);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = output.match(/listening on (http:\/\/[0-9.:]+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited (${code}):\n${output}`)));
  });
  return {
    url,
    output: () => output,
    /** Runs `govifi-server <args>` on the same database (its CLI); resolves to its stdout. */
    cli(args, stdin = "") {
      return new Promise((resolve, reject) => {
        const run = spawn(SERVER_BIN, args, { cwd: dir, env, stdio: ["pipe", "pipe", "inherit"] });
        let out = "";
        run.stdout.on("data", (chunk) => (out += chunk));
        run.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`govifi-server ${args.join(" ")}: ${code}\n${out}`))));
        run.stdin.end(stdin);
      });
    },
    async stop() {
      // A server that already died has nothing to wait for; one that ignores SIGTERM for 15 s
      // is killed.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        const stuck = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(stuck);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Serves `html(origin)` at every path, from a second origin (a merchant's site). */
export async function startMerchantSite(html) {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(html(`http://127.0.0.1:${server.address().port}`, req.url));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Debian's Chromium, headless, with the flags this machine needs (no network chatter). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Collects page errors and console errors so a test can assert there were none. */
export function watchErrors(page) {
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
  return errors;
}
