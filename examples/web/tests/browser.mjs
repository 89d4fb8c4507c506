// Browser test: Debian's Chromium (no browser download) driven by playwright-core against
// the example page, served by Vite, talking to a running stack. Started by
// tests/run_browser_test.py (`make test-browser`), which provides:
//   APP_URL      the page (an origin ingest allows)
//   OTHER_URL    the same page from an origin ingest does not allow
//   INGEST_URL   the ingest API
//   SCREENSHOT   where to keep the screenshot
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const { APP_URL, OTHER_URL, INGEST_URL, SCREENSHOT } = process.env;
const EXECUTABLE = process.env.CHROMIUM ?? "/usr/bin/chromium";
const CLIENT_MODULE = resolve(dirname(fileURLToPath(import.meta.url)), "../../../clients/typescript/src/index.ts");
if (!APP_URL || !OTHER_URL || !INGEST_URL || !SCREENSHOT) {
  console.error("usage: APP_URL=... OTHER_URL=... INGEST_URL=... SCREENSHOT=... node tests/browser.mjs");
  process.exit(2);
}

const checks = [];
function check(condition, message) {
  checks.push(message);
  if (!condition) throw new Error(`FAILED: ${message}`);
  console.log(`ok - ${message}`);
}

const profileDir = mkdtempSync(join(tmpdir(), "careers-chromium-"));
// A fresh --user-data-dir (playwright passes it from launchPersistentContext).
const context = await chromium.launchPersistentContext(profileDir, {
  executablePath: EXECUTABLE,
  headless: true,
  viewport: { width: 1100, height: 900 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let page;
try {
  page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(String(error)));

  // 1. Sign in (dev issuer), submit the example profile, follow progress, see results.
  await page.goto(APP_URL);
  await page.getByTestId("who").filter({ hasText: "Signed in as" }).waitFor({ timeout: 30_000 });
  await page.getByTestId("submit").click();
  await page.locator('[data-testid="progress-log"] li').first().waitFor({ timeout: 30_000 });
  const firstUpdate = await page.locator('[data-testid="progress-log"] li').first().textContent();
  check(Boolean(firstUpdate), `a progress update arrived over SSE: "${firstUpdate}"`);
  await page.locator('[data-testid="recommendation"]').nth(4).waitFor({ timeout: 90_000 });
  const count = await page.locator('[data-testid="recommendation"]').count();
  check(count >= 5, `${count} recommendations rendered from Convex`);
  const statuses = await page.locator('[data-testid="progress-log"] li').evaluateAll((items) =>
    items.map((item) => item.getAttribute("data-status")),
  );
  check(statuses.at(-1) === "completed", `progress ended with completed (${statuses.join(" → ")})`);
  const first = page.locator('[data-testid="recommendation"]').first();
  check(((await first.locator(".title").textContent()) ?? "").length > 0, "a recommendation shows its title");
  check(((await first.locator(".explanation").textContent()) ?? "").length > 0, "... and its explanation");
  check((await page.locator('[data-testid="recommendation"] .matched').count()) > 0, "matched skills are shown");
  check((await page.locator('[data-testid="recommendation"] .wages').count()) > 0, "wages are shown");
  check(await page.getByTestId("error").isHidden(), "no error is shown");
  check(consoleErrors.length === 0, `no console errors on the page${consoleErrors.length ? `: ${consoleErrors.join(" | ")}` : ""}`);
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`screenshot: ${SCREENSHOT}`);

  // 2. Resuming with Last-Event-ID, as after a dropped connection or a page reload: the
  //    client (loaded into the page by Vite) gets only the events after that id, and a
  //    stream whose terminal event was already seen answers 204 (the client then reads
  //    the job's final state).
  const resumed = await page.evaluate(
    async ({ ingest, clientModule }) => {
      const { followJob } = await import(clientModule);
      const jobId = document.body.dataset.jobId;
      const user = encodeURIComponent(document.body.dataset.userId);
      const { jwt } = await (await fetch(`/dev-clerk/session-token?sub=${user}`)).json();
      const options = { baseUrl: ingest, getToken: async () => jwt };
      const ids = [];
      const all = [];
      const statuses = [];
      await followJob(jobId, { ...options, onStatus: (job) => all.push(job.status) });
      // The raw ids, to resume from the first one.
      const response = await fetch(`${ingest}/v1/jobs/${jobId}/events`, {
        headers: { Authorization: `Bearer ${jwt}` },
      });
      for (const line of (await response.text()).split("\n")) {
        if (line.startsWith("id:")) ids.push(line.slice(3).trim());
      }
      const after = await followJob(jobId, {
        ...options,
        lastEventId: ids[0],
        onStatus: (job) => statuses.push(job.status),
      });
      const done = await followJob(jobId, { ...options, lastEventId: ids.at(-1) });
      return { all, ids, statuses, after: after.status, done: done.status };
    },
    { ingest: INGEST_URL, clientModule: `/@fs${CLIENT_MODULE}` },
  );
  check(
    resumed.statuses.length === resumed.all.length - 1 && resumed.after === "completed",
    `resumed after event ${resumed.ids[0]}: ${resumed.statuses.join(" → ")} (of ${resumed.all.join(" → ")})`,
  );
  check(resumed.done === "completed", "resumed after the terminal event: 204, final state read");

  // 3. CORS from the browser: the allowed origin may send an authenticated request (the
  //    preflight passes and the answer is readable); another origin may not. (Chromium
  //    logs these deliberate failures to the console, hence the console check above.)
  const probe = async (target) =>
    target.evaluate(async (ingest) => {
      try {
        const response = await fetch(`${ingest}/v1/agents/analyze`, {
          method: "POST",
          headers: { Authorization: "Bearer not-a-token", "Content-Type": "application/json" },
          body: "{}",
        });
        return `status ${response.status}`;
      } catch (error) {
        return `blocked: ${error}`;
      }
    }, INGEST_URL);
  check((await probe(page)) === "status 401", "allowed origin: preflight passes, the 401 is readable");

  const other = await context.newPage();
  await other.goto(OTHER_URL);
  const refused = await probe(other);
  check(refused.startsWith("blocked"), `other origin: the browser refuses the request (${refused})`);

  // The preflights themselves, as the browser sends them.
  const preflight = (origin) =>
    fetch(`${INGEST_URL}/v1/agents/analyze`, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
      },
    });
  const allowed = await preflight(new URL(APP_URL).origin);
  check(
    allowed.status === 200 && allowed.headers.get("access-control-allow-origin") === new URL(APP_URL).origin,
    `preflight from ${new URL(APP_URL).origin}: ${allowed.status}, allowed`,
  );
  const denied = await preflight(new URL(OTHER_URL).origin);
  check(
    denied.status >= 400 && !denied.headers.get("access-control-allow-origin"),
    `preflight from ${new URL(OTHER_URL).origin}: ${denied.status}, no Access-Control-Allow-Origin`,
  );
  console.log(`browser test passed (${checks.length} checks)`);
} catch (error) {
  console.error(String(error?.stack ?? error));
  if (page) {
    const failure = SCREENSHOT.replace(/\.png$/, "-failure.png");
    await page.screenshot({ path: failure, fullPage: true }).catch(() => {});
    console.error(`page text:\n${await page.locator("body").innerText().catch(() => "?")}`);
    console.error(`screenshot: ${failure}`);
  }
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profileDir, { recursive: true, force: true });
}
