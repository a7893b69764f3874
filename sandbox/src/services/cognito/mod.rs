//! Cognito Identity in a region, and the Facebook stand-in it trusts.
//!
//! Identity pools map a login (a Facebook user, or a developer-authenticated
//! user id) to one stable identity id, and trade it for temporary
//! credentials of the pool's authenticated role: credentials every sandbox
//! process accepts, carrying the identity so API Gateway can tell callers
//! apart. `GetId`, `GetCredentialsForIdentity` and `GetOpenIdToken` are
//! unsigned, as on AWS; everything else needs SigV4.
//!
//! The Facebook stand-in (`/sandbox/facebook/…`) plays the Facebook login
//! dialog: a person picks a user id and name, and it issues a signed,
//! expiring access token. Cognito accepts only tokens it signed, unexpired,
//! for the pool's app id.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::credentials::{CognitoIdentity, SandboxSecrets, unix_now};
use crate::door::table::{Operation, by_name, named};
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::store::{Store, StoreError};
use crate::wire::{respond, string_map, xml_escape};

/// The login provider name of Facebook.
pub const FACEBOOK: &str = "graph.facebook.com";
/// The provider name of Cognito's own OpenID tokens.
pub const COGNITO_OIDC: &str = "cognito-identity.amazonaws.com";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pool {
    id: String,
    name: String,
    allow_unauthenticated: bool,
    providers: BTreeMap<String, String>,
    developer_provider: Option<String>,
    tags: BTreeMap<String, String>,
    roles: BTreeMap<String, String>,
    /// "provider:user" → identity id.
    identities: BTreeMap<String, String>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct State {
    pools: BTreeMap<String, Pool>,
}

pub struct Cognito {
    region: String,
    secrets: Arc<SandboxSecrets>,
    state: Store<State>,
}

/// A Cognito Identity error: 400 (the door gives it the envelope).
fn fail(code: &str, message: &str) -> ServiceError {
    ServiceError::bad_request(code, message)
}

fn error(code: &str, message: &str) -> Outcome {
    Err(fail(code, message))
}

/// `NotAuthorizedException`: observed with HTTP 400 (AWS-BEHAVIOUR §7).
fn denied(message: &str) -> ServiceError {
    fail("NotAuthorizedException", message)
}

fn not_authorized(message: &str) -> Outcome {
    Err(denied(message))
}

fn ok(v: Value) -> Outcome {
    Ok(Reply::json(&v))
}

/// What a signed token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    /// Subject: a Facebook user id, or an identity id.
    sub: String,
    #[serde(default)]
    name: String,
    /// Facebook app id, or the identity pool id.
    aud: String,
    exp: u64,
}

impl Cognito {
    pub fn open(
        region: &str,
        file: PathBuf,
        secrets: Arc<SandboxSecrets>,
    ) -> Result<Self, StoreError> {
        Ok(Cognito {
            region: region.to_owned(),
            secrets,
            state: Store::open(file)?,
        })
    }

    fn sign(&self, kind: &str, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
        format!(
            "{kind}.{payload}.{}",
            URL_SAFE_NO_PAD.encode(self.mac(kind, &payload))
        )
    }

