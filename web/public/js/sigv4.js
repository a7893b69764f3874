// SigV4 for the ticket API (service `execute-api`), through aws4fetch's
// signer. The signature names a region, which is why the API client
// decides which region to sign for (api.js), not this module.
import { AwsV4Signer } from "../vendor/aws4fetch.js";

/**
 * Signs a request. `credentials` are Cognito's temporary ones
 * (`accessKeyId`, `secretAccessKey`, `sessionToken`); `datetime`
 * (`YYYYMMDDTHHMMSSZ`) is for tests. Returns the URL and headers to send.
 */
export async function sign({ method, url, headers = {}, body, credentials, region, service = "execute-api", datetime }) {
  const signer = new AwsV4Signer({
    method,
    url,
    headers,
    body,
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    sessionToken: credentials.sessionToken,
    service,
    region,
    datetime,
  });
  const signed = await signer.sign();
  return { url: signed.url.toString(), headers: signed.headers };
}
