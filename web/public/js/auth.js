// Who is logged in: the Facebook token (from the Facebook JavaScript SDK
// on AWS, or the sandbox's stand-in dialog), the Cognito identity, and its
// temporary credentials, refreshed before they expire. Kept in
// sessionStorage: the tab's own, gone when it closes; logout clears it.
import { Cognito } from "./cognito.js";

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
   * @param {Cognito} [o.cognito]
   */
  constructor(config, o = {}) {
    this.config = config;
    this.storage = o.storage ?? sessionStorage;
    this.now = o.now ?? (() => Date.now());
    this.cognito =
      o.cognito ??
      new Cognito({
        endpoint: config.cognitoEndpoint ?? `https://cognito-identity.${config.cognitoRegion}.amazonaws.com/`,
        identityPoolId: config.identityPoolId,
      });
    this.refreshing = null;
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

  /** Where the stand-in's dialog sends the browser (sandbox only). */
  dialogUrl(returnTo) {
    const state = randomState();
    this.storage.setItem(LOGIN_STATE, state);
    const q = new URLSearchParams({
      client_id: this.config.facebookAppId ?? "",
      redirect_uri: returnTo,
      state,
      response_type: "token",
    });
    return `${this.config.facebookLoginUrl}?${q}`;
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
    const expected = this.storage.getItem(LOGIN_STATE);
    this.storage.removeItem(LOGIN_STATE);
    if (!expected || p.get("state") !== expected) {
      throw new LoginRequired("that login was not started from this page; log in again");
    }
    await this.loginWithToken({
      token,
      expiresIn: Number(p.get("expires_in") ?? 3600),
      userId: p.get("user_id") ?? "",
    });
    return true;
  }

  /** Trades a Facebook token for a Cognito identity and credentials. */
  async loginWithToken({ token, expiresIn, userId }) {
    const identityId = await this.cognito.getId(token);
    const credentials = await this.cognito.credentials(identityId, token);
    this.save({
      userId,
      token,
      tokenExpiresAt: this.now() + expiresIn * 1000,
      identityId: credentials.identityId,
      credentials,
    });
  }

  /** Logs in with the Facebook JavaScript SDK (AWS). */
  async loginWithFacebookSdk() {
    const FB = globalThis.FB;
    if (!FB) throw new Error("the Facebook SDK did not load; check the network and try again");
    const response = await new Promise((resolve) => FB.login(resolve, { scope: "public_profile" }));
    const auth = response?.authResponse;
    if (!auth?.accessToken) throw new LoginRequired("the Facebook login was cancelled");
    await this.loginWithToken({ token: auth.accessToken, expiresIn: Number(auth.expiresIn ?? 3600), userId: auth.userID ?? "" });
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
    const credentials = await this.cognito.credentials(s.identityId, s.token);
    this.save({ ...s, credentials });
    return credentials;
  }
}
