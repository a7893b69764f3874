// The web UI's SigV4 signing (public/js/sigv4.js, aws4fetch underneath)
// against AWS's published test vectors (../sigv4-vectors). Vectors a
// browser's fetch cannot send as written are listed with the reason, and
// the list is checked too, so nothing is skipped silently.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sign } from "../../public/js/sigv4.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "sigv4-vectors");

/** Vectors whose request a browser cannot make, and why. */
const NOT_SENDABLE = {
  "get-header-key-duplicate": "fetch's Headers joins repeated headers with \", \", the vector with \",\"",
  "get-header-value-order": "fetch's Headers joins repeated headers with \", \", the vector with \",\"",
  "get-header-value-multiline": "a header value with line breaks is invalid in fetch",
  "get-relative-normalized": "the browser resolves /../ in the URL before the request exists",
  "get-relative-relative-normalized": "the browser resolves /../ in the URL before the request exists",
  "get-relative-relative-unnormalized": "the browser resolves /../ in the URL before the request exists",
  "get-relative-unnormalized": "the browser resolves /../ in the URL before the request exists",
  "get-slash-dot-slash-normalized": "the browser resolves /./ in the URL before the request exists",
  "get-slash-dot-slash-unnormalized": "the browser resolves /./ in the URL before the request exists",
  "get-slash-pointless-dot-normalized": "the browser resolves /./ in the URL before the request exists",
  "get-slash-pointless-dot-unnormalized": "the browser resolves /./ in the URL before the request exists",
  "get-space-unnormalized": "the browser percent-encodes the space, giving the normalized vector's request",
  "get-space-normalized": "the CRT suite encodes this path once; execute-api, like every service but S3, takes it twice (double-encode-path checks that)",
  "get-utf8": "the CRT suite encodes this path once; execute-api, like every service but S3, takes it twice (double-encode-path checks that)",
  "get-slash-unnormalized": "un-normalized paths are for S3, which signs paths as sent; execute-api normalizes",
  "get-slashes-unnormalized": "un-normalized paths are for S3, which signs paths as sent; execute-api normalizes",
  "post-sts-header-after": "the session token goes into the signed headers (the vector signs it after)",
  "post-x-www-form-urlencoded": "the vector signs Content-Length, which a page may not set (the browser does)",
  "post-x-www-form-urlencoded-parameters": "the vector signs Content-Length, which a page may not set (the browser does)",
};

function parseRequest(text) {
  const [head, ...rest] = text.split("\n\n");
  const lines = head.split("\n");
  const [method, path] = lines[0].split(" ");
  const headers = [];
  for (const line of lines.slice(1).filter(Boolean)) {
    const i = line.indexOf(":");
    headers.push([line.slice(0, i), line.slice(i + 1)]);
  }
  return { method, path, headers, body: rest.join("\n\n") };
}

function authorization(signedRequest) {
  const line = signedRequest.split("\n").find((l) => l.startsWith("Authorization:"));
  return line.slice("Authorization:".length).trim();
}

const vectors = readdirSync(root).filter((n) => existsSync(join(root, n, "context.json")));

test("the vector set is AWS's suite as committed", () => {
  assert.ok(vectors.length >= 35, `${vectors.length} vectors`);
  for (const name of Object.keys(NOT_SENDABLE)) assert.ok(vectors.includes(name), `${name} is not a vector`);
});

for (const name of vectors) {
  const why = NOT_SENDABLE[name];
  test(`SigV4 vector ${name}`, { skip: why }, async () => {
    const dir = join(root, name);
    const context = JSON.parse(readFileSync(join(dir, "context.json"), "utf8"));
    const req = parseRequest(readFileSync(join(dir, "request.txt"), "utf8"));
    const host = req.headers.find(([k]) => k.toLowerCase() === "host")[1];
    const headers = {};
    for (const [k, v] of req.headers) {
      if (k.toLowerCase() !== "host" && k.toLowerCase() !== "content-length") headers[k] = v;
    }
    const body = req.body || undefined;
    if (context.sign_body) {
      headers["X-Amz-Content-Sha256"] = createHash("sha256").update(req.body).digest("hex");
    }
    const signed = await sign({
      method: req.method,
      url: `https://${host}${req.path}`,
      headers,
      body,
      credentials: {
        accessKeyId: context.credentials.access_key_id,
        secretAccessKey: context.credentials.secret_access_key,
        sessionToken: context.credentials.token,
      },
      region: context.region,
      service: context.service,
      datetime: context.timestamp.replace(/[-:]/g, ""),
    });
    const expected = authorization(readFileSync(join(dir, "header-signed-request.txt"), "utf8"));
    assert.equal(signed.headers.get("authorization"), expected);
  });
}

test("a signature names the region it is for", async () => {
  const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret", sessionToken: "token" };
  const a = await sign({ method: "GET", url: "https://api.example.test/tickets", credentials, region: "eu-west-1" });
  const b = await sign({ method: "GET", url: "https://api.example.test/tickets", credentials, region: "ap-southeast-1" });
  assert.match(a.headers.get("authorization"), /Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request/);
  assert.match(b.headers.get("authorization"), /\/ap-southeast-1\/execute-api\//);
  assert.equal(a.headers.get("x-amz-security-token"), "token");
});
