//! The AWS clients of one stack: one `SdkConfig` per region (plus one for
//! the global services, signed for us-east-1), built either from the
//! standard credential chain (`aws`) or from the embedded sandbox's
//! endpoints and generated credentials (`sandbox`). This is the only place
//! that knows which target it talks to; everything downstream takes
//! [`Clients`].
//!
//! Every client carries an interceptor that counts calls by operation, so a
//! command can say (and a test can check) exactly what it read and wrote.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use wildrydes_sandbox::launcher::Sandbox;

use crate::config::Config;

/// Region the global services (IAM, Route 53, CloudFront) are signed for.
pub const GLOBAL_REGION: &str = "us-east-1";

/// Calls made, by `Service:Operation`.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<BTreeMap<String, u32>>,
}

/// Operation-name prefixes of calls that only read.
const READ_PREFIXES: &[&str] = &["Get", "List", "Describe", "Head"];

impl CallLog {
    fn record(&self, service: &str, operation: &str) {
        *self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(format!("{service}:{operation}"))
            .or_default() += 1;
    }

    /// Every call so far.
    pub fn all(&self) -> BTreeMap<String, u32> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The calls that change something (anything not Get/List/Describe/Head).
    pub fn writes(&self) -> BTreeMap<String, u32> {
        self.all()
            .into_iter()
            .filter(|(k, _)| {
                let op = k.split_once(':').map(|(_, o)| o).unwrap_or(k);
                !READ_PREFIXES.iter().any(|p| op.starts_with(p))
            })
            .collect()
    }
}

#[derive(Debug)]
struct Counting(Arc<CallLog>);

impl Intercept for Counting {
    fn name(&self) -> &'static str {
        "wildrydes-call-log"
    }

    // Once per operation (retries are attempts, not calls); the
    // operation's metadata is in the bag by the time it is serialised.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.0.record(m.service(), m.name());
        }
        Ok(())
    }
}

/// The regional services of one region.
#[derive(Clone, Debug)]
pub struct RegionClients {
    pub region: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub acm: aws_sdk_acm::Client,
    pub cognito: aws_sdk_cognitoidentity::Client,
    pub s3: aws_sdk_s3::Client,
}

/// Every client a command needs, primary region first.
#[derive(Clone, Debug)]
pub struct Clients {
    pub regions: Vec<RegionClients>,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub route53: aws_sdk_route53::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub calls: Arc<CallLog>,
}

impl Clients {
    /// The clients of `region`.
    pub fn region(&self, region: &str) -> &RegionClients {
        self.regions
            .iter()
            .find(|r| r.region == region)
            .expect("clients exist for every configured region")
    }
}

/// Where the SDK configs point.
enum Endpoints {
    /// The standard chain and AWS's own endpoints.
    Aws,
    /// A running sandbox: its endpoint per region, the global one, its key.
    Sandbox {
        regions: BTreeMap<String, String>,
        global: String,
        credentials: Credentials,
    },
}

macro_rules! client {
    ($krate:ident, $sdk:expr, $log:expr) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($sdk)
                .interceptor(Counting($log.clone()))
                .build(),
        )
    };
}

impl Clients {
    /// Clients for real AWS, credentials from the standard chain; each call
    /// (retries included) bounded by `timeout` when given.
    pub async fn aws(config: &Config, timeout: Option<Duration>) -> Clients {
        Self::build(config, &Endpoints::Aws, timeout).await
    }

    /// Clients for a running sandbox.
    pub async fn sandbox(
        config: &Config,
        sandbox: &Sandbox,
        timeout: Option<Duration>,
    ) -> anyhow::Result<Clients> {
        let secrets = wildrydes_sandbox::credentials::SandboxSecrets::load(
            &sandbox.layout.credentials_file(),
        )?;
        let topology = &sandbox.state.topology;
        let mut regions = BTreeMap::new();
        for region in config.regions() {
            let endpoint = topology.region(region).ok_or_else(|| {
                anyhow::anyhow!(
                    "the running sandbox has no region {region}; stop it (`wildrydes sandbox stop`) so the next command starts one with the configured regions"
                )
            })?;
            regions.insert(region.to_owned(), endpoint.url());
        }
        let endpoints = Endpoints::Sandbox {
            regions,
            global: topology.global.url(),
            credentials: Credentials::new(
                &secrets.access_key_id,
                &secrets.secret_access_key,
                None,
                None,
                "wildrydes-sandbox",
            ),
        };
        Ok(Self::build(config, &endpoints, timeout).await)
    }

    async fn sdk_config(
        endpoints: &Endpoints,
        region: &str,
        endpoint: Option<&str>,
        timeout: Option<Duration>,
    ) -> SdkConfig {
        let timeouts = match timeout {
            Some(t) => TimeoutConfig::builder()
                .operation_timeout(t)
                .connect_timeout(t)
                .build(),
            None => TimeoutConfig::builder().build(),
        };
        match endpoints {
            Endpoints::Aws => {
                aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(region.to_owned()))
                    .timeout_config(timeouts)
                    .load()
                    .await
            }
            Endpoints::Sandbox { credentials, .. } => SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region.to_owned()))
                .credentials_provider(SharedCredentialsProvider::new(credentials.clone()))
                .endpoint_url(endpoint.unwrap_or_default())
                .retry_config(aws_config::retry::RetryConfig::standard())
                .timeout_config(timeouts)
                .build(),
        }
    }

    async fn build(config: &Config, endpoints: &Endpoints, timeout: Option<Duration>) -> Clients {
        let log = Arc::new(CallLog::default());
        let (global_endpoint, sandbox) = match endpoints {
            Endpoints::Aws => (None, false),
            Endpoints::Sandbox { global, .. } => (Some(global.as_str()), true),
        };
        let mut regions = Vec::new();
        for region in config.regions() {
            let endpoint = match endpoints {
                Endpoints::Aws => None,
                Endpoints::Sandbox { regions, .. } => regions.get(region).map(String::as_str),
            };
            let sdk = Self::sdk_config(endpoints, region, endpoint, timeout).await;
            // An endpoint override (the sandbox, or AWS_ENDPOINT_URL aimed
            // at another stand-in) serves buckets by path: there are no
            // per-bucket host names on loopback.
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(sandbox || sdk.endpoint_url().is_some())
                    .interceptor(Counting(log.clone()))
                    .build(),
            );
            regions.push(RegionClients {
                region: region.to_owned(),
                dynamodb: client!(aws_sdk_dynamodb, &sdk, log),
                lambda: client!(aws_sdk_lambda, &sdk, log),
                apigateway: client!(aws_sdk_apigateway, &sdk, log),
                acm: client!(aws_sdk_acm, &sdk, log),
                cognito: client!(aws_sdk_cognitoidentity, &sdk, log),
                s3,
            });
        }
        let global = Self::sdk_config(endpoints, GLOBAL_REGION, global_endpoint, timeout).await;
        // STS answers in the primary region (regional endpoints, as AWS advises).
        let sts_endpoint = match endpoints {
            Endpoints::Aws => None,
            Endpoints::Sandbox { global, .. } => Some(global.as_str()),
        };
        let sts = Self::sdk_config(endpoints, &config.primary_region, sts_endpoint, timeout).await;
        Clients {
            regions,
            iam: client!(aws_sdk_iam, &global, log),
            sts: client!(aws_sdk_sts, &sts, log),
            route53: client!(aws_sdk_route53, &global, log),
            cloudfront: client!(aws_sdk_cloudfront, &global, log),
            calls: log,
        }
    }
}
