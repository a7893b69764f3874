// Logging in and staying logged in (public/js/auth.js, cognito.js): the
// Cognito calls as AWS's awsJson 1.1, the dialog's state check, renewal
// before expiry, and what happens when Cognito cannot be reached.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Auth, LoginRequired, REFRESH_BEFORE_MS } from "../../public/js/auth.js";
import { Cognito, CognitoError } from "../../public/js/cognito.js";

class MemoryStorage {
  constructor() {
    this.m = new Map();
  }
  getItem(k) {
    return this.m.has(k) ? this.m.get(k) : null;
  }
  setItem(k, v) {
    this.m.set(k, String(v));
  }
  removeItem(k) {
    this.m.delete(k);
  }
}

const HOUR = 3600_000;

function fakeCognito(clock) {
  const c = { calls: [], down: false, issued: 0 };
  c.fetch = async (url, init) => {
    const target = init.headers["x-amz-target"];
    const body = JSON.parse(init.body);
    c.calls.push({ url, target, type: init.headers["content-type"], body });
    if (c.down) throw new TypeError("fetch failed");
    if (body.Logins["graph.facebook.com"] === "forged") {
      return new Response(JSON.stringify({ __type: "NotAuthorizedException", message: "Invalid login token." }), { status: 400 });
    }
    if (target.endsWith(".GetId")) return Response.json({ IdentityId: "eu-west-1:abc" });
    c.issued += 1;
    return Response.json({
      IdentityId: body.IdentityId,
      Credentials: { AccessKeyId: `AK${c.issued}`, SecretKey: "s", SessionToken: "t", Expiration: (clock.now + HOUR) / 1000 },
    });
  };
  return c;
}

const REGIONS = ["eu-west-1", "ap-southeast-1"];

function setup() {
  const clock = { now: 1_700_000_000_000 };
  const fakes = Object.fromEntries(REGIONS.map((r) => [r, fakeCognito(clock)]));
  const config = {
    regions: { primary: REGIONS[0], secondary: REGIONS[1] },
    facebookAppId: "123",
    identity: Object.fromEntries(
      REGIONS.map((r) => [r, { identityPoolId: `${r}:pool`, cognitoEndpoint: `http://${r}.cognito.test/`, facebookLoginUrl: `http://${r}.fb.test/dialog` }]),
    ),
  };
  const auth = new Auth(config, {
    storage: new MemoryStorage(),
    now: () => clock.now,
    cognito: (r) => new Cognito({ endpoint: config.identity[r].cognitoEndpoint, identityPoolId: config.identity[r].identityPoolId, fetch: fakes[r].fetch }),
  });
  return { clock, fake: fakes[REGIONS[0]], fakes, auth };
}

test("login calls GetId then GetCredentialsForIdentity with the Facebook login, as awsJson 1.1", async () => {
  const { fake, auth } = setup();
  await auth.loginWithToken({ token: "fb-token", expiresIn: 3600, userId: "42" });
  assert.deepEqual(
    fake.calls.map((c) => [c.url, c.target, c.type]),
    [
      ["http://eu-west-1.cognito.test/", "AWSCognitoIdentityService.GetId", "application/x-amz-json-1.1"],
      ["http://eu-west-1.cognito.test/", "AWSCognitoIdentityService.GetCredentialsForIdentity", "application/x-amz-json-1.1"],
    ],
  );
  assert.deepEqual(fake.calls[0].body, { IdentityPoolId: "eu-west-1:pool", Logins: { "graph.facebook.com": "fb-token" } });
  assert.deepEqual(fake.calls[1].body, { IdentityId: "eu-west-1:abc", Logins: { "graph.facebook.com": "fb-token" } });
  assert.equal(auth.session.identityId, "eu-west-1:abc");
  assert.equal((await auth.credentials()).accessKeyId, "AK1");
});

test("Cognito's errors come back with their code", async () => {
  const { auth } = setup();
  await assert.rejects(auth.loginWithToken({ token: "forged", expiresIn: 3600 }), (e) => e instanceof CognitoError && e.code === "NotAuthorizedException");
  assert.equal(auth.session, null);
});

