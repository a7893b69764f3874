//! The DynamoDB path of the ticket API against a real DynamoDB-compatible
//! server: the `dynoxide` engine's HTTP server, started in-process on an
//! ephemeral port, spoken to by the official SDK client.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use time::OffsetDateTime;
use wildrydes_tickets::model::{NewTicket, Priority, Ticket};
use wildrydes_tickets::store::{DynamoStore, StoreError, TicketStore};

const TABLE: &str = "wildrydes-tickets";

async fn dynamodb() -> Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let db = dynoxide::Database::memory().expect("in-memory database");
    tokio::spawn(dynoxide::server::serve_on(listener, db));
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(format!("http://{addr}"))
        .build();
    let client = Client::from_conf(config);
    client
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("owner"))
        .attribute_definitions(attr("id"))
        .key_schema(key("owner", KeyType::Hash))
        .key_schema(key("id", KeyType::Range))
        .send()
        .await
        .expect("create table");
    client
}

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap()
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap()
}

fn ticket(owner: &str, n: i64) -> Ticket {
    let valid = NewTicket {
        description: format!("ticket number {n} for {owner}"),
        priority: Priority::Low,
        category: Some("ride".into()),
    }
    .validate()
    .unwrap();
    // Distinct milliseconds so ULID order is creation order.
    let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
        + time::Duration::milliseconds(n);
    Ticket::open(owner, valid, "eu-west-1", at)
}

#[tokio::test]
async fn create_get_list_and_ping_round_trip_through_dynamodb() {
    let store = DynamoStore::new(dynamodb().await, TABLE);
    store.ping().await.expect("ping an empty table");

    let mut alice = Vec::new();
    for n in 0..7 {
        let t = ticket("eu-west-1:alice", n);
        store.create(&t).await.unwrap();
        alice.push(t);
    }
    store.create(&ticket("eu-west-1:bob", 100)).await.unwrap();

    // A second put of the same key is refused, not overwritten.
    let dup = store.create(&alice[0]).await.unwrap_err();
    assert!(matches!(dup, StoreError::Duplicate(_)), "{dup:?}");

    assert_eq!(
        store
            .get("eu-west-1:alice", &alice[3].id)
            .await
            .unwrap()
            .as_ref(),
        Some(&alice[3])
    );
    assert_eq!(
        store.get("eu-west-1:bob", &alice[3].id).await.unwrap(),
        None
    );

    // Pages of 3, newest first, `more` exact.
    alice.reverse();
    let p1 = store.list("eu-west-1:alice", 3, None).await.unwrap();
    assert_eq!(p1.tickets, alice[0..3]);
    assert!(p1.more);
    let p2 = store
        .list("eu-west-1:alice", 3, Some(&alice[2].id))
        .await
        .unwrap();
    assert_eq!(p2.tickets, alice[3..6]);
    assert!(p2.more);
    let p3 = store
        .list("eu-west-1:alice", 3, Some(&alice[5].id))
        .await
        .unwrap();
    assert_eq!(p3.tickets, alice[6..]);
    assert!(!p3.more);
    let exact = store.list("eu-west-1:alice", 7, None).await.unwrap();
    assert_eq!(exact.tickets.len(), 7);
    assert!(!exact.more);
}

#[tokio::test]
async fn a_missing_table_is_a_backend_error() {
    let store = DynamoStore::new(dynamodb().await, "no-such-table");
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}
