// Who is logged in: the Facebook token (from the Facebook JavaScript SDK
// on AWS, or the sandbox's stand-in dialog), the Cognito identity, and its
// temporary credentials, refreshed before they expire. Kept in
// sessionStorage: the tab's own, gone when it closes; logout clears it.
//
// Each region has its own identity pool. A login goes through the pool of
// the region that serves (or, if its Cognito does not answer, the next
// one); renewing credentials goes to the pool that issued them and, if
// that region is down, logs in afresh through another region's pool with
// the same Facebook token. The identity id differs between pools; the
// ticket API keys tickets by the Facebook login, so the user sees the same
// tickets either way.
import { Cognito, CognitoError } from "./cognito.js";

const SESSION = "wildrydes.session";
const LOGIN_STATE = "wildrydes.loginState";
/** Credentials are renewed when they have less than this left. */
export const REFRESH_BEFORE_MS = 5 * 60_000;

/** The user must log in (again). */
export class LoginRequired extends Error {
  constructor(message) {
    super(message);
    this.name = "LoginRequired";
  }
}

function randomState() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Auth {
  /**
   * @param {object} config window.WILDRYDES_CONFIG
   * @param {object} [o]
   * @param {Storage} [o.storage]
   * @param {() => number} [o.now]
   * @param {(region: string) => Cognito} [o.cognito] the client for a region's pool
   */
  constructor(config, o = {}) {
    this.config = config;
    this.storage = o.storage ?? sessionStorage;
    this.now = o.now ?? (() => Date.now());
    const clients = {};
    this.cognito =
      o.cognito ??
      ((region) =>
        (clients[region] ??= new Cognito({
          endpoint: config.identity[region].cognitoEndpoint,
          identityPoolId: config.identity[region].identityPoolId,
        })));
    this.refreshing = null;
  }

  /** Regions with a pool, `first` first, then the primary, then the rest. */
  regions(first) {
    const all = [this.config.regions?.primary, this.config.regions?.secondary, ...Object.keys(this.config.identity ?? {})];
    return [...new Set([first, ...all])].filter((r) => r && this.config.identity?.[r]);
  }

  /** The stored session, or null. */
  get session() {
    try {
      return JSON.parse(this.storage.getItem(SESSION) ?? "null");
    } catch {
      return null;
    }
  }

  save(session) {
    this.storage.setItem(SESSION, JSON.stringify(session));
  }

  logout() {
    this.storage.removeItem(SESSION);
    this.storage.removeItem(LOGIN_STATE);
  }

  /** Where the stand-in's dialog sends the browser (sandbox only): `region`'s. */
  dialogUrl(returnTo, region) {
    const [first] = this.regions(region);
    const state = randomState();
    this.storage.setItem(LOGIN_STATE, JSON.stringify({ state, region: first }));
    const q = new URLSearchParams({
      client_id: this.config.facebookAppId ?? "",
      redirect_uri: returnTo,
      state,
      response_type: "token",
    });
    return `${this.config.identity[first].facebookLoginUrl}?${q}`;
  }

  /**
   * Finishes a dialog login from the fragment it returned with
   * (`access_token`, `expires_in`, `state`, `user_id`). Returns false when
   * the fragment is not a login's.
   */
  async completeDialog(fragment) {
    const p = new URLSearchParams(fragment.replace(/^#/, ""));
    const token = p.get("access_token");
    if (!token) return false;
    let expected = null;
    try {
      expected = JSON.parse(this.storage.getItem(LOGIN_STATE) ?? "null");
    } catch {
      expected = null;
    }
    this.storage.removeItem(LOGIN_STATE);
    if (!expected?.state || p.get("state") !== expected.state) {
      throw new LoginRequired("that login was not started from this page; log in again");
    }
    await this.loginWithToken({
      token,
      expiresIn: Number(p.get("expires_in") ?? 3600),
      userId: p.get("user_id") ?? "",
      region: expected.region,
    });
    return true;
  }

  /**
   * Trades a Facebook token for a Cognito identity and credentials, in
   * `region`'s pool or, if its Cognito does not answer, the next region's.
   */
  async loginWithToken({ token, expiresIn, userId, region }) {
    const { pool, credentials } = await this.trade(token, region);
    this.save({
      userId,
      token,
      tokenExpiresAt: this.now() + expiresIn * 1000,
      region: pool,
      identityId: credentials.identityId,
      credentials,
    });
  }

  /** GetId + GetCredentialsForIdentity in the first pool that answers. */
  async trade(token, region) {
    let last;
    for (const pool of this.regions(region)) {
      try {
        const cognito = this.cognito(pool);
        const identityId = await cognito.getId(token);
        return { pool, credentials: await cognito.credentials(identityId, token) };
      } catch (e) {
        // A refused login is the answer; a region that does not answer is not.
        if (!isUnavailable(e)) throw e;
        last = e;
      }
    }
    throw last;
  }

  /** Logs in with the Facebook JavaScript SDK (AWS), through `region`'s pool first. */
  async loginWithFacebookSdk(region) {
    const FB = globalThis.FB;
    if (!FB) throw new Error("the Facebook SDK did not load; check the network and try again");
    const response = await new Promise((resolve) => FB.login(resolve, { scope: "public_profile" }));
    const auth = response?.authResponse;
    if (!auth?.accessToken) throw new LoginRequired("the Facebook login was cancelled");
    await this.loginWithToken({ token: auth.accessToken, expiresIn: Number(auth.expiresIn ?? 3600), userId: auth.userID ?? "", region });
  }

  /**
   * Credentials good for at least a few more minutes: renewed from Cognito
   * when they are close to expiry. If Cognito cannot be reached, still-valid
   * credentials are used as they are.
   */
  async credentials() {
    const s = this.session;
    if (!s) throw new LoginRequired("log in to see your tickets");
    const left = s.credentials.expiration - this.now();
    if (left > REFRESH_BEFORE_MS) return s.credentials;
    this.refreshing ??= this.refresh(s).finally(() => {
      this.refreshing = null;
    });
    try {
      return await this.refreshing;
    } catch (e) {
      if (left > 0 && !(e instanceof LoginRequired)) return s.credentials;
      throw e;
    }
  }

  async refresh(s) {
    if (s.tokenExpiresAt <= this.now()) {
      this.logout();
      throw new LoginRequired("your login has expired; log in again");
    }
    try {
      const credentials = await this.cognito(s.region).credentials(s.identityId, s.token);
      this.save({ ...s, credentials });
      return credentials;
    } catch (e) {
      if (!isUnavailable(e)) throw e;
      // The pool's region is down: the same Facebook login, another pool.
      const others = this.regions(s.region).filter((r) => r !== s.region);
      if (!others.length) throw e;
      const { pool, credentials } = await this.trade(s.token, others[0]);
      this.save({ ...s, region: pool, identityId: credentials.identityId, credentials });
      return credentials;
    }
  }
}

/** Whether Cognito did not answer (network, timeout, 5xx), as opposed to refusing. */
function isUnavailable(e) {
  return e instanceof CognitoError && (e.code === "NetworkError" || e.status >= 500 || e.status === 429);
}
