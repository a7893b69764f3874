//! The new-login check: during the outage, can a user who was not signed
//! in get in? One Facebook login traded with Cognito (`GetId` and
//! `GetCredentialsForIdentity`), exactly as the web UI does it: through
//! the pool of the region that serves during the outage (the secondary)
//! first, then any other region's, until one answers. On the
//! sandbox the token comes from the Facebook stand-in of whichever region
//! answers; on AWS from `WILDRYDES_FACEBOOK_TEST_TOKEN` (a Facebook test
//! user's access token), and without one the check says it was not tried.

use std::sync::Arc;
use std::time::Duration;

use super::env::Env;
use super::probes::Probes;
use super::report::LoginCheck;
use crate::deploy::aws_error;
use crate::resources::identity_pool;

/// The environment variable holding a Facebook test user's token (AWS).
pub const TEST_TOKEN_ENV: &str = "WILDRYDES_FACEBOOK_TEST_TOKEN";

pub async fn check(env: &Env, probes: Arc<Probes>, pools: Vec<(String, String)>) -> LoginCheck {
    let at = probes.clock.now();
    let token = match facebook_token(env, &probes.run_id, &probes.secondary).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return LoginCheck {
                attempted: false,
                ok: None,
                region: None,
                at_ms: Some(at),
                detail: format!(
                    "not tried: set {TEST_TOKEN_ENV} to a Facebook test user's access token to check logins on AWS"
                ),
            };
        }
        Err(e) => {
            return LoginCheck {
                attempted: true,
                ok: Some(false),
                region: None,
                at_ms: Some(at),
                detail: format!("no Facebook token: {e:#}"),
            };
        }
    };
    // The serving region's pool first (the secondary, in an outage).
    let mut pools = pools;
    pools.sort_by_key(|(region, _)| *region != probes.secondary);
    let mut failures = Vec::new();
    for (region, pool) in &pools {
        match login(env, region, pool, &token).await {
            Ok(()) => {
                return LoginCheck {
                    attempted: true,
                    ok: Some(true),
                    region: Some(region.clone()),
                    at_ms: Some(at),
                    detail: format!("a new user logged in through Cognito in {region}"),
                };
            }
            Err(e) => failures.push(format!(
                "{region}: {}",
                crate::deploy::AwsError::of(&e).map_or_else(|| format!("{e:#}"), |a| a.brief())
            )),
        }
    }
    LoginCheck {
        attempted: true,
        ok: Some(false),
        region: None,
        at_ms: Some(at),
        detail: format!("a new user could not log in: {}", failures.join("; ")),
    }
}

/// `GetId` and `GetCredentialsForIdentity` in `region`'s pool.
async fn login(env: &Env, region: &str, pool: &str, token: &str) -> anyhow::Result<()> {
    let cognito = &env.clients().region(region).cognito;
    let id = cognito
        .get_id()
        .identity_pool_id(pool)
        .logins("graph.facebook.com", token)
        .send()
        .await
        .map_err(|e| aws_error(&format!("GetId in {region}"), e))?
        .identity_id
        .unwrap_or_default();
    cognito
        .get_credentials_for_identity()
        .identity_id(&id)
        .logins("graph.facebook.com", token)
        .send()
        .await
        .map_err(|e| aws_error(&format!("GetCredentialsForIdentity in {region}"), e))?;
    Ok(())
}

/// A Facebook token for a user who never logged in: the sandbox's
/// stand-in (the serving region's first), or the test token on AWS.
async fn facebook_token(env: &Env, run_id: &str, prefer: &str) -> anyhow::Result<Option<String>> {
    if !env.is_sandbox() {
        return Ok(std::env::var(TEST_TOKEN_ENV).ok().filter(|t| !t.is_empty()));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let mut urls: Vec<(&String, &String)> = env.facebook_token_urls.iter().collect();
    urls.sort_by_key(|(region, _)| region.as_str() != prefer);
    let mut failures = Vec::new();
    for (region, url) in urls {
        let resp = http
            .post(url)
            .json(&serde_json::json!({
                "appId": identity_pool::facebook_app_id(&env.ctx),
                "userId": format!("new-{run_id}"),
                "name": "Drill Newcomer",
                "expiresIn": 3600,
            }))
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {
                let doc: serde_json::Value = r.json().await?;
                if let Some(t) = doc["accessToken"].as_str() {
                    return Ok(Some(t.to_owned()));
                }
                failures.push(format!("{region}: no accessToken"));
            }
            Ok(r) => failures.push(format!("{region}: HTTP {}", r.status())),
            Err(e) => failures.push(format!(
                "{region}: {}",
                if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    e.to_string()
                }
            )),
        }
    }
    anyhow::bail!(
        "the Facebook stand-in did not answer ({})",
        failures.join("; ")
    )
}
