// The ticket API client that follows the serving region (README,
// "Following the serving region"; the drill's user probes follow the same
// rule in src/drill/client.rs): sign for the region that last served; on a
// region-scope 403, a 5xx, a network error or a timeout ask the public
// GET /health which region serves now, re-sign and retry. While the
// service does not answer at all (a failover in progress) it keeps trying
// with backoff, up to a bound, and says so through `onRetry`.
import { sign } from "./sigv4.js";

export const REGION_HEADER = "x-wildrydes-region";

/** An answer the API gave (4xx, or a 5xx that retries did not cure). */
export class ApiError extends Error {
  constructor(status, code, message, field, region) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.region = region;
  }
}

/** No answer: the network failed or the request timed out, every try. */
export class Unreachable extends Error {
  constructor(message, { maybeDone = false } = {}) {
    super(message);
    this.name = "Unreachable";
    // A POST whose request went out but whose answer never came may have
    // been done: it is not retried, and the user is told to check.
    this.maybeDone = maybeDone;
  }
}

class Timeout extends Error {}

const REGION_SCOPE = /Credential should be scoped to a valid region/;

function isRegionScope(status, text) {
  return status === 403 && REGION_SCOPE.test(text);
}

export class ApiClient {
  /**
   * @param {object} o
   * @param {string} o.apiUrl the API's address (no trailing slash needed)
   * @param {string} o.region the region to sign for first (the primary)
   * @param {() => Promise<object>} o.credentials current credentials
   * @param {(region: string, previous: string) => void} [o.onRegion] requests are now signed for another region
   * @param {(region: string) => void} [o.onServed] a response named the region that served it
   * @param {(attempt: number, attempts: number, reason: string) => void} [o.onRetry]
   * @param {number} [o.timeoutMs] per request
   * @param {number} [o.attempts] tries per call while nothing answers
   * @param {number} [o.backoffMs] first pause between tries; doubles, capped at 8 s
   * @param {typeof fetch} [o.fetch]
   * @param {(ms: number) => Promise<void>} [o.sleep]
   */
  constructor(o) {
    this.apiUrl = o.apiUrl.replace(/\/+$/, "");
    this.region = o.region;
    this.credentials = o.credentials;
    this.onRegion = o.onRegion ?? (() => {});
    this.onServed = o.onServed ?? (() => {});
    this.onRetry = o.onRetry ?? (() => {});
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.attempts = o.attempts ?? 8;
    this.backoffMs = o.backoffMs ?? 500;
    this.fetch = o.fetch ?? ((...a) => globalThis.fetch(...a));
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  listTickets(cursor, limit = 20) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set("cursor", cursor);
    return this.call("GET", `/tickets?${q}`);
  }

  getTicket(id) {
    return this.call("GET", `/tickets/${encodeURIComponent(id)}`);
  }

  createTicket(ticket) {
    return this.call("POST", "/tickets", ticket);
  }

  /** One API call, following the serving region. Resolves to the JSON body. */
  async call(method, path, body) {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let pause = this.backoffMs;
    let last;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      let outcome;
      try {
        outcome = await this.once(method, path, payload);
      } catch (e) {
        if (!(e instanceof Timeout || e instanceof TypeError)) throw e;
        // A POST that timed out went out and may have been done.
        if (method === "POST" && e instanceof Timeout) {
          throw new Unreachable("the service took too long to answer; the ticket may have been created", { maybeDone: true });
        }
        outcome = { retry: e instanceof Timeout ? "timed out" : "could not connect" };
      }
      if (!outcome.retry) return outcome.value;
      last = outcome;
      // Which region serves now? Re-sign for it before the next try.
      const serving = await this.servingRegion();
      const moved = serving && serving !== this.region;
      if (moved) this.follow(serving);
      if (attempt === this.attempts) break;
      this.onRetry(attempt + 1, this.attempts, outcome.retry);
      // A region that now serves is tried at once; otherwise wait.
      if (!moved) {
        await this.sleep(pause);
        pause = Math.min(pause * 2, 8_000);
      }
    }
    if (last.error) throw last.error;
    throw new Unreachable(`the service is not answering (${last.retry})`);
  }

  follow(region) {
    const previous = this.region;
    this.region = region;
    this.onRegion(region, previous);
  }

  /** One signed request: `{ value }` or `{ retry, status?, error? }`. */
  async once(method, path, payload) {
    const credentials = await this.credentials();
    const headers = payload === undefined ? {} : { "content-type": "application/json" };
    const signed = await sign({
      method,
      url: this.apiUrl + path,
      headers,
      body: payload,
      credentials,
      region: this.region,
    });
    const response = await this.timed(signed.url, { method, headers: signed.headers, body: payload });
    const text = await response.text();
    const served = response.headers.get(REGION_HEADER);
    if (isRegionScope(response.status, text)) {
      return { retry: "signed for the region that no longer serves", status: 403 };
    }
    if (served) this.onServed(served);
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (response.ok) {
      if (served && served !== this.region) this.follow(served);
      return { value: json };
    }
    const error = new ApiError(
      response.status,
      json?.error?.code ?? `http_${response.status}`,
      json?.error?.message ?? json?.message ?? (text || response.statusText),
      json?.error?.field,
      served,
    );
    if (response.status >= 500 || response.status === 429) {
      return { retry: `the service answered ${response.status}`, status: response.status, error };
    }
    throw error;
  }

  /** The region `GET /health` names (whatever its status), or null. */
  async servingRegion() {
    try {
      const response = await this.timed(`${this.apiUrl}/health`, { method: "GET" });
      await response.text();
      const served = response.headers.get(REGION_HEADER);
      if (served) this.onServed(served);
      return served;
    } catch {
      return null;
    }
  }

  async timed(url, init) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    try {
      return await this.fetch(url, { ...init, signal: abort.signal, cache: "no-store" });
    } catch (e) {
      if (abort.signal.aborted) throw new Timeout("timed out");
      throw e instanceof TypeError ? e : new TypeError(String(e));
    } finally {
      clearTimeout(timer);
    }
  }
}
