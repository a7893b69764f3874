//! `wildrydes sandbox …` through the real binary: start (and start again),
//! status in text and JSON, outages by name (freeze, thaw, kill, revive),
//! replication settings, logs, stop, and data and addresses kept across a
//! stop and a start. The sandbox's behaviour itself is tested in the
//! sandbox crate's own tests; these check the commands an operator types.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{PRIMARY, SECONDARY, TestSandbox, create_table, text};
use serde_json::Value;

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    text(out)
}

fn processes(sb: &TestSandbox) -> Vec<(String, String)> {
    // Exits 1 while a process is down: read the document either way.
    let out = sb.cli(&["sandbox", "status", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn holds(sb: &TestSandbox, id: &str) -> bool {
    sb.dynamodb(PRIMARY)
        .get_item()
        .table_name("cli")
        .key("owner", AttributeValue::S("o".into()))
        .key("id", AttributeValue::S(id.into()))
        .send()
        .await
        .unwrap()
        .item
        .is_some()
}

#[tokio::test]
async fn the_sandbox_commands_start_report_outage_and_stop_it() {
    let mut sb = TestSandbox::start();
    create_table(&sb.dynamodb(PRIMARY), "cli", false).await;
    sb.dynamodb(PRIMARY)
        .put_item()
        .table_name("cli")
        .item("owner", AttributeValue::S("o".into()))
        .item("id", AttributeValue::S("kept".into()))
        .send()
        .await
        .unwrap();

    let again = ok(&sb.cli(&["sandbox", "start", "--port", "0"]));
    assert!(again.contains("already running"), "{again}");
    let status = ok(&sb.cli(&["sandbox", "status"]));
    for name in [PRIMARY, SECONDARY, "global"] {
        assert!(status.contains(name), "{status}");
    }
    assert!(processes(&sb).iter().all(|(_, s)| s == "running"));

    // Outages by name, each visible in `status`.
    assert!(ok(&sb.cli(&["sandbox", "freeze", SECONDARY])).contains("froze"));
    let frozen = processes(&sb);
    assert!(
        frozen.iter().any(|(n, s)| n == SECONDARY && s != "running"),
        "{frozen:?}"
    );
    ok(&sb.cli(&["sandbox", "thaw", SECONDARY]));
    ok(&sb.cli(&["sandbox", "kill", PRIMARY]));
    let killed = processes(&sb);
    assert!(
        killed.iter().any(|(n, s)| n == PRIMARY && s != "running"),
        "{killed:?}"
    );
    ok(&sb.cli(&["sandbox", "revive", PRIMARY]));
    sb.reload();
    assert!(processes(&sb).iter().all(|(_, s)| s == "running"));
    assert!(holds(&sb, "kept").await, "a revived region keeps its data");
    let unknown = sb.cli(&["sandbox", "kill", "us-east-9"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("us-east-9"), "{}", text(&unknown));

    // Replication settings round-trip.
    ok(&sb.cli(&[
        "sandbox",
        "replication",
        SECONDARY,
        "--delay-ms",
        "40",
        "--jitter-ms",
        "10",
    ]));
    let out = sb.cli(&["sandbox", "replication", SECONDARY, "--json"]);
    ok(&out);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            doc["settings"]["delayMs"].as_u64(),
            doc["settings"]["jitterMs"].as_u64()
        ),
        (Some(40), Some(10)),
        "{doc}"
    );
    let logs = ok(&sb.cli(&["sandbox", "logs", PRIMARY, "-n", "5"]));
    assert!(!logs.trim().is_empty());

    // Stop, then nothing is running; start again on the same addresses.
    let before = sb.sandbox.state.topology.clone();
    assert!(ok(&sb.cli(&["sandbox", "stop"])).contains("stopped"));
    let none = sb.cli(&["sandbox", "status"]);
    assert_eq!(none.status.code(), Some(2), "no sandbox: {}", text(&none));
    ok(&sb.cli(&["sandbox", "start", "--port", "0"]));
    sb.reload();
    let after = &sb.sandbox.state.topology;
    assert_eq!(
        (after.dns_port, after.edge_port, after.cdn_port),
        (before.dns_port, before.edge_port, before.cdn_port)
    );
    common::eventually("the restarted region", Duration::from_secs(10), || async {
        holds(&sb, "kept").await.then_some(())
    })
    .await;
}
