// A scenario written against the typed client, run by dev/client-test against a local stack of its
// own (started with a low RATE_LIMIT_PER_MINUTE, so that a 429 is reachable):
//
//   MARKETS_API_URL=... USER_TOKEN=... ADMIN_TOKEN=... BURST_TOKEN=... RATE_LIMIT=... node dist/scenario.js
//
// It prints each step and ends with `typescript client: N passed, M failed`; the exit status is 1
// when a step failed.
import { randomUUID } from "node:crypto";
import { createMarketsClient, type ApiError, type GatewayMessage } from "./src/index.js";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set`);
  return value;
}

const baseUrl = env("MARKETS_API_URL");
const user = createMarketsClient(baseUrl, env("USER_TOKEN"));
const admin = createMarketsClient(baseUrl, env("ADMIN_TOKEN"));
const burst = createMarketsClient(baseUrl, env("BURST_TOKEN"));
const rateLimit = Number(env("RATE_LIMIT"));

let passed = 0;
let failed = 0;

/** One step: `run` returns what it saw, or throws what went wrong. */
async function step(name: string, run: () => Promise<string>): Promise<void> {
  try {
    const saw = await run();
    passed += 1;
    console.log(`ok   ${name}: ${saw}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** An error body as the spec types it (the envelope, or API Gateway's own message), with its status. */
function describe(status: number, error: ApiError | GatewayMessage): string {
  if (!("code" in error)) return `${status} from API Gateway: ${error.message}`;
  return `${status} ${error.code} "${error.error}" (request ${error.requestId})`;
}

/** Whether `error` is the envelope with this code. */
function hasCode(error: ApiError | GatewayMessage | undefined, code: ApiError["code"]): boolean {
  return error !== undefined && "code" in error && error.code === code;
}

const idempotencyKey = `scenario-${randomUUID()}`;
const newMarket = {
  name: "Will the typed client pass?",
  description: "Created by clients/typescript/scenario.ts",
  initialPosition: { outcome: "yes", amount: 12.5 },
} as const;
let marketId = "";
let etag = "";

await step("create a market with a first position and an Idempotency-Key", async () => {
  const { data, error, response } = await user.POST("/api/markets", {
    params: { header: { "Idempotency-Key": idempotencyKey } },
    body: newMarket,
  });
  expect(data !== undefined, `expected 201, got ${response.status} ${JSON.stringify(error)}`);
  expect(response.status === 201, `expected 201, got ${response.status}`);
  expect(data.data.volume === 12.5, `volume ${data.data.volume}, expected the position's 12.5`);
  expect(response.headers.get("location") === `/api/markets/${data.data.id}`, "Location names the market");
  marketId = data.data.id;
  etag = response.headers.get("etag") ?? "";
  expect(etag === `"v${data.data.version}"`, `ETag ${etag} for version ${data.data.version}`);
  return `201 ${marketId}, volume ${data.data.volume}, ETag ${etag}`;
});

await step("replay the create with the same Idempotency-Key", async () => {
  const { data, response } = await user.POST("/api/markets", {
    params: { header: { "Idempotency-Key": idempotencyKey } },
    body: newMarket,
  });
  expect(data !== undefined, `expected 201, got ${response.status}`);
  expect(data.data.id === marketId, `replay answered market ${data.data.id}, not ${marketId}`);
  const replayed = response.headers.get("idempotent-replayed");
  expect(replayed === "true", `Idempotent-Replayed: ${replayed}`);
  return `201 the same market ${data.data.id}, Idempotent-Replayed: ${replayed}`;
});

await step("list with a cursor walk", async () => {
  const created = [marketId];
  for (let n = 1; n <= 4; n += 1) {
    const { data, response } = await user.POST("/api/markets", { body: { name: `Walk market ${n}` } });
    expect(data !== undefined, `creating walk market ${n}: ${response.status}`);
    created.push(data.data.id);
  }
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    pages += 1;
    expect(pages <= 10, "more than 10 pages for 5 markets at 2 a page");
    const query = { sort: "createdAt", order: "asc", limit: 2, ...(cursor === undefined ? {} : { cursor }) } as const;
    const { data, response } = await user.GET("/api/markets", { params: { query } });
    expect(data !== undefined, `page ${pages}: ${response.status}`);
    seen.push(...data.data.map((market) => market.id));
    cursor = data.meta.nextCursor ?? undefined;
  } while (cursor !== undefined);
  expect(JSON.stringify(seen) === JSON.stringify(created), `walked ${seen.join(",")}, created ${created.join(",")}`);
  return `${seen.length} markets in ${pages} pages, each once, in creation order`;
});

let staleEtag = "";
await step("PATCH with If-Match from the ETag", async () => {
  const current = await user.GET("/api/markets/{id}", { params: { path: { id: marketId } } });
  expect(current.data !== undefined, `GET: ${current.response.status}`);
  staleEtag = current.response.headers.get("etag") ?? "";
  const { data, response } = await user.PATCH("/api/markets/{id}", {
    params: { path: { id: marketId }, header: { "If-Match": staleEtag } },
    body: { description: "Changed through If-Match" },
  });
  expect(data !== undefined, `expected 200, got ${response.status}`);
  expect(data.data.version === current.data.data.version + 1, `version ${data.data.version}`);
  return `GET ETag ${staleEtag}, PATCH 200, now ETag ${response.headers.get("etag")}`;
});

await step("PATCH with the stale ETag is a 412 with a typed error", async () => {
  const { data, error, response } = await user.PATCH("/api/markets/{id}", {
    params: { path: { id: marketId }, header: { "If-Match": staleEtag } },
    body: { name: "Never written" },
  });
  expect(data === undefined && error !== undefined, `expected 412, got ${response.status}`);
  expect(response.status === 412 && hasCode(error, "PRECONDITION_FAILED"), describe(response.status, error));
  return describe(response.status, error);
});

await step("past the rate limit is a 429 with a typed error and Retry-After", async () => {
  // Bounded: one window's budget plus one, twice over (the window may turn once on the way).
  for (let request = 1; request <= 2 * (rateLimit + 1); request += 1) {
    const { error, response } = await burst.GET("/api/markets", { params: { query: { limit: 1 } } });
    if (response.status === 429) {
      expect(error !== undefined && hasCode(error, "RATE_LIMITED"), `429 body ${JSON.stringify(error)}`);
      const retryAfter = response.headers.get("retry-after");
      expect(retryAfter !== null && Number(retryAfter) >= 0, `Retry-After: ${retryAfter}`);
      return `request ${request} of a limit of ${rateLimit}: ${describe(429, error)}, Retry-After: ${retryAfter}`;
    }
    expect(response.status === 200, `request ${request}: ${response.status}`);
  }
  throw new Error(`no 429 in ${2 * (rateLimit + 1)} requests with a limit of ${rateLimit}`);
});

await step("delete, then the market is gone", async () => {
  const { response } = await admin.DELETE("/api/markets/{id}", { params: { path: { id: marketId } } });
  expect(response.status === 204, `DELETE: ${response.status}`);
  const { error, response: after } = await admin.GET("/api/markets/{id}", { params: { path: { id: marketId } } });
  expect(after.status === 404 && error !== undefined && hasCode(error, "NOT_FOUND"), `GET after DELETE: ${after.status}`);
  return `DELETE 204, then GET ${describe(after.status, error)}`;
});

console.log(`typescript client: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