    fn mac(&self, kind: &str, payload: &str) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.secrets.master_key.as_bytes()).expect("any key");
        mac.update(kind.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Verifies a token this sandbox signed; `Err` is Cognito's message.
    fn open_token(&self, kind: &str, token: &str) -> Result<Claims, &'static str> {
        let mut parts = token.splitn(3, '.');
        let (Some(k), Some(payload), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("Invalid login token. Not a valid OpenId Connect identity token.");
        };
        let tag = URL_SAFE_NO_PAD.decode(tag).unwrap_or_default();
        if k != kind || !bool::from(self.mac(kind, payload).as_slice().ct_eq(&tag)) {
            return Err("Invalid login token. Couldn't verify signed token.");
        }
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("Invalid login token. Couldn't verify signed token.")?;
        if claims.exp <= unix_now() {
            return Err("Invalid login token. Token is expired.");
        }
        Ok(claims)
    }

    /// A Facebook stand-in access token for a user (valid `ttl`; zero
    /// makes it already expired, for tests of expiry).
    pub fn facebook_token(&self, app_id: &str, user_id: &str, name: &str, ttl: Duration) -> String {
        let exp = if ttl.is_zero() {
            unix_now()
        } else {
            unix_now() + ttl.as_secs()
        };
        self.sign(
            "fbsandbox",
            &Claims {
                sub: user_id.to_owned(),
                name: name.to_owned(),
                aud: app_id.to_owned(),
                exp,
            },
        )
    }

    /// Whether the operation a request names is one AWS serves unsigned.
    pub fn is_unsigned(headers: &HeaderMap) -> bool {
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let op = target.trim_start_matches("AWSCognitoIdentityService.");
        matches!(op, "GetId" | "GetCredentialsForIdentity" | "GetOpenIdToken")
    }

    /// Handles one Cognito Identity request (signed unless
    /// [`Cognito::is_unsigned`]).
    pub fn handle(&self, input: &Input) -> Outcome {
        let target = input.header("x-amz-target").unwrap_or_default();
        let op = target.trim_start_matches("AWSCognitoIdentityService.");
        let req = input.json()?;
        let mut state = self.state.lock();
        let before = state.clone();
        let call = Call {
            pool_id: req["IdentityPoolId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            req,
        };
        let response = match by_name(OPERATIONS, op) {
            Some(operation) => (operation.handler)(self, &call, &mut state),
            None => error(
                "UnknownOperationException",
                &format!("the sandbox's Cognito Identity has no operation {op}"),
            ),
        };
        if response.is_ok() && !READS.contains(&op) {
            self.state.commit(&mut state, before)?;
        }
        response
    }

    /// The login a request presents: (identity map key, auth provider
    /// string), `None` without logins, `Err` for a bad token.
    #[allow(clippy::result_large_err)]
    fn login_of(
        &self,
        pool: &Pool,
        logins: &Value,
    ) -> Result<Option<(String, Option<String>)>, ServiceError> {
        let Some(map) = logins.as_object().filter(|m| !m.is_empty()) else {
            return Ok(None);
        };
        let (provider, token) = map.iter().next().expect("non-empty");
        let token = token.as_str().unwrap_or_default();
        match provider.as_str() {
            FACEBOOK => {
                let Some(app) = pool.providers.get(FACEBOOK) else {
                    return Err(denied(
                        "Token is not from a supported provider of this identity pool.",
                    ));
                };
                let claims = self.open_token("fbsandbox", token).map_err(denied)?;
                if claims.aud != *app {
                    return Err(denied(
                        "Invalid login token. Token is not for this identity pool's Facebook app.",
                    ));
                }
                Ok(Some((
                    format!("{FACEBOOK}:{}", claims.sub),
                    Some(format!("{FACEBOOK},{FACEBOOK}:{app}:{}", claims.sub)),
                )))
            }
            COGNITO_OIDC => {
                let claims = self.open_token("cognito", token).map_err(denied)?;
                if claims.aud != pool.id {
                    return Err(denied(
                        "Invalid login token. Token is not for this identity pool.",
                    ));
                }
                Ok(Some((format!("oidc:{}", claims.sub), None)))
            }
            _ => Err(denied(
                "Invalid login token. Not a valid OpenId Connect identity token.",
            )),
        }
    }

    /// The Facebook stand-in: the login dialog and a token API.
    pub fn facebook(
        &self,
        method: &http::Method,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Response {
        let form: BTreeMap<String, String> =
            serde_urlencoded::from_bytes(if *method == http::Method::GET {
                query.unwrap_or("").as_bytes()
            } else {
                body
            })
            .unwrap_or_default();
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        match (method.as_str(), path.trim_end_matches('/')) {
            ("GET", "/sandbox/facebook" | "/sandbox/facebook/dialog/oauth") => {
                let page = format!(
                    r#"<!doctype html><html><head><meta charset="utf-8"><title>Log in with Facebook (sandbox)</title>
<style>body{{font-family:sans-serif;max-width:28em;margin:4em auto}}label{{display:block;margin:.8em 0}}input{{width:100%;padding:.4em}}button{{padding:.5em 1.5em}}</style></head>
<body><h1>Facebook (sandbox stand-in)</h1><p>Pick who you are. The token this issues works only in this sandbox.</p>
<form method="post" action="/sandbox/facebook/login">
<label>Facebook user id <input name="user_id" required pattern="[0-9]{{1,20}}" value="10000000001"></label>
<label>Name <input name="name" required value="Alice Rider"></label>
<input type="hidden" name="client_id" value="{}"><input type="hidden" name="redirect_uri" value="{}"><input type="hidden" name="state" value="{}">
<button type="submit" id="login">Log in</button></form></body></html>"#,
                    xml_escape(get("client_id")),
                    xml_escape(get("redirect_uri")),
                    xml_escape(get("state"))
                );
                respond(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    "x-fb-trace-id",
                    page,
                )
            }
            ("POST", "/sandbox/facebook/login") => {
                let (user, name, app, redirect) = (
                    get("user_id"),
                    get("name"),
                    get("client_id"),
                    get("redirect_uri"),
                );
                if user.is_empty() || !user.chars().all(|c| c.is_ascii_digit()) || user.len() > 20 {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        "text/plain",
                        "x-fb-trace-id",
                        "user_id must be 1 to 20 digits",
                    );
                }
                if !(redirect.starts_with("http://") || redirect.starts_with("https://")) {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        "text/plain",
                        "x-fb-trace-id",
                        "redirect_uri must be an http(s) URL",
                    );
                }
                let token = self.facebook_token(app, user, name, Duration::from_secs(3600));
                let location = format!(
                    "{redirect}#access_token={token}&expires_in=3600&state={}&user_id={user}",
                    serde_urlencoded::to_string([("s", get("state"))])
                        .unwrap_or_default()
                        .trim_start_matches("s=")
                );
                let mut resp = respond(StatusCode::FOUND, "text/plain", "x-fb-trace-id", "");
                resp.headers_mut().insert(
                    http::header::LOCATION,
                    HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/")),
                );
                resp
            }
            ("POST", "/sandbox/facebook/token") => {
                let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let (Some(app), Some(user)) = (req["appId"].as_str(), req["userId"].as_str())
                else {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        "application/json",
                        "x-fb-trace-id",
                        r#"{"error":"appId and userId are required"}"#,
                    );
                };
                let ttl = Duration::from_secs(req["expiresIn"].as_u64().unwrap_or(3600));
                let token = self.facebook_token(app, user, req["name"].as_str().unwrap_or(""), ttl);
                respond(
                    StatusCode::OK,
                    "application/json",
                    "x-fb-trace-id",
                    json!({"accessToken": token, "expiresIn": ttl.as_secs()}).to_string(),
                )
            }
            _ => respond(
                StatusCode::NOT_FOUND,
                "text/plain",
                "x-fb-trace-id",
                "no such page",
            ),
        }
    }
}

