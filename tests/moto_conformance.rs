//! Our AWS requests checked by an AWS stand-in no one here wrote: `up` and
//! `down` with `--target aws`, their endpoint aimed at moto's server
//! (`AWS_ENDPOINT_URL`), so the same calls the AWS path makes are parsed
//! and answered by moto. Steps moto does not implement fail there; the test
//! prints which and why, and requires every other step to succeed.
//!
//! Needs moto's server: `pip install 'moto[server]'` (`.ci/run` installs it).

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{text, ticket_bootstrap, wildrydes_with};
use serde_json::Value;

/// What moto cannot do, found by running this test; printed with the
/// results so the gaps stay visible.
const MOTO_GAPS: &[(&str, &str)] = &[
    (
        "replica",
        "moto accepts UpdateTable ReplicaUpdates but keeps no replica (DescribeTable lists none), so every run creates it again",
    ),
    (
        "certificate/*",
        "moto never validates an ACM certificate through DNS, so it stays PENDING_VALIDATION (the step times out)",
    ),
    (
        "domains/*, records, health check",
        "they need an ISSUED certificate",
    ),
    (
        "auth-role",
        "moto does not implement Cognito GetIdentityPoolRoles",
    ),
];

/// Steps moto answers fully; each must succeed.
const MOTO_IMPLEMENTS: &[&str] = &[
    "table",
    "lambda-role",
    "bucket",
    "distribution",
    "identity-pool/eu-west-1",
    "identity-pool/ap-southeast-1",
    "site",
    "function/eu-west-1",
    "function/ap-southeast-1",
    "api/eu-west-1",
    "api/ap-southeast-1",
];

struct Moto(Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let moto = Moto(child, port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto's server did not start: install it with `pip install 'moto[server]'`"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    moto
}

fn run(dir: &std::path::Path, moto: &Moto, args: &[&str]) -> Value {
    let endpoint = format!("http://127.0.0.1:{}", moto.1);
    let bootstrap = ticket_bootstrap();
    let out = wildrydes_with(
        dir,
        args,
        &[
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("WILDRYDES_DOMAIN", "wildrydes-conformance.com"),
            ("WILDRYDES_FACEBOOK_APP_ID", "1234567890"),
            ("WILDRYDES_LAMBDA_BINARY", bootstrap.to_str().unwrap()),
        ],
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", text(&out)))
}

/// Prints each step's outcome; returns step → (action or None, why not).
fn report(title: &str, doc: &Value) -> BTreeMap<String, (Option<String>, String)> {
    println!("{title}:");
    let mut out = BTreeMap::new();
    for s in doc["steps"].as_array().unwrap() {
        let step = s["step"].as_str().unwrap().to_owned();
        let action = s["action"].as_str().map(str::to_owned);
        let why = match (&action, s["error"].as_str(), s["blockedBy"].as_str()) {
            (Some(a), _, _) => a.clone(),
            (_, Some(e), _) => format!(
                "skipped: moto fails it: {}",
                e.chars().take(160).collect::<String>()
            ),
            (_, _, Some(dep)) => format!("skipped: needs {dep}"),
            _ => "?".into(),
        };
        println!("  {step:<26} {why}");
        out.insert(step, (action, why));
    }
    out
}

#[test]
fn up_and_down_speak_aws_as_moto_understands_it() {
    let moto = start_moto();
    let dir = tempfile::tempdir().unwrap();
    // On AWS the zone must already exist (and be delegated).
    let endpoint = format!("http://127.0.0.1:{}", moto.1);
    let created = Command::new("python3")
        .args([
            "-c",
            "import sys, boto3; boto3.client('route53', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').create_hosted_zone(Name='wildrydes-conformance.com', CallerReference='conformance')",
            &endpoint,
        ])
        .status()
        .unwrap();
    assert!(created.success(), "creating the zone in moto failed");

    println!("known moto gaps:");
    for (step, why) in MOTO_GAPS {
        println!("  {step:<26} {why}");
    }
    let up = run(
        dir.path(),
        &moto,
        &["up", "--target", "aws", "--json", "--step-timeout", "8s"],
    );
    let steps = report("up against moto", &up);
    // On AWS the zone is the operator's: found, never created.
    assert_eq!(steps["zone"].0.as_deref(), Some("unchanged"));
    for step in MOTO_IMPLEMENTS {
        let (action, why) = &steps[*step];
        assert_eq!(action.as_deref(), Some("created"), "{step}: {why}");
    }
    let again = run(
        dir.path(),
        &moto,
        &["up", "--target", "aws", "--json", "--step-timeout", "8s"],
    );
    let steps = report("up again", &again);
    for step in MOTO_IMPLEMENTS.iter().filter(|s| **s != "site") {
        let (action, why) = &steps[*step];
        assert_eq!(action.as_deref(), Some("unchanged"), "{step}: {why}");
    }

    let down = run(
        dir.path(),
        &moto,
        &[
            "down",
            "--target",
            "aws",
            "--yes",
            "--json",
            "--step-timeout",
            "8s",
        ],
    );
    let steps = report("down against moto", &down);
    for step in [
        "table",
        "distribution",
        "lambda-role",
        "bucket",
        "identity-pool/eu-west-1",
        "identity-pool/ap-southeast-1",
        "function/eu-west-1",
        "api/eu-west-1",
    ] {
        let (action, why) = &steps[step];
        assert_eq!(action.as_deref(), Some("deleted"), "{step}: {why}");
    }
}
