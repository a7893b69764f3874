//! What a drill works against: the target's clients, the stack's resources
//! found by name and tag (the same finders `up` and `status` use), the
//! API's name and the authoritative DNS servers that answer it, and the
//! drill user. The only place in the drill that knows the target.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use wildrydes_sandbox::launcher::Sandbox;

use super::client::AuthoritativeDns;
use crate::aws::Clients;
use crate::config::Config;
use crate::deploy::{Ctx, aws_error};
use crate::resources::{self, health_check, identity_pool};
use crate::target;

/// How long one AWS call of the drill may take (retries included): a dead
/// region must show as an error, not hang the drill.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Env {
    pub config: Config,
    pub ctx: Arc<Ctx>,
    pub health_url: Box<dyn Fn() -> crate::status::HealthUrl + Send + Sync>,
    /// The sandbox, when that is the target (blackouts need it).
    pub sandbox: tokio::sync::Mutex<Option<Sandbox>>,
    /// `http(s)://api.<domain>[:port]`: the API by name.
    pub api_base: String,
    pub dns_servers: Vec<SocketAddr>,
    /// Address → region, where addresses name regions (the sandbox).
    pub region_addresses: HashMap<IpAddr, String>,
    /// Each region's Facebook stand-in (sandbox), for the new-login check.
    pub facebook_token_urls: BTreeMap<String, String>,
}

impl Env {
    /// Connects to the target; never starts the sandbox.
    pub async fn open(config: &Config) -> anyhow::Result<Env> {
        let session = target::open(
            config,
            target::OpenOptions {
                start_sandbox: false,
                call_timeout: Some(CALL_TIMEOUT),
            },
        )
        .await?;
        let ctx = Ctx::open(config, &session, true, None, BTreeMap::new())
            .await
            .map_err(|e| anyhow::anyhow!("{e:#}\n(no credentials? set up the AWS credential chain, e.g. `aws sso login`, or use the sandbox)"))?;
        let mut region_addresses = HashMap::new();
        let mut facebook_token_urls = BTreeMap::new();
        let (api_base, dns_servers) = match &session.sandbox {
            Some(sb) => {
                let t = &sb.state.topology;
                anyhow::ensure!(
                    t.shared_port,
                    "the drill needs the sandbox's regions on one shared port (each on its own address), as `wildrydes sandbox start` makes them"
                );
                let dns_port = t.dns_port.ok_or_else(|| {
                    anyhow::anyhow!("this sandbox has no DNS server: `wildrydes sandbox stop` and run `wildrydes up` again")
                })?;
                let port = t.regions.first().map(|r| r.port).unwrap_or_default();
                for r in &t.regions {
                    region_addresses.insert(r.address, r.name.clone());
                    facebook_token_urls.insert(
                        r.name.clone(),
                        format!("{}/sandbox/facebook/token", r.url()),
                    );
                }
                (
                    format!("http://{}:{port}", config.api_domain()),
                    vec![SocketAddr::new(t.global.address, dns_port)],
                )
            }
            None => (
                format!("https://{}", config.api_domain()),
                zone_name_servers(&ctx).await?,
            ),
        };
        let sandbox_root = session.sandbox.as_ref().map(|s| s.layout.root.clone());
        let health = move || -> crate::status::HealthUrl {
            match &sandbox_root {
                None => Box::new(|_r: &str, d: &str| (format!("https://{d}/health"), None)),
                Some(root) => {
                    let endpoints: BTreeMap<String, String> = Sandbox::open(root)
                        .ok()
                        .flatten()
                        .map(|s| {
                            s.state
                                .topology
                                .regions
                                .iter()
                                .map(|e| (e.name.clone(), e.url()))
                                .collect()
                        })
                        .unwrap_or_default();
                    Box::new(move |region: &str, domain: &str| {
                        let base = endpoints.get(region).cloned().unwrap_or_default();
                        (format!("{base}/health"), Some(domain.to_owned()))
                    })
                }
            }
        };
        let target::Session { sandbox, .. } = session;
        Ok(Env {
            config: config.clone(),
            ctx: Arc::new(ctx),
            health_url: Box::new(health),
            sandbox: tokio::sync::Mutex::new(sandbox),
            api_base,
            dns_servers,
            region_addresses,
            facebook_token_urls,
        })
    }

