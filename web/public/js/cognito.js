// The two Cognito Identity calls a browser makes to log in (both unsigned,
// awsJson 1.1): GetId, then GetCredentialsForIdentity, each with the
// Facebook token as the `graph.facebook.com` login.

export const FACEBOOK = "graph.facebook.com";

/** An error Cognito answered (`__type` without its namespace, message). */
export class CognitoError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.name = "CognitoError";
    this.code = code;
    this.status = status;
  }
}

export class Cognito {
  /**
   * @param {object} o
   * @param {string} o.endpoint e.g. https://cognito-identity.eu-west-1.amazonaws.com/
   * @param {string} o.identityPoolId
   * @param {typeof fetch} [o.fetch]
   * @param {number} [o.timeoutMs]
   */
  constructor(o) {
    this.endpoint = o.endpoint;
    this.identityPoolId = o.identityPoolId;
    this.fetch = o.fetch ?? ((...a) => globalThis.fetch(...a));
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  async call(operation, input) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    let response;
    try {
      response = await this.fetch(this.endpoint, {
        method: "POST",
        headers: {
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": `AWSCognitoIdentityService.${operation}`,
        },
        body: JSON.stringify(input),
        signal: abort.signal,
      });
    } catch {
      throw new CognitoError("NetworkError", `Cognito (${this.endpoint}) could not be reached`, 0);
    } finally {
      clearTimeout(timer);
    }
    const text = await response.text();
    let json = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = {};
    }
    if (!response.ok) {
      const type = String(json.__type ?? response.headers.get("x-amzn-errortype") ?? `HTTP${response.status}`);
      const code = type.split("#").pop().split(":")[0];
      throw new CognitoError(code, json.message ?? json.Message ?? text, response.status);
    }
    return json;
  }

  /** The identity id of the Facebook user whose token this is. */
  async getId(token) {
    const out = await this.call("GetId", {
      IdentityPoolId: this.identityPoolId,
      Logins: { [FACEBOOK]: token },
    });
    return out.IdentityId;
  }

  /** Temporary credentials for the identity; `expiration` in ms since the epoch. */
  async credentials(identityId, token) {
    const out = await this.call("GetCredentialsForIdentity", {
      IdentityId: identityId,
      Logins: { [FACEBOOK]: token },
    });
    const c = out.Credentials ?? {};
    return {
      identityId: out.IdentityId ?? identityId,
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretKey,
      sessionToken: c.SessionToken,
      // The JSON protocol sends timestamps as epoch seconds.
      expiration: Math.round(Number(c.Expiration) * 1000),
    };
  }
}
