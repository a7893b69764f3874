//! A real sandbox for tests: started through the real `wildrydes` binary on
//! an ephemeral port in a temporary directory, stopped on drop, reached
//! with the official AWS SDK clients.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use wildrydes_sandbox::launcher::Sandbox;

pub const PRIMARY: &str = "eu-west-1";
pub const SECONDARY: &str = "ap-southeast-1";

pub struct TestSandbox {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub sandbox: Sandbox,
}

/// Runs the real binary in `cwd` with `args`.
pub fn wildrydes(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wildrydes"))
        .args(args)
        .current_dir(cwd)
        .env_remove("WILDRYDES_CONFIG")
        .env_remove("WILDRYDES_TARGET")
        .env_remove("WILDRYDES_SANDBOX_DIR")
        .output()
        .expect("run wildrydes")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl TestSandbox {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join(".wildrydes/sandbox");
        let out = wildrydes(dir.path(), &["sandbox", "start", "--port", "0"]);
        assert!(out.status.success(), "sandbox start failed: {}", text(&out));
        let sandbox = Sandbox::open(&root)
            .expect("state")
            .expect("a started sandbox has state");
        TestSandbox { dir, root, sandbox }
    }

    /// Runs the binary against this sandbox.
    pub fn cli(&self, args: &[&str]) -> Output {
        wildrydes(self.dir.path(), args)
    }

    /// Re-reads state (after a revive or restart).
    pub fn reload(&mut self) {
        self.sandbox = Sandbox::open(&self.root).unwrap().unwrap();
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::new(
            &self.sandbox.secrets.access_key_id,
            &self.sandbox.secrets.secret_access_key,
            None,
            None,
            "test",
        )
    }

    /// SDK config for a region's endpoint, signed for `signing_region`.
    pub fn config_with(
        &self,
        process: &str,
        signing_region: &str,
        creds: Credentials,
    ) -> SdkConfig {
        let endpoint = self
            .sandbox
            .state
            .topology
            .endpoint(process)
            .expect("known process");
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(signing_region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .endpoint_url(endpoint.url())
            .build()
    }

    pub fn region_config(&self, region: &str) -> SdkConfig {
        self.config_with(region, region, self.credentials())
    }

    pub fn dynamodb(&self, region: &str) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.region_config(region))
    }

    pub fn streams(&self, region: &str) -> aws_sdk_dynamodbstreams::Client {
        aws_sdk_dynamodbstreams::Client::new(&self.region_config(region))
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config_with("global", "us-east-1", self.credentials()))
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config_with("global", PRIMARY, self.credentials()))
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for e in self.sandbox.state.topology.endpoints() {
                let log = self.sandbox.layout.log_file(&e.name);
                eprintln!(
                    "--- {} ---\n{}",
                    log.display(),
                    wildrydes_sandbox::launcher::tail(&log, 30)
                );
            }
        }
        let _ = wildrydes_sandbox::launcher::stop(&self.root);
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ticket Lambda's `bootstrap`, built for this test run.
pub fn ticket_bootstrap() -> PathBuf {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_wildrydes"))
        .parent()
        .unwrap()
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "wildrydes-tickets",
            "--bin",
            "bootstrap",
        ])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building the ticket Lambda failed");
    bin_dir.join("bootstrap")
}

/// A Lambda zip holding `bootstrap` (mode 0755).
pub fn zip_bootstrap(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options).unwrap();
    zip.write_all(bytes).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

impl TestSandbox {
    pub fn lambda(&self, region: &str) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.region_config(region))
    }

    /// Creates an IAM role Lambda can assume; returns its ARN.
    pub async fn lambda_role(&self, name: &str) -> String {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        self.iam()
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust)
            .send()
            .await
            .expect("create role")
            .role
            .unwrap()
            .arn
    }
}

impl TestSandbox {
    pub fn apigateway(&self, region: &str) -> aws_sdk_apigateway::Client {
        aws_sdk_apigateway::Client::new(&self.region_config(region))
    }

    pub fn acm(&self, region: &str) -> aws_sdk_acm::Client {
        aws_sdk_acm::Client::new(&self.region_config(region))
    }
}

/// Signs a request for `execute-api` with `creds` and sends it.
pub async fn signed_call(
    url: &str,
    method: &str,
    host_header: Option<&str>,
    region: &str,
    creds: &Credentials,
    body: Option<&str>,
) -> reqwest::Response {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let parsed = reqwest::Url::parse(url).unwrap();
    let host = host_header
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap()));
    let identity = creds.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut headers = vec![("host".to_owned(), host.clone())];
    if body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let signable = SignableRequest::new(
        method,
        url.to_owned(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body.unwrap_or("").as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    let client = reqwest::Client::new();
    let mut builder = client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (k, v) in req.headers() {
        builder = builder.header(k.as_str(), v.to_str().unwrap());
    }
    builder
        .body(body.unwrap_or("").to_owned())
        .send()
        .await
        .unwrap()
}

/// A table keyed like the tickets table: `owner` (S) + `id` (S).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, stream: bool) {
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("owner")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("owner")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Range)
                .build()
                .unwrap(),
        );
    if stream {
        req = req.stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        );
    }
    req.send().await.expect("create table");
}

impl TestSandbox {
    /// S3 with path-style addressing, as the CLI uses it on the sandbox.
    pub fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.region_config(region))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}
