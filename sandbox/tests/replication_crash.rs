//! A region killed in the middle of a replication batch, at each place
//! where its engine (dynamodb.sqlite) and its replication bookkeeping
//! (replication.sqlite) disagree, through a real sandbox: processes started
//! by the launcher, the kill placed by a crash point
//! (`WILDRYDES_SANDBOX_FAULT`, armed with `revive_with_env`), everything
//! observed with the official SDK clients.
//!
//! The batch is made to carry two writes of one item, A then B, both
//! acknowledged by the source before the replica applies either: a stream
//! policy at the source holds the replica's reads (it reports the pause, so
//! no read is in flight), and lifting it hands both over in one
//! `GetRecords`. The replica dies after committing the batch's intents, or
//! after writing A; either way, once revived, both regions must end at B
//! with every change in each stream once, and it must resume from the
//! position its last finished batch saved, reading again only [A, B]. No
//! timing is assumed:
//! every wait is for a reported state or for a marker item that crossed
//! over after the records under test (streams are applied in order).

mod common;

use std::time::Duration;

use common::{
    PRIMARY, SECONDARY, TICKETS_TABLE as TABLE, TestSandbox, eventually, global_table, put_text,
    resume_seen, stream_records, text_of,
};
use wildrydes_sandbox::launcher;

const WAIT: Duration = Duration::from_secs(20);
const REPLICATION: &str = "replication.dynamodb.amazonaws.com";

/// (event, userIdentity principal) of every record of item `id` in a
/// region's stream, oldest first.
async fn stream_of(sb: &TestSandbox, region: &str, id: &str) -> Vec<(String, Option<String>)> {
    stream_records(sb, region, TABLE)
        .await
        .into_iter()
        .filter(|(item, _, _)| item == id)
        .map(|(_, event, principal)| (event, principal))
        .collect()
}

async fn stream_arn(client: &aws_sdk_dynamodb::Client) -> String {
    client
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .latest_stream_arn
        .unwrap()
}

/// Writes marker `id` in `from` and waits until `to` has it: `to` has then
/// finished with every record `from`'s stream held before the marker.
async fn barrier(sb: &TestSandbox, from: &str, to: &str, id: &str) {
    put_text(&sb.dynamodb(from), id, "marker").await;
    let to_client = sb.dynamodb(to);
    eventually(
        &format!("{id} to cross from {from} to {to}"),
        WAIT,
        || async { text_of(&to_client, id).await },
    )
    .await;
}

/// What both regions hold for item `k`: (eu's text, ap's text, eu's stream
/// records of k, ap's stream records of k).
type Observed = (
    Option<String>,
    Option<String>,
    Vec<(String, Option<String>)>,
    Vec<(String, Option<String>)>,
);

async fn observe(sb: &TestSandbox) -> Observed {
    (
        text_of(&sb.dynamodb(PRIMARY), "k").await,
        text_of(&sb.dynamodb(SECONDARY), "k").await,
        stream_of(sb, PRIMARY, "k").await,
        stream_of(sb, SECONDARY, "k").await,
    )
}

/// Both regions at B; eu's stream holds its own three writes and nothing
/// that came back; every one of ap's three records of k is marked as
/// replication's (so none goes back), and A was applied once.
fn converged() -> Observed {
    let events = ["INSERT", "MODIFY", "MODIFY"];
    (
        Some("B".into()),
        Some("B".into()),
        events.iter().map(|e| ((*e).to_owned(), None)).collect(),
        events
            .iter()
            .map(|e| ((*e).to_owned(), Some(REPLICATION.to_owned())))
            .collect(),
    )
}

/// Kills ap at crash point `point` while it applies [A, B] from eu, revives
/// it, and checks that nothing was lost and nothing echoed.
async fn killed_mid_batch(point: &str) {
    let mut sb = TestSandbox::start();
    let (eu, ap) = global_table(&sb).await;
    put_text(&eu, "k", "v0").await;
    eventually("v0 to reach ap", WAIT, || async {
        (text_of(&ap, "k").await.as_deref() == Some("v0")).then_some(())
    })
    .await;
    // ap has applied v0 and saved its position: restart it armed.
    sb.kill(SECONDARY);
    let fault = format!("{point}:1");
    sb.revive_with_env(SECONDARY, &[("WILDRYDES_SANDBOX_FAULT", &fault)])
        .await;

    // Hold ap's reads of eu's stream; once ap reports the refusal, no read
    // of it is in flight, so A and B both wait for the next one.
    let arn = stream_arn(&eu).await;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["dynamodb:GetRecords", "dynamodb:DescribeStream", "dynamodb:GetShardIterator"],
            "Resource": arn,
            "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::000000000000:role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication"}}
        }]
    });
    eu.put_resource_policy()
        .resource_arn(&arn)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    eventually("ap to report that eu refuses its reads", WAIT, || async {
        let (_, subs) = sb.sandbox.replication(SECONDARY).await.ok()?;
        subs.iter()
            .find(|s| s.source == PRIMARY)?
            .paused
            .clone()
            .filter(|p| p.contains(PRIMARY))
    })
    .await;
    put_text(&eu, "k", "A").await;
    put_text(&eu, "k", "B").await;
    eu.delete_resource_policy()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();

    // ap reads [A, B] in one batch and kills itself at the crash point.
    eventually("ap to kill itself", WAIT, || async {
        let statuses = sb.sandbox.status().await;
        let ap = statuses.iter().find(|s| s.name == SECONDARY)?;
        (ap.state == "dead").then_some(())
    })
    .await;
    let log = launcher::tail(&sb.sandbox.layout.log_file(SECONDARY), 200);
    assert!(
        log.contains(&format!("fault {point} #1: killing this process")),
        "ap died, but not at {point}:\n{log}"
    );

    sb.revive(SECONDARY).await;
    // It resumes after v0, where its last finished batch left it, and
    // reads again only the batch the kill cut short: A and B.
    let resumed = eventually("ap's subscription to eu to start", WAIT, || async {
        let (_, subs) = sb.sandbox.replication(SECONDARY).await.ok()?;
        subs.into_iter().find(|s| {
            s.source == PRIMARY && s.resumed.as_ref().is_some_and(|r| r.first_read.is_some())
        })
    })
    .await;
    let batch = resumed
        .resumed
        .as_ref()
        .and_then(|r| r.unfinished_batch.clone())
        .expect("ap reports the batch the kill cut short");
    assert_eq!(batch.records, 2, "the batch held A and B: {resumed:?}");
    let seen = resume_seen(&sb, &resumed).await;
    assert_eq!(
        seen.read_again, 2,
        "eu's stream between ap's saved position and the batch's end: {resumed:?}"
    );
    assert_eq!(
        resumed.resumed.as_ref().unwrap().first_read,
        seen.next_after,
        "ap read first the record right after its saved position: {resumed:?}"
    );
    for round in 1..=2 {
        barrier(&sb, PRIMARY, SECONDARY, &format!("to-ap-{round}")).await;
        barrier(&sb, SECONDARY, PRIMARY, &format!("to-eu-{round}")).await;
        assert_eq!(
            observe(&sb).await,
            converged(),
            "after round {round}: (eu's k, ap's k, eu's stream of k, ap's stream of k)"
        );
    }
}

#[tokio::test]
async fn killed_after_a_replicated_engine_write_the_region_loses_no_update_and_echoes_nothing() {
    killed_mid_batch("replication-after-engine-write").await;
}

#[tokio::test]
async fn killed_after_the_intent_commit_the_region_loses_no_update_and_echoes_nothing() {
    killed_mid_batch("replication-after-intent").await;
}