/// What an operation gets from the request.
struct Call {
    /// The JSON body.
    req: Value,
    /// Its `IdentityPoolId` (`""` when it names none).
    pool_id: String,
}

type Handler = fn(&Cognito, &Call, &mut State) -> Outcome;

/// Cognito Identity's operations, by the name `X-Amz-Target` gives.
#[rustfmt::skip]
const OPERATIONS: &[Operation<Handler>] = &[
    named("CreateIdentityPool", |c, r, s| put_identity_pool(c, r, s, true)),
    named("UpdateIdentityPool", |c, r, s| put_identity_pool(c, r, s, false)),
    named("DescribeIdentityPool", describe_identity_pool),
    named("DeleteIdentityPool", delete_identity_pool),
    named("ListIdentityPools", list_identity_pools),
    named("SetIdentityPoolRoles", set_identity_pool_roles),
    named("GetIdentityPoolRoles", get_identity_pool_roles),
    named("GetId", get_id),
    named("GetOpenIdTokenForDeveloperIdentity", get_open_id_token_for_developer_identity),
    named("GetCredentialsForIdentity", get_credentials_for_identity),
];

/// Operations whose success changes nothing to save.
const READS: &[&str] = &[
    "DescribeIdentityPool",
    "ListIdentityPools",
    "GetIdentityPoolRoles",
    "GetCredentialsForIdentity",
];

fn missing_pool(pool_id: &str) -> Outcome {
    error(
        "ResourceNotFoundException",
        &format!("IdentityPool '{pool_id}' not found."),
    )
}

