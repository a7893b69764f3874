//! Connecting to the target: real AWS, or the embedded sandbox (started if
//! it is not running). What differs between the two is decided here and
//! handed on as plain values (clients, URLs, whether a hosted zone may be
//! created); the deploy, status and drill code never asks which it is.

use std::path::PathBuf;
use std::time::Duration;

use wildrydes_sandbox::edge::EdgeConfig;
use wildrydes_sandbox::launcher::{self, Sandbox, StartOptions, Started};

use crate::aws::Clients;
use crate::commands::sandbox::DEFAULT_DIR;
use crate::config::{Config, Target};

/// A connection to the target the settings name.
pub struct Session {
    pub clients: Clients,
    /// The sandbox, when that is the target.
    pub sandbox: Option<Sandbox>,
    /// Whether this command started the sandbox (else it was running).
    pub started: Option<Started>,
    /// The API's base URL for a browser: `https://api.<domain>` on AWS, the
    /// sandbox's edge proxy (which follows the sandbox DNS) otherwise.
    pub api_url: String,
    /// Where the browser logs in: Facebook itself on AWS (`None`), the
    /// sandbox's Facebook stand-in otherwise.
    pub facebook_login_url: Option<String>,
    /// Whether a missing hosted zone may be created.
    pub create_zone: bool,
    /// `http://…:<cdn port>` for sandbox distributions, `https://…` on AWS.
    pub cdn_port: Option<u16>,
}

impl Session {
    /// How to reach a region's own custom domain over HTTP: on AWS by name
    /// over HTTPS; on the sandbox the region's address with that `Host`.
    pub fn health_url(&self) -> crate::status::HealthUrl {
        match &self.sandbox {
            None => {
                Box::new(|_region: &str, domain: &str| (format!("https://{domain}/health"), None))
            }
            Some(sb) => {
                let endpoints: std::collections::BTreeMap<String, String> = sb
                    .state
                    .topology
                    .regions
                    .iter()
                    .map(|e| (e.name.clone(), e.url()))
                    .collect();
                Box::new(move |region: &str, domain: &str| {
                    let base = endpoints.get(region).cloned().unwrap_or_default();
                    (format!("{base}/health"), Some(domain.to_owned()))
                })
            }
        }
    }

    /// Where a browser calls Cognito Identity in a region: AWS's regional
    /// endpoint, or the sandbox region's own address.
    pub fn cognito_endpoint(&self) -> Box<dyn Fn(&str) -> String + Send + Sync> {
        match &self.sandbox {
            Some(sb) => {
                let urls: std::collections::BTreeMap<String, String> = sb
                    .state
                    .topology
                    .region_names()
                    .into_iter()
                    .filter_map(|r| {
                        let url = sb.state.topology.region(&r)?.url();
                        Some((r, format!("{url}/")))
                    })
                    .collect();
                Box::new(move |region| urls.get(region).cloned().unwrap_or_default())
            }
            None => Box::new(|region| format!("https://cognito-identity.{region}.amazonaws.com/")),
        }
    }

    /// The web UI's origin for a distribution domain.
    pub fn web_origin(&self) -> Box<dyn Fn(&str) -> String + Send + Sync> {
        match self.cdn_port {
            Some(port) => Box::new(move |domain| format!("http://{domain}:{port}")),
            None => Box::new(|domain| format!("https://{domain}")),
        }
    }
}

/// The sandbox directory for commands other than `sandbox` itself.
pub fn sandbox_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("WILDRYDES_SANDBOX_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    Ok(if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir()?.join(dir)
    })
}

/// How to connect.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Start the sandbox when it is the target and not running (`up`,
    /// `down`); otherwise say how to start it (`status`).
    pub start_sandbox: bool,
    /// Bound every AWS call (retries included).
    pub call_timeout: Option<Duration>,
}

impl OpenOptions {
    /// For `up` and `down`: start the sandbox if needed, no call deadline.
    pub const DEPLOY: OpenOptions = OpenOptions {
        start_sandbox: true,
        call_timeout: None,
    };
}

/// Connects to the target the settings name.
pub async fn open(config: &Config, options: OpenOptions) -> anyhow::Result<Session> {
    match config.target {
        Target::Aws => Ok(Session {
            clients: Clients::aws(config, options.call_timeout).await,
            sandbox: None,
            started: None,
            api_url: format!("https://{}", config.api_domain()),
            facebook_login_url: None,
            create_zone: false,
            cdn_port: None,
        }),
        Target::Sandbox => {
            let port = match std::env::var("WILDRYDES_SANDBOX_PORT") {
                Ok(p) => p.parse().map_err(|_| {
                    anyhow::anyhow!("WILDRYDES_SANDBOX_PORT must be a port number, not {p:?}")
                })?,
                Err(_) => 4710,
            };
            let opts = StartOptions {
                root: sandbox_dir()?,
                regions: config.regions().iter().map(|r| r.to_string()).collect(),
                port,
                serve_command: crate::commands::sandbox::serve_command()?,
                ready_timeout: Duration::from_secs(15),
            };
            let (sandbox, started) = if options.start_sandbox {
                let (sandbox, started) = launcher::start(&opts).await?;
                (sandbox, Some(started))
            } else {
                let sandbox = Sandbox::open(&opts.root)?.ok_or_else(|| {
                    anyhow::anyhow!(
                        "the sandbox is not running (no state at {}): `wildrydes up` starts it and deploys",
                        opts.root.display()
                    )
                })?;
                (sandbox, None)
            };
            let topology = &sandbox.state.topology;
            let api_url = topology.edge_url().ok_or_else(|| {
                anyhow::anyhow!(
                    "this sandbox predates the edge proxy: `wildrydes sandbox stop` and run again"
                )
            })?;
            let primary = topology.region(&config.primary_region).ok_or_else(|| {
                anyhow::anyhow!("the sandbox has no region {}", config.primary_region)
            })?;
            let facebook_login_url =
                Some(format!("{}/sandbox/facebook/dialog/oauth", primary.url()));
            let cdn_port = topology.cdn_port;
            let clients = Clients::sandbox(config, &sandbox, options.call_timeout).await?;
            Ok(Session {
                clients,
                sandbox: Some(sandbox),
                started,
                api_url,
                facebook_login_url,
                create_zone: true,
                cdn_port,
            })
        }
    }
}

/// Points the sandbox's edge proxy at the app's API name.
pub async fn point_edge(session: &Session, config: &Config) -> anyhow::Result<()> {
    if let Some(sandbox) = &session.sandbox {
        let want = EdgeConfig {
            api_name: Some(config.api_domain()),
        };
        let control = sandbox.control("global")?;
        if control.edge().await? != want {
            control.set_edge(&want).await?;
        }
    }
    Ok(())
}