    pub fn clients(&self) -> &Clients {
        &self.ctx.clients
    }

    pub fn is_sandbox(&self) -> bool {
        !self.facebook_token_urls.is_empty()
    }

    pub fn dns(&self, timeout: Duration) -> anyhow::Result<AuthoritativeDns> {
        AuthoritativeDns::new(&self.dns_servers, timeout)
    }

    pub fn table(&self) -> String {
        resources::table_name(&self.ctx)
    }

    pub fn function(&self) -> String {
        resources::function_name(&self.ctx)
    }

    pub fn table_arn(&self, region: &str) -> String {
        resources::table_arn(&self.ctx, region)
    }

    /// The stack's Route 53 health check.
    pub async fn health_check_id(&self) -> anyhow::Result<String> {
        health_check::find(&self.ctx)
            .await?
            .into_iter()
            .next()
            .map(|h| h.id().to_owned())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "stack {} has no Route 53 health check: run `wildrydes up`",
                    self.config.stack
                )
            })
    }

    /// The stack's identity pool in each region, primary first.
    pub async fn pool_ids(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut pools = Vec::new();
        for region in self.config.regions() {
            let pool = identity_pool::find(&self.ctx, region)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "stack {} has no identity pool in {region}: run `wildrydes up`",
                        self.config.stack
                    )
                })?;
            pools.push((region.to_owned(), pool.identity_pool_id().to_owned()));
        }
        Ok(pools)
    }

    /// A drill user: a developer-authenticated identity (the same calls on
    /// both targets), and its temporary credentials. Returns (credentials,
    /// identity id).
    pub async fn drill_user(
        &self,
        pool: &str,
        user: &str,
    ) -> anyhow::Result<(Credentials, String)> {
        let cognito = &self.clients().region(&self.config.primary_region).cognito;
        let token = cognito
            .get_open_id_token_for_developer_identity()
            .identity_pool_id(pool)
            .logins(resources::developer_provider(&self.ctx), user)
            .token_duration(3600)
            .send()
            .await
            .map_err(|e| aws_error("GetOpenIdTokenForDeveloperIdentity", e))?;
        let id = token.identity_id().unwrap_or_default().to_owned();
        let creds = cognito
            .get_credentials_for_identity()
            .identity_id(&id)
            .logins(
                "cognito-identity.amazonaws.com",
                token.token().unwrap_or_default(),
            )
            .send()
            .await
            .map_err(|e| aws_error("GetCredentialsForIdentity (drill user)", e))?
            .credentials
            .ok_or_else(|| anyhow::anyhow!("Cognito returned no credentials for the drill user"))?;
        Ok((
            Credentials::new(
                creds.access_key_id().unwrap_or_default(),
                creds.secret_key().unwrap_or_default(),
                creds.session_token().map(str::to_owned),
                None,
                "cognito-drill-user",
            ),
            id,
        ))
    }
}

/// The hosted zone's own name servers (AWS): the authoritative answer,
/// never a resolver's cached one.
async fn zone_name_servers(ctx: &Ctx) -> anyhow::Result<Vec<SocketAddr>> {
    let domain = &ctx.config.domain;
    let zone = resources::zone::find(ctx)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no public hosted zone {domain}: run `wildrydes up`"))?;
    let detail = ctx
        .clients
        .route53
        .get_hosted_zone()
        .id(&zone.id)
        .send()
        .await
        .map_err(|e| aws_error("GetHostedZone", e))?;
    let mut out = Vec::new();
    for ns in detail
        .delegation_set()
        .map(|d| d.name_servers())
        .unwrap_or_default()
    {
        if let Ok(addrs) = tokio::net::lookup_host((ns.trim_end_matches('.'), 53)).await {
            out.extend(addrs.filter(|a| a.is_ipv4()));
        }
    }
    anyhow::ensure!(
        !out.is_empty(),
        "cannot resolve the name servers of hosted zone {domain}"
    );
    Ok(out)
}
