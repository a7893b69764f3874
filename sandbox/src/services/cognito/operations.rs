//! Cognito Identity's operations: one function per operation, found
//! through the operation table [`OPERATIONS`] by the name `X-Amz-Target`
//! gives, each given the JSON body and the locked state.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    Claims, Cognito, FACEBOOK, Pool, State, denied, error, fail, not_authorized, ok, pool_json,
};
use crate::credentials::{CognitoIdentity, unix_now};
use crate::door::table::{Operation, named};
use crate::door::{Outcome, ServiceError};
use crate::wire::string_map;

/// What an operation gets from the request.
pub(super) struct Call {
    /// The JSON body.
    pub(super) req: Value,
    /// Its `IdentityPoolId` (`""` when it names none).
    pub(super) pool_id: String,
}

type Handler = fn(&Cognito, &Call, &mut State) -> Outcome;

/// Cognito Identity's operations, by the name `X-Amz-Target` gives.
#[rustfmt::skip]
pub(super) const OPERATIONS: &[Operation<Handler>] = &[
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
pub(super) const READS: &[&str] = &[
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

/// Whose credentials a `GetCredentialsForIdentity` asks for: the
/// identity, its pool, the role the pool maps it to, and how it logged in.
pub(crate) struct Grant {
    pub(crate) identity: String,
    pub(crate) pool_id: String,
    pub(crate) role: String,
    pub(crate) authenticated: bool,
    /// `cognitoAuthenticationProvider` for logins that have one.
    pub(crate) provider: Option<String>,
}

impl Grant {
    /// The `amr` claim the role's trust policy sees: how the identity
    /// authenticated, then the provider and the login.
    pub(crate) fn amr(&self) -> Vec<String> {
        let mut amr = vec![if self.authenticated {
            "authenticated".to_owned()
        } else {
            "unauthenticated".to_owned()
        }];
        if let Some(provider) = &self.provider {
            amr.extend(provider.split(',').map(str::to_owned));
        }
        amr
    }
}

/// Resolves a `GetCredentialsForIdentity` without minting anything.
pub(super) fn grant_for(cognito: &Cognito, req: &Value, s: &State) -> Result<Grant, ServiceError> {
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
        return Err(fail(
            "ResourceNotFoundException",
            &format!("Identity '{identity}' not found."),
        ));
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
            return Err(denied(
                "Logins don't match. Please include at least one valid login for this identity or identity pool.",
            ));
        }
        None if pool.identities.values().any(|i| *i == identity) => {
            return Err(denied(
                "Logins don't match. Please include at least one valid login for this identity or identity pool.",
            ));
        }
        None if pool.allow_unauthenticated => ("unauthenticated", None),
        None => {
            return Err(denied(
                "Unauthenticated access is not supported for this identity pool.",
            ));
        }
    };
    let Some(role) = pool.roles.get(role_key) else {
        return Err(fail(
            "InvalidIdentityPoolConfigurationException",
            &format!(
                "Invalid identity pool configuration. Check assigned IAM roles for this pool ({role_key} role missing)."
            ),
        ));
    };
    Ok(Grant {
        identity,
        pool_id: pool.id.clone(),
        role: role.clone(),
        authenticated: role_key == "authenticated",
        provider,
    })
}

/// GetCredentialsForIdentity (unsigned): credentials of the pool's
/// authenticated role for a matching login, or of its unauthenticated role
/// (whose trust the region checked first: [`Cognito::grant`]).
fn get_credentials_for_identity(cognito: &Cognito, call: &Call, s: &mut State) -> Outcome {
    let grant = grant_for(cognito, &call.req, s)?;
    let Grant {
        identity,
        pool_id,
        role,
        authenticated,
        provider,
    } = grant;
    let cognito_identity = CognitoIdentity {
        identity_id: identity.clone(),
        pool_id,
        provider,
        authenticated,
    };
    let creds = cognito.secrets.mint(
        &role,
        "CognitoIdentityCredentials",
        Some(&cognito_identity),
        Duration::from_secs(3600),
    );
    ok(json!({"IdentityId": identity, "Credentials": {
        "AccessKeyId": creds.access_key_id, "SecretKey": creds.secret_access_key,
        "SessionToken": creds.session_token, "Expiration": creds.expires_at,
    }}))
}
