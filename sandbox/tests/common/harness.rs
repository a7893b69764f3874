//! A real sandbox for tests: its processes started by the launcher on
//! ephemeral ports in a temporary directory, each running the serve
//! command of the test crate that includes this file
//! (`super::serve_command()`: `wildrydes-sandbox serve` for the sandbox's
//! own tests, `wildrydes sandbox serve` for the CLI's), stopped on drop,
//! reached with the official AWS SDK clients. Shared by both crates'
//! tests: the CLI's `tests/common` includes it by path.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use serde_json::{Value, json};
use wildrydes_sandbox::launcher::{self, Sandbox, StartOptions, Started};

#[path = "tables.rs"]
mod tables;
pub use tables::*;

pub const PRIMARY: &str = "eu-west-1";
pub const SECONDARY: &str = "ap-southeast-1";

/// How long a started or revived process may take to answer.
const READY: Duration = Duration::from_secs(15);

pub struct TestSandbox {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub sandbox: Sandbox,
}

/// Both regions on ephemeral ports, run by this crate's serve command.
fn options(root: &Path) -> StartOptions {
    StartOptions {
        root: root.to_path_buf(),
        regions: vec![PRIMARY.to_owned(), SECONDARY.to_owned()],
        port: 0,
        serve_command: super::serve_command(),
        ready_timeout: READY,
    }
}

impl TestSandbox {
    /// Starts both regions and the global process through the launcher,
    /// each process running [`super::serve_command`], on ephemeral ports.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join(".wildrydes/sandbox");
        let opts = options(&root);
        // Callers are tokio tests: the launcher runs on a runtime of its own.
        let (sandbox, _) = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(launcher::start(&opts))
        })
        .join()
        .expect("the launcher thread")
        .unwrap_or_else(|e| panic!("sandbox start failed: {e}"));
        TestSandbox { dir, root, sandbox }
    }

    /// Runs the launcher's `start` again on this sandbox's directory.
    pub async fn start_again(&self) -> (Sandbox, Started) {
        launcher::start(&options(&self.root))
            .await
            .unwrap_or_else(|e| panic!("sandbox start failed: {e}"))
    }

    /// Freezes a process (SIGSTOP), as `wildrydes sandbox freeze` does.
    pub fn freeze(&self, process: &str) {
        self.sandbox.freeze(process).expect("freeze");
    }

    /// Resumes a frozen process (SIGCONT).
    pub fn thaw(&self, process: &str) {
        self.sandbox.thaw(process).expect("thaw");
    }

    /// Kills a process (SIGKILL), as a crash would.
    pub fn kill(&self, process: &str) {
        self.sandbox.kill(process).expect("kill");
    }

    /// Starts a killed process again on its address, data intact.
    pub async fn revive(&mut self, process: &str) {
        self.sandbox
            .revive_with(process, &super::serve_command(), READY)
            .await
            .unwrap_or_else(|e| panic!("revive {process}: {e}"));
    }

    /// Starts a killed process again with `vars` added to its environment
    /// (`env K=V … <serve command>`), e.g. `WILDRYDES_SANDBOX_FAULT` to arm
    /// a crash point; the launcher passes the test's own environment no
    /// such variable, so a later [`revive`](Self::revive) is unarmed.
    pub async fn revive_with_env(&mut self, process: &str, vars: &[(&str, &str)]) {
        let mut command: Vec<std::ffi::OsString> = vec!["env".into()];
        command.extend(vars.iter().map(|(k, v)| format!("{k}={v}").into()));
        command.extend(super::serve_command());
        self.sandbox
            .revive_with(process, &command, READY)
            .await
            .unwrap_or_else(|e| panic!("revive {process} with {vars:?}: {e}"));
    }

    /// Starts a killed process again armed to kill itself at crash point
    /// `fault` (`<point>[:<n>]`, see `WILDRYDES_SANDBOX_FAULT`), and returns
    /// once it has, within `within`, as its log says. It may die before it
    /// first answers (work waiting for it can reach the point at once);
    /// either way it is left dead, for [`revive`](Self::revive).
    pub async fn revive_until_fault(&mut self, process: &str, fault: &str, within: Duration) {
        let mut command: Vec<std::ffi::OsString> = vec![
            "env".into(),
            format!("WILDRYDES_SANDBOX_FAULT={fault}").into(),
        ];
        command.extend(super::serve_command());
        // The log is appended to across lives: only this one's lines count.
        let log_file = self.sandbox.layout.log_file(process);
        let before = std::fs::metadata(&log_file).map_or(0, |m| m.len()) as usize;
        match self.sandbox.revive_with(process, &command, READY).await {
            Ok(()) | Err(launcher::LaunchError::Exited { .. }) => {}
            Err(e) => panic!("revive {process} armed with {fault}: {e}"),
        }
        eventually(&format!("{process} to reach {fault}"), within, || async {
            let statuses = self.sandbox.status().await;
            let status = statuses.iter().find(|s| s.name == process)?;
            (status.state == "dead").then_some(())
        })
        .await;
        let (point, nth) = fault.split_once(':').unwrap_or((fault, "1"));
        let log = std::fs::read(&log_file).unwrap_or_default();
        let log = String::from_utf8_lossy(log.get(before..).unwrap_or_default());
        assert!(
            log.contains(&format!("fault {point} #{nth}: killing this process")),
            "{process} died, but not at {fault}:\n{log}"
        );
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

    pub fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.config_with("global", "us-east-1", self.credentials()))
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
                eprintln!("--- {} ---\n{}", log.display(), launcher::tail(&log, 30));
            }
        }
        let _ = launcher::stop(&self.root);
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
    let bin_dir = Path::new(&super::serve_command()[0])
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
    try_signed_call(url, method, host_header, region, creds, body)
        .await
        .expect("send")
}

