//! DynamoDB and DynamoDB Streams helpers of the real-process harness
//! (part of `harness.rs`, by path, so the CLI's tests include it too):
//! tables keyed like the tickets table, the global table the replication
//! tests use, and a region's stream as the official Streams client reads it.

use std::time::Duration;

use super::{PRIMARY, SECONDARY, TestSandbox, eventually};

/// The global table the replication tests write to: keyed like the
/// tickets table, items of owner `alice` with a `text` attribute.
pub const TICKETS_TABLE: &str = "wildrydes-tickets";

/// The key of item `id` of `owner` in a table keyed like the tickets table.
pub fn item_key(
    owner: &str,
    id: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue;
    std::collections::HashMap::from([
        ("owner".to_owned(), AttributeValue::S(owner.to_owned())),
        ("id".to_owned(), AttributeValue::S(id.to_owned())),
    ])
}

/// Puts alice's item `id` with `text` into [`TICKETS_TABLE`].
pub async fn put_text(client: &aws_sdk_dynamodb::Client, id: &str, text: &str) {
    let mut item = item_key("alice", id);
    item.insert(
        "text".into(),
        aws_sdk_dynamodb::types::AttributeValue::S(text.into()),
    );
    client
        .put_item()
        .table_name(TICKETS_TABLE)
        .set_item(Some(item))
        .send()
        .await
        .expect("put");
}

/// The `text` of alice's item `id` in [`TICKETS_TABLE`], if it is there.
pub async fn text_of(client: &aws_sdk_dynamodb::Client, id: &str) -> Option<String> {
    let out = client
        .get_item()
        .table_name(TICKETS_TABLE)
        .set_key(Some(item_key("alice", id)))
        .send()
        .await
        .ok()?;
    out.item?.get("text")?.as_s().ok().cloned()
}

/// Sets the replication delay into `region` through the launcher.
pub async fn set_delay(sb: &TestSandbox, region: &str, delay_ms: u64, jitter_ms: u64) {
    sb.sandbox
        .set_replication(
            region,
            wildrydes_sandbox::services::dynamodb::replication::Settings {
                delay_ms,
                jitter_ms,
            },
        )
        .await
        .expect("set the replication delay");
}

/// [`TICKETS_TABLE`] over both regions, replica ACTIVE, delay 0 both ways.
pub async fn global_table(
    sb: &TestSandbox,
) -> (aws_sdk_dynamodb::Client, aws_sdk_dynamodb::Client) {
    set_delay(sb, PRIMARY, 0, 0).await;
    set_delay(sb, SECONDARY, 0, 0).await;
    let (eu, ap) = (sb.dynamodb(PRIMARY), sb.dynamodb(SECONDARY));
    create_table(&eu, TICKETS_TABLE, true).await;
    add_replica(&eu).await;
    (eu, ap)
}

/// Adds a replica of [`TICKETS_TABLE`] in the secondary from the primary,
/// and waits until it is ACTIVE.
pub async fn add_replica(eu: &aws_sdk_dynamodb::Client) {
    use aws_sdk_dynamodb::types::{CreateReplicationGroupMemberAction, ReplicationGroupUpdate};
    eu.update_table()
        .table_name(TICKETS_TABLE)
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .create(
                    CreateReplicationGroupMemberAction::builder()
                        .region_name(SECONDARY)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("add replica");
    eventually(
        "the replica to become ACTIVE",
        Duration::from_secs(20),
        || async {
            let t = eu
                .describe_table()
                .table_name(TICKETS_TABLE)
                .send()
                .await
                .ok()?
                .table?;
            let replicas = t.replicas?;
            (replicas.len() == 1 && replicas[0].replica_status.as_ref()?.as_str() == "ACTIVE")
                .then_some(())
        },
    )
    .await;
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

/// Every record of `table`'s stream in `region`, oldest first: (the
/// item's `id`, event name, `userIdentity` principal).
pub async fn stream_records(
    sb: &TestSandbox,
    region: &str,
    table: &str,
) -> Vec<(String, String, Option<String>)> {
    stream(sb, region, table)
        .await
        .into_iter()
        .map(|r| {
            let d = r.dynamodb.unwrap();
            let id = d.keys.unwrap()["id"].as_s().unwrap().clone();
            (
                id,
                r.event_name.unwrap().as_str().to_owned(),
                r.user_identity.and_then(|u| u.principal_id),
            )
        })
        .collect()
}

/// What the source's stream says of a subscription's resume, as `s`
/// reported it (counted on the stream, not taken from the report).
#[derive(Debug)]
pub struct ResumeSeen {
    /// The stream's first record after the position the subscription
    /// resumed from: the first one it must have read.
    pub next_after: Option<String>,
    /// Records after that position up to the last one of the batch it
    /// reports unfinished: those it reads again.
    pub read_again: u64,
}

pub async fn resume_seen(
    sb: &TestSandbox,
    s: &wildrydes_sandbox::services::dynamodb::replication::SubscriptionStatus,
) -> ResumeSeen {
    let resumed = s.resumed.as_ref().expect("the subscription has resumed");
    let number = |seq: &str| seq.parse::<u128>().expect("a decimal sequence number");
    let after = resumed.after.as_deref().map_or(0, number);
    let through = resumed
        .unfinished_batch
        .as_ref()
        .map_or(after, |b| number(&b.last_seq));
    let sequence: Vec<String> = stream(sb, &s.source, &s.table)
        .await
        .into_iter()
        .filter_map(|r| r.dynamodb?.sequence_number)
        .collect();
    ResumeSeen {
        next_after: sequence.iter().find(|q| number(q) > after).cloned(),
        read_again: sequence
            .iter()
            .filter(|q| (after + 1..=through).contains(&number(q)))
            .count() as u64,
    }
}

/// Every record of `table`'s stream in `region`, oldest first.
pub async fn stream(
    sb: &TestSandbox,
    region: &str,
    table: &str,
) -> Vec<aws_sdk_dynamodbstreams::types::Record> {
    let desc = sb
        .dynamodb(region)
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let arn = desc.latest_stream_arn().unwrap().to_owned();
    let streams = sb.streams(region);
    let shard = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap()
        .shards
        .unwrap()[0]
        .shard_id
        .clone()
        .unwrap();
    let mut it = streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator;
    let mut out = Vec::new();
    while let Some(i) = it {
        let page = streams
            .get_records()
            .shard_iterator(i)
            .send()
            .await
            .unwrap();
        let records = page.records.unwrap_or_default();
        if records.is_empty() {
            break;
        }
        out.extend(records);
        it = page.next_shard_iterator;
    }
    out
}
