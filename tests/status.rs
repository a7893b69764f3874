//! `wildrydes status` through the real binary against a real sandbox with
//! a stack `up` deployed: healthy, then each kind of trouble an operator
//! must see (a frozen region, a throttled function, an inverted health
//! check, paused replication, a drill journal left behind, drift), the JSON
//! against its documented shape, and the text tables as snapshots.

mod common;

use std::time::{Duration, Instant};

use common::{PRIMARY, SECONDARY, TestSandbox, ticket_bootstrap};
use serde_json::Value;

fn up(sb: &TestSandbox) {
    let bootstrap = ticket_bootstrap();
    let out = sb.cli_with(
        &["up", "-q"],
        &[("WILDRYDES_LAMBDA_BINARY", bootstrap.to_str().unwrap())],
    );
    assert!(out.status.success(), "up failed: {}", common::text(&out));
}

/// `status --json`: (exit code, report, seconds it took).
fn status(sb: &TestSandbox) -> (Option<i32>, Value, f64) {
    let begun = Instant::now();
    let out = sb.cli(&["status", "--json"]);
    let took = begun.elapsed().as_secs_f64();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status printed no JSON ({e}): {}", common::text(&out)));
    (out.status.code(), doc, took)
}

fn faults(doc: &Value) -> Vec<String> {
    doc["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["kind"].as_str().unwrap(),
                f["scope"].as_str().unwrap()
            )
        })
        .collect()
}

/// The documented shape (README, "status --json"): every key, its type.
fn check_schema(doc: &Value) {
    let kinds = |v: &Value, fields: &[(&str, &str)], at: &str| {
        for (k, kind) in fields {
            let x = &v[*k];
            let ok = match *kind {
                "string" => x.is_string(),
                "number" => x.is_number(),
                "bool" => x.is_boolean(),
                "array" => x.is_array(),
                "object" => x.is_object(),
                "string?" => x.is_string() || x.is_null(),
                "number?" => x.is_number() || x.is_null(),
                "object?" => x.is_object() || x.is_null(),
                "array?" => x.is_array() || x.is_null(),
                _ => unreachable!(),
            };
            assert!(ok, "{at}.{k} should be {kind}: {x}");
        }
    };
    kinds(
        doc,
        &[
            ("schemaVersion", "number"),
            ("target", "string"),
            ("stack", "string"),
            ("state", "string"),
            ("verdict", "string"),
            ("servingRegion", "string?"),
            ("regions", "array"),
            ("healthCheck", "object?"),
            ("dns", "object?"),
            ("replication", "array"),
            ("faults", "array"),
            ("drift", "array?"),
            ("problems", "array"),
            ("seconds", "number"),
        ],
        "",
    );
    assert_eq!(doc["schemaVersion"], 1);
    assert!(["healthy", "degraded", "failed-over"].contains(&doc["state"].as_str().unwrap()));
    for r in doc["regions"].as_array().unwrap() {
        kinds(
            r,
            &[
                ("region", "string"),
                ("role", "string"),
                ("reachable", "bool"),
                ("table", "object?"),
                ("function", "object?"),
                ("api", "object?"),
                ("domains", "array"),
                ("health", "object"),
                ("errors", "array"),
            ],
            "regions[]",
        );
        kinds(
            &r["health"],
            &[
                ("url", "string"),
                ("status", "number?"),
                ("latencyMs", "number?"),
                ("error", "string?"),
            ],
            "health",
        );
    }
    if doc["healthCheck"].is_object() {
        kinds(
            &doc["healthCheck"],
            &[
                ("id", "string"),
                ("target", "string"),
                ("healthy", "bool"),
                ("checkersHealthy", "number"),
                ("checkers", "number"),
                ("inverted", "bool"),
                ("disabled", "bool"),
                ("lastFailure", "string?"),
            ],
            "healthCheck",
        );
    }
    if doc["dns"].is_object() {
        kinds(
            &doc["dns"],
            &[
                ("name", "string"),
                ("answer", "array"),
                ("region", "string?"),
                ("ttl", "number?"),
            ],
            "dns",
        );
    }
    for l in doc["replication"].as_array().unwrap() {
        kinds(
            l,
            &[
                ("from", "string"),
                ("to", "string"),
                ("p50Ms", "number?"),
                ("probes", "number"),
                ("arrived", "number"),
            ],
            "replication[]",
        );
    }
    for f in doc["faults"].as_array().unwrap() {
        kinds(
            f,
            &[
                ("kind", "string"),
                ("scope", "string"),
                ("detail", "string"),
            ],
            "faults[]",
        );
    }
}