/// [`signed_call`] that reports a failed send (a region down) instead of
/// panicking; it gives up after 10 s.
pub async fn try_signed_call(
    url: &str,
    method: &str,
    host_header: Option<&str>,
    region: &str,
    creds: &Credentials,
    body: Option<&str>,
) -> reqwest::Result<reqwest::Response> {
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
        .timeout(Duration::from_secs(10))
        .body(body.unwrap_or("").to_owned())
        .send()
        .await
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

/// The ticket API deployed in one region.
pub struct Deployed {
    pub api: String,
    /// The stage URL, `…/restapis/<api>/prod/_user_request_`.
    pub base: String,
    pub function: String,
}

/// The ticket API as `up` will make it: table, role, function, REST API
/// with AWS_IAM ticket routes and a public /health, permission, stage.
pub async fn deploy(sb: &TestSandbox, bootstrap: &Path) -> Deployed {
    let ddb = sb.dynamodb(PRIMARY);
    create_table(&ddb, "tickets", false).await;
    let role = sb.lambda_role("tickets-role").await;
    // What `up` grants the ticket Lambda: its table, these four actions.
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem"],
        "Resource": format!("arn:aws:dynamodb:{PRIMARY}:000000000000:table/tickets"),
    }]});
    sb.iam()
        .put_role_policy()
        .role_name("tickets-role")
        .policy_name("tickets")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("put the role's policy");
    let lambda = sb.lambda(PRIMARY);
    let code = zip_bootstrap(&std::fs::read(bootstrap).unwrap());
    let function_arn = lambda
        .create_function()
        .function_name("tickets")
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .timeout(10)
        .environment(
            Environment::builder()
                .variables("TABLE_NAME", "tickets")
                .build(),
        )
        .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
        .send()
        .await
        .unwrap()
        .function_arn
        .unwrap();
    lambda
        .wait_until_function_active_v2()
        .function_name("tickets")
        .wait(Duration::from_secs(20))
        .await
        .unwrap();

    let apigw = sb.apigateway(PRIMARY);
    let api = apigw
        .create_rest_api()
        .name("wildrydes")
        .send()
        .await
        .unwrap();
    let api_id = api.id.unwrap();
    let root = api.root_resource_id.unwrap();
    let uri = format!(
        "arn:aws:apigateway:{PRIMARY}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    );
    let tickets = apigw
        .create_resource()
        .rest_api_id(&api_id)
        .parent_id(&root)
        .path_part("tickets")
        .send()
        .await
        .unwrap()
        .id
        .unwrap();
    let ticket = apigw
        .create_resource()
        .rest_api_id(&api_id)
        .parent_id(&tickets)
        .path_part("{id}")
        .send()
        .await
        .unwrap()
        .id
        .unwrap();
    let health = apigw
        .create_resource()
        .rest_api_id(&api_id)
        .parent_id(&root)
        .path_part("health")
        .send()
        .await
        .unwrap()
        .id
        .unwrap();
    for (res, method, auth) in [
        (&tickets, "GET", "AWS_IAM"),
        (&tickets, "POST", "AWS_IAM"),
        (&ticket, "GET", "AWS_IAM"),
        (&health, "GET", "NONE"),
    ] {
        apigw
            .put_method()
            .rest_api_id(&api_id)
            .resource_id(res)
            .http_method(method)
            .authorization_type(auth)
            .send()
            .await
            .unwrap();
        apigw
            .put_integration()
            .rest_api_id(&api_id)
            .resource_id(res)
            .http_method(method)
            .r#type(aws_sdk_apigateway::types::IntegrationType::AwsProxy)
            .integration_http_method("POST")
            .uri(&uri)
            .send()
            .await
            .unwrap();
    }
    // CORS preflight through a MOCK integration.
    apigw
        .put_method()
        .rest_api_id(&api_id)
        .resource_id(&tickets)
        .http_method("OPTIONS")
        .authorization_type("NONE")
        .send()
        .await
        .unwrap();
    apigw
        .put_integration()
        .rest_api_id(&api_id)
        .resource_id(&tickets)
        .http_method("OPTIONS")
        .r#type(aws_sdk_apigateway::types::IntegrationType::Mock)
        .request_templates("application/json", r#"{"statusCode": 200}"#)
        .send()
        .await
        .unwrap();
    apigw
        .put_method_response()
        .rest_api_id(&api_id)
        .resource_id(&tickets)
        .http_method("OPTIONS")
        .status_code("200")
        .response_parameters("method.response.header.Access-Control-Allow-Origin", false)
        .send()
        .await
        .unwrap();
    apigw
        .put_integration_response()
        .rest_api_id(&api_id)
        .resource_id(&tickets)
        .http_method("OPTIONS")
        .status_code("200")
        .response_parameters("method.response.header.Access-Control-Allow-Origin", "'*'")
        .send()
        .await
        .unwrap();
    lambda
        .add_permission()
        .function_name("tickets")
        .statement_id("apigateway")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(format!(
            "arn:aws:execute-api:{PRIMARY}:000000000000:{api_id}/*/*/*"
        ))
        .send()
        .await
        .unwrap();
    apigw
        .create_deployment()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    let endpoint = sb.sandbox.state.topology.region(PRIMARY).unwrap().url();
    Deployed {
        base: format!("{endpoint}/restapis/{api_id}/prod/_user_request_"),
        api: api_id,
        function: "tickets".into(),
    }
}

pub const APP_ID: &str = "1234567890";

/// An identity pool trusting the Facebook stand-in and a developer
/// provider, whose authenticated role may invoke `api`.
pub async fn identity_pool(sb: &TestSandbox, api: &str) -> String {
    let cognito = aws_sdk_cognitoidentity::Client::new(&sb.region_config(PRIMARY));
    let existing = cognito
        .list_identity_pools()
        .max_results(10)
        .send()
        .await
        .unwrap();
    if let Some(p) = existing.identity_pools().first() {
        return p.identity_pool_id().unwrap().to_owned();
    }
    let pool = cognito
        .create_identity_pool()
        .identity_pool_name("wildrydes")
        .allow_unauthenticated_identities(false)
        .supported_login_providers("graph.facebook.com", APP_ID)
        .developer_provider_name("wildrydes.drills")
        .send()
        .await
        .unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#;
    let iam = sb.iam();
    let role = iam
        .create_role()
        .role_name("authenticated")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": format!("arn:aws:execute-api:*:000000000000:{api}/*")}]});
    iam.put_role_policy()
        .role_name("authenticated")
        .policy_name("invoke")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    cognito
        .set_identity_pool_roles()
        .identity_pool_id(pool.identity_pool_id())
        .roles("authenticated", role.arn())
        .send()
        .await
        .unwrap();
    pool.identity_pool_id().to_owned()
}

pub async fn facebook_token(sb: &TestSandbox, user: &str, expires_in: u64) -> String {
    facebook_token_in(sb, PRIMARY, user, expires_in).await
}

/// A token from `region`'s Facebook stand-in.
pub async fn facebook_token_in(
    sb: &TestSandbox,
    region: &str,
    user: &str,
    expires_in: u64,
) -> String {
    let endpoint = sb.sandbox.state.topology.region(region).unwrap().url();
    let resp = reqwest::Client::new()
        .post(format!("{endpoint}/sandbox/facebook/token"))
        .json(&json!({"appId": APP_ID, "userId": user, "name": "Test Rider", "expiresIn": expires_in}))
        .send()
        .await
        .unwrap();
    resp.json::<Value>().await.unwrap()["accessToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Logs a Facebook user in through Cognito: (credentials, identity id).
pub async fn facebook_user(
    sb: &TestSandbox,
    api: &str,
    user: &str,
) -> (aws_credential_types::Credentials, String) {
    let pool = identity_pool(sb, api).await;
    facebook_login(sb, &pool, user).await
}

/// Logs a Facebook user (the stand-in's token) into identity pool `pool`:
/// (credentials, identity id).
pub async fn facebook_login(
    sb: &TestSandbox,
    pool: &str,
    user: &str,
) -> (aws_credential_types::Credentials, String) {
    facebook_login_in(sb, PRIMARY, pool, user).await
}

/// Logs a Facebook user (`region`'s stand-in) into `region`'s pool `pool`.
pub async fn facebook_login_in(
    sb: &TestSandbox,
    region: &str,
    pool: &str,
    user: &str,
) -> (aws_credential_types::Credentials, String) {
    let token = facebook_token_in(sb, region, user, 3600).await;
    let cognito = aws_sdk_cognitoidentity::Client::new(&sb.region_config(region));
    let id = cognito
        .get_id()
        .identity_pool_id(pool)
        .logins("graph.facebook.com", &token)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let again = cognito
        .get_id()
        .identity_pool_id(pool)
        .logins("graph.facebook.com", &token)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    assert_eq!(id, again, "one Facebook user, one identity");
    let creds = cognito
        .get_credentials_for_identity()
        .identity_id(&id)
        .logins("graph.facebook.com", &token)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    (
        aws_credential_types::Credentials::new(
            creds.access_key_id().unwrap(),
            creds.secret_key().unwrap(),
            creds.session_token().map(str::to_owned),
            None,
            "cognito",
        ),
        id,
    )
}

/// A target whose `/health` answers 200 or 503 as the switch says.
pub async fn switchable_target(
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::net::SocketAddr {
    // 127.0.0.2 is on loopback but is no sandbox process's address.
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let healthy = healthy.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 1024];
                let _ = sock.read(&mut buf).await;
                let line = if healthy.load(std::sync::atomic::Ordering::SeqCst) {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                let _ = sock
                    .write_all(
                        format!(
                            "HTTP/1.1 {line}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    addr
}

/// A failover alias record for `api.wildrydes.test`.
pub fn failover_alias(
    id: &str,
    role: aws_sdk_route53::types::ResourceRecordSetFailover,
    target: &str,
    health_check: Option<&str>,
) -> aws_sdk_route53::types::ResourceRecordSet {
    use aws_sdk_route53::types::{AliasTarget, ResourceRecordSet, RrType};
    ResourceRecordSet::builder()
        .name("api.wildrydes.test")
        .r#type(RrType::A)
        .set_identifier(id)
        .failover(role)
        .set_health_check_id(health_check.map(str::to_owned))
        .alias_target(
            AliasTarget::builder()
                .hosted_zone_id("ZLY8HYME6SFDD")
                .dns_name(target)
                .evaluate_target_health(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// An HTTP health check on `target`'s `/health`, every second.
pub async fn target_check(
    r53: &aws_sdk_route53::Client,
    caller_reference: &str,
    target: std::net::SocketAddr,
    failure_threshold: i32,
) -> aws_sdk_route53::types::HealthCheck {
    use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};
    r53.create_health_check()
        .caller_reference(caller_reference)
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .ip_address(target.ip().to_string())
                .port(target.port() as i32)
                .resource_path("/health")
                .request_interval(1)
                .failure_threshold(failure_threshold)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .health_check
        .unwrap()
}

/// Applies one change to one record set in `zone`.
pub async fn change_record(
    sb: &TestSandbox,
    zone: &str,
    action: aws_sdk_route53::types::ChangeAction,
    set: aws_sdk_route53::types::ResourceRecordSet,
) {
    use aws_sdk_route53::types::{Change, ChangeBatch};
    sb.route53()
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(action)
                        .resource_record_set(set)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// The hosted zone named `domain`, created when missing; its id.
pub async fn hosted_zone(sb: &TestSandbox, domain: &str) -> String {
    let r53 = sb.route53();
    let zones = r53
        .list_hosted_zones_by_name()
        .dns_name(domain)
        .send()
        .await
        .unwrap();
    let want = format!("{}.", domain.trim_end_matches('.'));
    if let Some(z) = zones.hosted_zones().iter().find(|z| z.name() == want) {
        return z.id().to_owned();
    }
    r53.create_hosted_zone()
        .name(domain)
        .caller_reference(format!("zone-{domain}"))
        .send()
        .await
        .unwrap()
        .hosted_zone
        .unwrap()
        .id
}

/// Requests a certificate for `domain`, creates its DNS validation record
/// in the zone `zone_domain`, and waits until ACM says ISSUED.
pub async fn issued_certificate(
    sb: &TestSandbox,
    region: &str,
    domain: &str,
    zone_domain: &str,
) -> String {
    use aws_sdk_route53::types::{ChangeAction, ResourceRecord, ResourceRecordSet, RrType};
    let acm = sb.acm(region);
    let arn = acm
        .request_certificate()
        .domain_name(domain)
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .send()
        .await
        .unwrap()
        .certificate_arn
        .unwrap();
    let cert = acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap()
        .certificate
        .unwrap();
    assert_eq!(
        cert.status().map(|s| s.as_str()),
        Some("PENDING_VALIDATION")
    );
    let record = cert.domain_validation_options()[0]
        .resource_record()
        .unwrap()
        .clone();
    let zone = hosted_zone(sb, zone_domain).await;
    change_record(
        sb,
        &zone,
        ChangeAction::Upsert,
        ResourceRecordSet::builder()
            .name(record.name())
            .r#type(RrType::Cname)
            .ttl(300)
            .resource_records(
                ResourceRecord::builder()
                    .value(record.value())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    )
    .await;
    eventually("the certificate is issued", Duration::from_secs(10), || {
        let acm = acm.clone();
        let arn = arn.clone();
        async move {
            let c = acm
                .describe_certificate()
                .certificate_arn(&arn)
                .send()
                .await
                .ok()?
                .certificate?;
            (c.status().map(|s| s.as_str()) == Some("ISSUED")).then_some(())
        }
    })
    .await;
    arn
}