/// CreateIdentityPool (`create`) and UpdateIdentityPool: an update keeps
/// the pool's roles and identities, and its tags unless it names new ones.
fn put_identity_pool(cognito: &Cognito, call: &Call, s: &mut State, create: bool) -> Outcome {
    let req = &call.req;
    let pool_id = &call.pool_id;
    let Some(name) = req["IdentityPoolName"].as_str() else {
        return error("InvalidParameterException", "IdentityPoolName is required");
    };
    let providers: BTreeMap<String, String> = string_map(&req["SupportedLoginProviders"]);
    if let Some(p) = providers.keys().find(|p| p.as_str() != FACEBOOK) {
        return error(
            "InvalidParameterException",
            &format!("The sandbox supports the login provider {FACEBOOK}, not {p}"),
        );
    }
    let id = if create {
        format!("{}:{}", cognito.region, uuid::Uuid::new_v4())
    } else if s.pools.contains_key(pool_id) {
        pool_id.clone()
    } else {
        return missing_pool(pool_id);
    };
    let existing = s.pools.get(&id).cloned();
    let pool = Pool {
        id: id.clone(),
        name: name.to_owned(),
        allow_unauthenticated: req["AllowUnauthenticatedIdentities"]
            .as_bool()
            .unwrap_or(false),
        providers,
        developer_provider: req["DeveloperProviderName"].as_str().map(str::to_owned),
        tags: Some(string_map(&req["IdentityPoolTags"]))
            .filter(|_| req["IdentityPoolTags"].is_object())
            .or(existing.as_ref().map(|e| e.tags.clone()))
            .unwrap_or_default(),
        roles: existing
            .as_ref()
            .map(|e| e.roles.clone())
            .unwrap_or_default(),
        identities: existing.map(|e| e.identities).unwrap_or_default(),
    };
    let v = pool_json(&pool);
    s.pools.insert(id, pool);
    ok(v)
}

/// DescribeIdentityPool.
fn describe_identity_pool(_cognito: &Cognito, call: &Call, s: &mut State) -> Outcome {
    let pool_id = &call.pool_id;
    s.pools
        .get(pool_id)
        .map_or_else(|| missing_pool(pool_id), |p| ok(pool_json(p)))
}

/// DeleteIdentityPool.
fn delete_identity_pool(_cognito: &Cognito, call: &Call, s: &mut State) -> Outcome {
    let pool_id = &call.pool_id;
    match s.pools.remove(pool_id) {
        Some(_) => ok(json!({})),
        None => missing_pool(pool_id),
    }
}

/// ListIdentityPools.
fn list_identity_pools(_cognito: &Cognito, _call: &Call, s: &mut State) -> Outcome {
    ok(
        json!({"IdentityPools": s.pools.values().map(|p| json!({"IdentityPoolId": p.id, "IdentityPoolName": p.name})).collect::<Vec<_>>()}),
    )
}

/// SetIdentityPoolRoles.
fn set_identity_pool_roles(_cognito: &Cognito, call: &Call, s: &mut State) -> Outcome {
    let req = &call.req;
    let pool_id = &call.pool_id;
    match s.pools.get_mut(pool_id) {
        Some(p) => {
            p.roles = string_map(&req["Roles"]);
            ok(json!({}))
        }
        None => missing_pool(pool_id),
    }
}

/// GetIdentityPoolRoles.
fn get_identity_pool_roles(_cognito: &Cognito, call: &Call, s: &mut State) -> Outcome {
    let pool_id = &call.pool_id;
    s.pools.get(pool_id).map_or_else(
        || missing_pool(pool_id),
        |p| ok(json!({"IdentityPoolId": p.id, "Roles": p.roles})),
    )
}

/// GetId (unsigned): one stable identity per login; without logins, a new
/// unauthenticated identity where the pool allows them.
fn get_id(cognito: &Cognito, call: &Call, s: &mut State) -> Outcome {
    let req = &call.req;
    let pool_id = &call.pool_id;
    let Some(pool) = s.pools.get_mut(pool_id) else {
        return missing_pool(pool_id);
    };
    match cognito.login_of(pool, &req["Logins"]) {
        Err(e) => Err(e),
        Ok(None) if !pool.allow_unauthenticated => {
            not_authorized("Unauthenticated access is not supported for this identity pool.")
        }
        Ok(None) => {
            ok(json!({"IdentityId": format!("{}:{}", cognito.region, uuid::Uuid::new_v4())}))
        }
        Ok(Some((key, _))) => {
            let id = pool
                .identities
                .entry(key)
                .or_insert_with(|| format!("{}:{}", cognito.region, uuid::Uuid::new_v4()))
                .clone();
            ok(json!({"IdentityId": id}))
        }
    }
}