test("the dialog's answer is taken only with the state this page sent", async () => {
  const { auth } = setup();
  const url = new URL(auth.dialogUrl("http://app.test/", "ap-southeast-1"));
  assert.equal(url.host, "ap-southeast-1.fb.test", "the serving region's stand-in");
  assert.equal(url.searchParams.get("client_id"), "123");
  assert.equal(url.searchParams.get("redirect_uri"), "http://app.test/");
  const state = url.searchParams.get("state");
  assert.match(state, /^[0-9a-f]{32}$/);
  assert.equal(await auth.completeDialog("#/tickets"), false, "not a login's fragment");
  await assert.rejects(auth.completeDialog(`#access_token=t&state=other&expires_in=3600`), LoginRequired);
  // A login through the region the dialog was opened for.
  const viaSecondary = new URL(auth.dialogUrl("http://app.test/", "ap-southeast-1")).searchParams.get("state");
  assert.equal(await auth.completeDialog(`#access_token=fb&state=${viaSecondary}&expires_in=3600`), true);
  assert.equal(auth.session.region, "ap-southeast-1");
  assert.match(auth.session.identityId, /^eu-west-1:abc$/, "the fake hands out one id");
  // A state is good once.
  auth.dialogUrl("http://app.test/");
  const again = JSON.parse(auth.storage.getItem("wildrydes.loginState")).state;
  assert.equal(await auth.completeDialog(`#access_token=fb&state=${again}&expires_in=3600&user_id=7`), true);
  assert.equal(auth.session.userId, "7");
  assert.equal(auth.session.region, "eu-west-1");
  await assert.rejects(auth.completeDialog(`#access_token=fb&state=${again}`), LoginRequired);
});

test("credentials are renewed when less than five minutes are left, once for concurrent callers", async () => {
  const { clock, fake, auth } = setup();
  await auth.loginWithToken({ token: "fb", expiresIn: 2 * 3600 });
  clock.now += HOUR - REFRESH_BEFORE_MS - 1000;
  assert.equal((await auth.credentials()).accessKeyId, "AK1");
  clock.now += 2000;
  const [a, b] = await Promise.all([auth.credentials(), auth.credentials()]);
  assert.equal(a.accessKeyId, "AK2");
  assert.equal(b.accessKeyId, "AK2");
  assert.equal(fake.issued, 2);
});

test("when no region's Cognito can be reached, still-valid credentials are used; expired ones are not", async () => {
  const { clock, fakes, auth } = setup();
  await auth.loginWithToken({ token: "fb", expiresIn: 2 * 3600 });
  for (const f of Object.values(fakes)) f.down = true;
  clock.now += HOUR - 60_000;
  assert.equal((await auth.credentials()).accessKeyId, "AK1");
  clock.now += 120_000;
  await assert.rejects(auth.credentials(), (e) => e instanceof CognitoError && e.code === "NetworkError");
});

test("an expired Facebook login asks the user to log in again, and logout forgets everything", async () => {
  const { clock, auth } = setup();
  await auth.loginWithToken({ token: "fb", expiresIn: 600 });
  clock.now += HOUR;
  await assert.rejects(auth.credentials(), LoginRequired);
  assert.equal(auth.session, null);
  await auth.loginWithToken({ token: "fb", expiresIn: 600 });
  auth.logout();
  assert.equal(auth.session, null);
  await assert.rejects(auth.credentials(), LoginRequired);
});

test("a login goes through the next region's pool when the first does not answer", async () => {
  const { fakes, auth } = setup();
  fakes["eu-west-1"].down = true;
  await auth.loginWithToken({ token: "fb", expiresIn: 3600, userId: "9", region: "eu-west-1" });
  assert.equal(auth.session.region, "ap-southeast-1");
  assert.equal(fakes["ap-southeast-1"].issued, 1);
  // A refused login is not retried elsewhere.
  fakes["eu-west-1"].down = false;
  await assert.rejects(auth.loginWithToken({ token: "forged", expiresIn: 3600, region: "eu-west-1" }), (e) => e.code === "NotAuthorizedException");
  assert.equal(fakes["ap-southeast-1"].calls.length, 2);
});

test("renewal goes to the issuing pool, or logs in afresh through another region's when it is down", async () => {
  const { clock, fakes, auth } = setup();
  await auth.loginWithToken({ token: "fb", expiresIn: 3 * 3600, region: "eu-west-1" });
  clock.now += HOUR - 60_000;
  fakes["eu-west-1"].down = true;
  const renewed = await auth.credentials();
  assert.equal(auth.session.region, "ap-southeast-1");
  assert.equal(fakes["ap-southeast-1"].calls.map((c) => c.target.split(".")[1]).join(","), "GetId,GetCredentialsForIdentity");
  assert.equal(renewed.accessKeyId, "AK1");
  assert.equal(renewed.expiration, clock.now + HOUR);
});
