// Headless Chromium (Debian's, driven by playwright-core) against a local stack, run by
// dev/browser-test: (a) the docs page renders every operation of openapi.yaml, with a screenshot;
// (b) a page on an allowed origin calls the API with fetch and a bearer token (a preflighted POST with
// an Idempotency-Key, a GET reading the exposed ETag and x-request-id, a PATCH with If-Match), and a
// page on another origin is blocked by the browser. Prints each check and a last line
// `browser: N passed, M failed`.
//
//   MARKETS_API_URL=... TOKEN=... ALLOWED_ORIGIN_PORT=... SCREENSHOT=... OPERATIONS=id,id,... node dev/npm/browser-check.mjs
import { createServer } from "node:http";
import { chromium } from "playwright-core";

const api = process.env.MARKETS_API_URL;
const token = process.env.TOKEN;
const operations = process.env.OPERATIONS.split(",");
let passed = 0;
let failed = 0;

async function check(name, run) {
  try {
    console.log(`ok   ${name}: ${await run()}`);
    passed += 1;
  } catch (error) {
    console.log(`FAIL ${name}: ${error.message}`);
    failed += 1;
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** A blank page on http://127.0.0.1:<port>: another origin than the API's. */
function origin(port) {
  const server = createServer((_, response) => {
    response.writeHead(200, { "content-type": "text/html" }).end("<!DOCTYPE html><title>client</title>");
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

// The flags this machine needs: no sandbox as root, and no background connections to Google's hosts
// (Playwright gives each launch a fresh empty profile of its own).
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const allowed = await origin(Number(process.env.ALLOWED_ORIGIN_PORT));
const other = await origin(0);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });

  await check("the docs page renders every operation", async () => {
    const response = await page.goto(`${api}/api/docs`);
    expect(response.status() === 200, `GET /api/docs: ${response.status()}`);
    // Redoc gives each operation a section `operation/<operationId>` once it has rendered the spec.
    await page.waitForSelector('[data-section-id^="operation/"]', { timeout: 30000 });
    const rendered = await page.$$eval('[data-section-id^="operation/"]',
      (sections) => sections.map((section) => section.getAttribute("data-section-id").slice("operation/".length)));
    const missing = operations.filter((id) => !rendered.includes(id));
    expect(missing.length === 0, `not rendered: ${missing.join(", ")}`);
    await page.screenshot({ path: process.env.SCREENSHOT });
    return `${operations.length} operations rendered (${response.headers()["content-encoding"] ?? "identity"}), screenshot ${process.env.SCREENSHOT}`;
  });

  const allowedOrigin = `http://127.0.0.1:${allowed.address().port}`;
  await page.goto(allowedOrigin);
  // The calls run in the page, as its scripts would, and report what they could read.
  const calls = await page.evaluate(async ({ api, token }) => {
    const auth = { authorization: `Bearer ${token}` };
    const created = await fetch(`${api}/api/markets`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", "idempotency-key": `browser-${Date.now()}` },
      body: JSON.stringify({ name: "Made in a browser" }),
    });
    const id = (await created.json()).data?.id;
    const read = await fetch(`${api}/api/markets/${id}`, { headers: auth });
    const etag = read.headers.get("etag");
    const requestId = read.headers.get("x-request-id");
    const patched = await fetch(`${api}/api/markets/${id}`, {
      method: "PATCH",
      headers: { ...auth, "content-type": "application/json", "if-match": etag },
      body: JSON.stringify({ description: "Patched from a browser" }),
    });
    return { created: created.status, location: created.headers.get("location"), id, read: read.status, etag,
             requestId, patched: patched.status, patchedEtag: patched.headers.get("etag") };
  }, { api, token });

  await check("a preflighted POST with an Idempotency-Key from the allowed origin", async () => {
    expect(calls.created === 201, `POST: ${calls.created}`);
    expect(calls.location === `/api/markets/${calls.id}`, `Location: ${calls.location}`);
    return `201 from ${allowedOrigin}, Location ${calls.location} readable`;
  });
  await check("a GET whose ETag and x-request-id the page can read", async () => {
    expect(calls.read === 200 && calls.etag === '"v1"' && calls.requestId, JSON.stringify(calls));
    return `200, ETag ${calls.etag}, x-request-id ${calls.requestId}`;
  });
  await check("a PATCH with If-Match", async () => {
    expect(calls.patched === 200 && calls.patchedEtag === '"v2"', JSON.stringify(calls));
    return `200, ETag ${calls.patchedEtag}`;
  });

  await check("a call from an origin not allowed is blocked by the browser", async () => {
    const otherOrigin = `http://127.0.0.1:${other.address().port}`;
    await page.goto(otherOrigin);
    const outcome = await page.evaluate(async (api) => {
      try {
        const response = await fetch(`${api}/api/markets`);
        return `read ${response.status}`;
      } catch (error) {
        return `blocked: ${error.name}: ${error.message}`;
      }
    }, api);
    expect(outcome.startsWith("blocked"), `from ${otherOrigin}: ${outcome}`);
    return `${otherOrigin}: ${outcome}`;
  });
} finally {
  await browser.close();
  allowed.close();
  other.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