/// GetOpenIdTokenForDeveloperIdentity: the identity of a developer
/// provider's user and a token Cognito accepts as a login for it.
fn get_open_id_token_for_developer_identity(
    cognito: &Cognito,
    call: &Call,
    s: &mut State,
) -> Outcome {
    let req = &call.req;
    let pool_id = &call.pool_id;
    let Some(pool) = s.pools.get_mut(pool_id) else {
        return missing_pool(pool_id);
    };
    let Some(dev) = pool.developer_provider.clone() else {
        return error(
            "InvalidParameterException",
            "This identity pool has no DeveloperProviderName",
        );
    };
    let Some(user) = req["Logins"][&dev].as_str() else {
        return not_authorized(&format!("Logins must name the developer provider {dev}"));
    };
    let key = format!("{dev}:{user}");
    let id = pool
        .identities
        .entry(key)
        .or_insert_with(|| format!("{}:{}", cognito.region, uuid::Uuid::new_v4()))
        .clone();
    if let Some(asked) = req["IdentityId"].as_str()
        && asked != id
    {
        return error(
            "DeveloperUserAlreadyRegisteredException",
            &format!("{user} is already registered with another identity"),
        );
    }
    let ttl = req["TokenDuration"]
        .as_u64()
        .unwrap_or(900)
        .clamp(1, 86_400);
    let token = cognito.sign(
        "cognito",
        &Claims {
            sub: id.clone(),
            name: user.to_owned(),
            aud: pool.id.clone(),
            exp: unix_now() + ttl,
        },
    );
    ok(json!({"IdentityId": id, "Token": token}))
}

/// GetCredentialsForIdentity (unsigned): credentials of the pool's
/// authenticated role for a matching login, or of its unauthenticated role.
fn get_credentials_for_identity(cognito: &Cognito, call: &Call, s: &mut State) -> Outcome {
    let req = &call.req;
    let identity = req["IdentityId"].as_str().unwrap_or_default().to_owned();
    let Some(pool) = s
        .pools
        .values()
        .find(|p| {
            p.identities.values().any(|i| *i == identity)
                || identity.starts_with(&format!("{}:", cognito.region))
        })
        .cloned()
    else {
        return error(
            "ResourceNotFoundException",
            &format!("Identity '{identity}' not found."),
        );
    };
    let login = cognito.login_of(&pool, &req["Logins"])?;
    let (role_key, provider) = match &login {
        Some((key, provider)) if pool.identities.get(key) == Some(&identity) => {
            ("authenticated", provider.clone())
        }
        Some((key, _)) if key.starts_with("oidc:") && key.ends_with(&identity) => {
            ("authenticated", None)
        }
        Some(_) => {
            return not_authorized(
                "Logins don't match. Please include at least one valid login for this identity or identity pool.",
            );
        }
        None if pool.identities.values().any(|i| *i == identity) => {
            return not_authorized(
                "Logins don't match. Please include at least one valid login for this identity or identity pool.",
            );
        }
        None if pool.allow_unauthenticated => ("unauthenticated", None),
        None => {
            return not_authorized(
                "Unauthenticated access is not supported for this identity pool.",
            );
        }
    };
    let Some(role) = pool.roles.get(role_key) else {
        return error(
            "InvalidIdentityPoolConfigurationException",
            &format!(
                "Invalid identity pool configuration. Check assigned IAM roles for this pool ({role_key} role missing)."
            ),
        );
    };
    let cognito_identity = CognitoIdentity {
        identity_id: identity.clone(),
        pool_id: pool.id.clone(),
        provider,
        authenticated: role_key == "authenticated",
    };
    let creds = cognito.secrets.mint(
        role,
        "CognitoIdentityCredentials",
        Some(&cognito_identity),
        Duration::from_secs(3600),
    );
    ok(json!({"IdentityId": identity, "Credentials": {
        "AccessKeyId": creds.access_key_id, "SecretKey": creds.secret_access_key,
        "SessionToken": creds.session_token, "Expiration": creds.expires_at,
    }}))
}

fn pool_json(p: &Pool) -> Value {
    let mut v = json!({
        "IdentityPoolId": p.id, "IdentityPoolName": p.name,
        "AllowUnauthenticatedIdentities": p.allow_unauthenticated,
        "SupportedLoginProviders": p.providers, "IdentityPoolTags": p.tags,
    });
    if let Some(d) = &p.developer_provider {
        v["DeveloperProviderName"] = json!(d);
    }
    v
}
