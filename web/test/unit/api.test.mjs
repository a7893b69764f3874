// The region-following API client (public/js/api.js) against a fake API
// with two regions: which region each request is signed for, when it asks
// /health, how it retries and when it gives up.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiClient, ApiError, Unreachable } from "../../public/js/api.js";

const credentials = async () => ({ accessKeyId: "AKID", secretAccessKey: "secret", sessionToken: "token" });

/** A fake API: `serving` answers; a request signed for another region gets AWS's 403. */
function fakeApi({ serving = "eu-west-1", health, ticket } = {}) {
  const api = { serving, calls: [], down: false, hang: false };
  api.fetch = async (url, init) => {
    const path = new URL(url).pathname;
    const scope = init.headers?.get?.("authorization")?.match(/Credential=[^/]+\/\d{8}\/([^/]+)\//)?.[1];
    api.calls.push({ path, method: init.method, scope });
    if (api.hang) {
      return new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))));
    }
    if (api.down) throw new TypeError("fetch failed");
    const headers = { "x-wildrydes-region": api.serving, "content-type": "application/json" };
    if (path === "/health") return new Response(JSON.stringify(health ?? { ok: true }), { status: 200, headers });
    if (scope !== api.serving) {
      return new Response(JSON.stringify({ message: `Credential should be scoped to a valid region, not '${scope}'. ` }), { status: 403, headers: { "content-type": "application/json" } });
    }
    if (ticket) return ticket(init, headers);
    return new Response(JSON.stringify({ tickets: [], nextCursor: null }), { status: 200, headers });
  };
  return api;
}

function client(api, extra = {}) {
  const events = { regions: [], served: [], retries: [], slept: [] };
  const c = new ApiClient({
    apiUrl: "http://api.test/",
    region: "eu-west-1",
    credentials,
    fetch: api.fetch,
    sleep: async (ms) => events.slept.push(ms),
    onRegion: (r, p) => events.regions.push(`${p}->${r}`),
    onServed: (r) => events.served.push(r),
    onRetry: (a, n, why) => events.retries.push(`${a}/${n} ${why}`),
    ...extra,
  });
  return { c, events };
}

test("signs for the primary while it serves", async () => {
  const api = fakeApi();
  const { c, events } = client(api);
  assert.deepEqual(await c.listTickets(), { tickets: [], nextCursor: null });
  assert.deepEqual(api.calls, [{ path: "/tickets", method: "GET", scope: "eu-west-1" }]);
  assert.deepEqual(events.served, ["eu-west-1"]);
  assert.deepEqual(events.regions, []);
});

test("a region-scope 403 asks /health, re-signs for the region that serves and retries at once", async () => {
  const api = fakeApi({ serving: "ap-southeast-1" });
  const { c, events } = client(api);
  await c.listTickets();
  assert.deepEqual(
    api.calls.map((x) => `${x.path} ${x.scope ?? "unsigned"}`),
    ["/tickets eu-west-1", "/health unsigned", "/tickets ap-southeast-1"],
  );
  assert.deepEqual(events.regions, ["eu-west-1->ap-southeast-1"]);
  assert.deepEqual(events.slept, []);
  // The next call signs for the new region straight away.
  await c.listTickets();
  assert.equal(api.calls.at(-1).scope, "ap-southeast-1");
  assert.equal(api.calls.length, 4);
});

test("network errors retry with backoff, bounded, then give up as unreachable", async () => {
  const api = fakeApi();
  api.down = true;
  const { c, events } = client(api, { attempts: 4 });
  await assert.rejects(c.listTickets(), (e) => e instanceof Unreachable && /not answering/.test(e.message));
  assert.deepEqual(events.slept, [500, 1000, 2000]);
  assert.equal(events.retries.length, 3);
  assert.equal(api.calls.filter((x) => x.path === "/tickets").length, 4);
});

test("backoff is capped at 8 s", async () => {
  const api = fakeApi();
  api.down = true;
  const { c, events } = client(api, { attempts: 8 });
  await assert.rejects(c.listTickets());
  assert.deepEqual(events.slept, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
});

test("a failover in progress: fails, then the secondary answers and the call succeeds", async () => {
  const api = fakeApi();
  api.down = true;
  const { c, events } = client(api, {
    sleep: async () => {
      // DNS moved while we waited.
      api.down = false;
      api.serving = "ap-southeast-1";
    },
  });
  await c.listTickets();
  assert.equal(api.calls.at(-1).scope, "ap-southeast-1");
  assert.deepEqual(events.regions, ["eu-west-1->ap-southeast-1"]);
});

test("a timed-out GET is retried; a timed-out POST is not (it may have been done)", async () => {
  const api = fakeApi();
  api.hang = true;
  const { c } = client(api, { timeoutMs: 20, attempts: 2 });
  await assert.rejects(c.listTickets(), (e) => e instanceof Unreachable && !e.maybeDone && /timed out/.test(e.message));
  const posts = api.calls.length;
  await assert.rejects(c.createTicket({ description: "a broken seat", priority: "low" }), (e) => e instanceof Unreachable && e.maybeDone);
  assert.equal(api.calls.length - posts, 1, "the POST went out once");
});

test("4xx answers are errors with the API's code, message and field, not retried", async () => {
  const api = fakeApi({
    ticket: (init, headers) =>
      new Response(JSON.stringify({ error: { code: "invalid_field", message: "description must be 10 to 2000 characters, got 3", field: "description" } }), { status: 400, headers }),
  });
  const { c } = client(api);
  await assert.rejects(
    c.createTicket({ description: "abc", priority: "low" }),
    (e) => e instanceof ApiError && e.status === 400 && e.code === "invalid_field" && e.field === "description" && e.region === "eu-west-1",
  );
  assert.equal(api.calls.length, 1);
});

test("a 5xx that persists asks /health each time and ends with the API's error", async () => {
  const api = fakeApi({
    ticket: (init, headers) => new Response(JSON.stringify({ error: { code: "unhealthy", message: "table unreachable" } }), { status: 503, headers }),
  });
  const { c } = client(api, { attempts: 3 });
  await assert.rejects(c.listTickets(), (e) => e instanceof ApiError && e.status === 503 && e.code === "unhealthy");
  assert.equal(api.calls.filter((x) => x.path === "/health").length, 3);
});

test("requests carry the JSON body they were signed with", async () => {
  let seen;
  const api = fakeApi({
    ticket: async (init, headers) => {
      seen = { body: init.body, type: init.headers.get("content-type") };
      return new Response(JSON.stringify({ id: "01J" }), { status: 201, headers });
    },
  });
  const { c } = client(api);
  assert.deepEqual(await c.createTicket({ description: "a broken seat", priority: "low" }), { id: "01J" });
  assert.deepEqual(seen, { body: '{"description":"a broken seat","priority":"low"}', type: "application/json" });
});
