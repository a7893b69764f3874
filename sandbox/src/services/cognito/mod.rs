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

mod facebook;
pub mod operations;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::credentials::{SandboxSecrets, unix_now};
use crate::door::table::by_name;
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::store::{Store, StoreError};
use operations::{Call, OPERATIONS, READS};

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

    /// For a `GetCredentialsForIdentity` request, whose credentials it
    /// asks for (`None` for other operations): the region checks the
    /// role's trust policy before [`Cognito::handle`] mints them.
    pub(crate) fn grant(&self, input: &Input) -> Option<Result<operations::Grant, ServiceError>> {
        let target = input.header("x-amz-target").unwrap_or_default();
        if target != "AWSCognitoIdentityService.GetCredentialsForIdentity" {
            return None;
        }
        let req = match input.json() {
            Ok(req) => req,
            Err(e) => return Some(Err(e)),
        };
        let state = self.state.lock();
        Some(operations::grant_for(self, &req, &state))
    }

    /// The role a grant maps to does not trust Cognito for this identity:
    /// AWS's answer.
    pub fn untrusted() -> ServiceError {
        fail(
            "InvalidIdentityPoolConfigurationException",
            "Invalid identity pool configuration. Check assigned IAM roles for this pool.",
        )
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