#[tokio::test]
async fn status_reports_health_and_every_kind_of_trouble() {
    let sb = TestSandbox::start();
    up(&sb);

    // Healthy.
    let control = sb.sandbox.control("global").unwrap();
    let check_id = sb
        .route53()
        .list_health_checks()
        .send()
        .await
        .unwrap()
        .health_checks()[0]
        .id()
        .to_owned();
    common::eventually(
        "the health check to be healthy",
        Duration::from_secs(30),
        || async {
            let v = control.health_check(&check_id).await.ok()?;
            (v["healthy"] == true).then_some(())
        },
    )
    .await;
    let (code, doc, _) = status(&sb);
    check_schema(&doc);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["state"], "healthy");
    assert_eq!(doc["servingRegion"], PRIMARY);
    assert!(
        doc["verdict"]
            .as_str()
            .unwrap()
            .starts_with("healthy: serving from eu-west-1, replication ")
    );
    assert_eq!(doc["drift"], serde_json::json!([]));
    for l in doc["replication"].as_array().unwrap() {
        assert_eq!(l["arrived"], 3, "{l}");
    }
    assert_eq!(doc["dns"]["ttl"], 1);
    // The text: a verdict on top, one table per area (ids and timings
    // filtered so the snapshot holds).
    let out = sb.cli(&["status"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    insta::with_settings!({filters => vec![
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[uuid]"),
        (r"d-[a-z0-9]+\.execute-api", "d-[id].execute-api"),
        (r"\b[a-z0-9]{10} → [a-z0-9]+", "[api] → [deployment]"),
        (r"\d+(\.\d+)? (ms|s)\b", "[time]"),
        (r"\(\d+ items", "([n] items"),
        (r"\(\d of \d checkers", "([k] of [n] checkers"),
        (r"[ ]{2,}", " "),
        (r"─+", "─"),
        (r"═+", "═"),
        (r"┄+", "┄"),
    ]}, {
        insta::assert_snapshot!("healthy", text);
    });

    // Drift: a manual change through the SDK.
    sb.lambda(SECONDARY)
        .update_function_configuration()
        .function_name("wildrydes-tickets")
        .timeout(29)
        .send()
        .await
        .unwrap();
    let (code, doc, _) = status(&sb);
    assert_eq!(code, Some(1));
    let drift = doc["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0]["scope"], SECONDARY);
    assert_eq!(drift[0]["resource"], "Lambda function");
    assert_eq!(drift[0]["differs"], "configuration");

    // A throttled function, an inverted health check, paused replication.
    sb.lambda(PRIMARY)
        .put_function_concurrency()
        .function_name("wildrydes-tickets")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    let check = sb
        .route53()
        .get_health_check()
        .health_check_id(&check_id)
        .send()
        .await
        .unwrap();
    sb.route53()
        .update_health_check()
        .health_check_id(&check_id)
        .health_check_version(check.health_check().unwrap().health_check_version())
        .inverted(true)
        .send()
        .await
        .unwrap();
    let replica_arn = format!("arn:aws:dynamodb:{SECONDARY}:000000000000:table/wildrydes-tickets");
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "dynamodb:*", "Resource": replica_arn,
        "Condition": {"StringEquals": {"aws:PrincipalServiceName": "replication.dynamodb.amazonaws.com"}}}]});
    sb.dynamodb(SECONDARY)
        .put_resource_policy()
        .resource_arn(&replica_arn)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let (code, doc, _) = status(&sb);
    assert_eq!(code, Some(1), "{doc:#}");
    let found = faults(&doc);
    for want in [
        format!("lambda-throttle {PRIMARY}"),
        "health-check-inversion global".to_owned(),
        format!("replication-pause {SECONDARY}"),
    ] {
        assert!(found.contains(&want), "{want} missing from {found:?}");
    }
    let into_secondary = doc["replication"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["to"] == SECONDARY)
        .unwrap()
        .clone();
    assert_eq!(
        into_secondary["arrived"], 0,
        "replication is paused: {into_secondary}"
    );
    // The inverted check reads unhealthy, so DNS may already answer the
    // secondary: failed over, or at least degraded; never healthy.
    assert!(
        ["degraded", "failed-over"].contains(&doc["state"].as_str().unwrap()),
        "{}",
        doc["verdict"]
    );

    // A drill that died with a fault in place.
    let drills = sb.dir.path().join(".wildrydes/drills");
    std::fs::create_dir_all(&drills).unwrap();
    std::fs::write(
        drills.join("drill-1.json"),
        r#"{"drill": "primary-health", "startedAt": "2026-11-30T01:00:00Z",
            "faults": [{"kind": "health-endpoint-failure", "scope": "eu-west-1",
                        "injectedAt": "2026-11-30T01:00:02Z", "restoredAt": null, "undo": {}},
                       {"kind": "lambda-throttle", "scope": "eu-west-1",
                        "injectedAt": "2026-11-30T01:00:03Z", "restoredAt": "2026-11-30T01:01:00Z", "undo": {}}]}"#,
    )
    .unwrap();
    let (_, doc, _) = status(&sb);
    let found = faults(&doc);
    assert!(
        found.contains(&format!("drill-journal:health-endpoint-failure {PRIMARY}")),
        "{found:?}"
    );
    assert!(
        !found.contains(&format!("drill-journal:lambda-throttle {PRIMARY}")),
        "restored faults are not reported"
    );

    // A frozen primary: unreachable, said so, within the deadline.
    let out = sb.cli(&["sandbox", "freeze", PRIMARY]);
    assert!(out.status.success());
    let (code, doc, took) = status(&sb);
    let _ = sb.cli(&["sandbox", "thaw", PRIMARY]);
    assert_eq!(code, Some(1), "{doc:#}");
    let primary = doc["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == PRIMARY)
        .unwrap()
        .clone();
    assert_eq!(primary["reachable"], false, "{primary:#}");
    assert!(
        doc["problems"]
            .to_string()
            .contains("eu-west-1 is unreachable"),
        "{doc:#}"
    );
    // The command's own deadline is 2.5 s per call; allow for a loaded machine.
    assert!(took < 6.0, "status took {took:.1} s with a frozen region");

    // The identity layer, per region: a pool gone from the secondary is
    // a problem named by region.
    let region_of = |doc: &Value, region: &str| {
        doc["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["region"] == region)
            .unwrap()
            .clone()
    };
    let (_, doc, _) = status(&sb);
    let pool = region_of(&doc, SECONDARY)["identityPool"].clone();
    assert_eq!(
        pool["logins"],
        serde_json::json!(["graph.facebook.com"]),
        "{pool:#}"
    );
    let pool_id = pool["id"].as_str().unwrap().to_owned();
    assert!(pool_id.starts_with("ap-southeast-1:"), "{pool_id}");
    assert!(
        region_of(&doc, PRIMARY)["identityPool"]["id"]
            .as_str()
            .unwrap()
            .starts_with("eu-west-1:")
    );
    aws_sdk_cognitoidentity::Client::new(&sb.region_config(SECONDARY))
        .delete_identity_pool()
        .identity_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    let (code, doc, _) = status(&sb);
    assert_eq!(code, Some(1));
    assert_eq!(region_of(&doc, SECONDARY)["identityPool"], Value::Null);
    assert!(
        doc["problems"]
            .to_string()
            .contains("ap-southeast-1: missing identity pool"),
        "{doc:#}"
    );
}

#[test]
fn status_without_a_sandbox_or_a_stack_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::wildrydes(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(2));
    let msg = common::text(&out);
    assert!(
        msg.contains("sandbox is not running") && msg.contains("wildrydes up"),
        "{msg}"
    );

    let sb = TestSandbox::start();
    let out = sb.cli(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    let msg = common::text(&out);
    assert!(
        msg.contains("no stack wildrydes is deployed") && msg.contains("wildrydes up"),
        "{msg}"
    );
}

#[test]
fn status_on_aws_without_credentials_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::wildrydes_with(
        dir.path(),
        &["status", "--target", "aws"],
        &[
            ("WILDRYDES_DOMAIN", "wildrydes-example.com"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_PROFILE", ""),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert!(
        common::text(&out).contains("credentials"),
        "{}",
        common::text(&out)
    );
}

#[tokio::test]
async fn watch_refreshes_until_interrupted() {
    use std::io::BufRead;
    let sb = TestSandbox::start();
    up(&sb);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wildrydes"))
        .args(["status", "--watch", "1s"])
        .current_dir(sb.dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Until two refreshes have been printed, then Ctrl-C.
    let mut refreshes = 0;
    let mut seen = Vec::new();
    while refreshes < 2 {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no second refresh within 30 s:\n{}", seen.join("\n")));
        refreshes += usize::from(line.starts_with("(gathered in "));
        seen.push(line);
    }
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "Ctrl-C ends the watch cleanly: {status:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with("healthy: ") || l.starts_with("DEGRADED: ")),
        "{seen:#?}"
    );
}
