//! What one sandbox process gives any client (`sandbox/src/limits.rs`),
//! through raw HTTP and signed requests against a sandbox served in
//! process: a stranger's body is refused past 1 MiB before its signature
//! is checked while a key holder may send DynamoDB's batch sizes, and a
//! process holds at most `MAX_CONNECTIONS` connections open, serving the
//! next one when one closes.

mod common;

use std::time::Duration;

use common::{InProcess, PRIMARY, Signed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wildrydes_sandbox::limits::{MAX_ANONYMOUS_BODY, MAX_CONNECTIONS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_body_is_refused_past_the_anonymous_limit() {
    let sb = InProcess::start(&[PRIMARY]).await;
    let big = vec![b' '; MAX_ANONYMOUS_BODY + 1];
    let forged = "AWS4-HMAC-SHA256 Credential=AKIAFORGEDFORGED0000/20261207/eu-west-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
    let forged_call = |body: Vec<u8>| {
        reqwest::Client::new()
            .post(sb.url(PRIMARY))
            .header("x-amz-target", "DynamoDB_20120810.ListTables")
            .header("content-type", "application/x-amz-json-1.0")
            .header("authorization", forged)
            .header("x-amz-date", "20261207T000000Z")
            .body(body)
            .send()
    };
    let resp = forged_call(big).await.unwrap();
    assert_eq!(resp.status(), 413);
    // Under the limit, the same stranger gets the signature's refusal.
    let resp = forged_call(b"{}".to_vec()).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("UnrecognizedClientException")
    );

    // The sandbox's own key may send more: a 2 MiB body reaches DynamoDB,
    // which judges it (an item over 400 KB), not the door.
    let item = format!(
        r#"{{"TableName":"t","Item":{{"k":{{"S":"{}"}}}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let (status, _, body) = sb
        .signed(
            PRIMARY,
            Signed {
                method: "POST",
                path: "/",
                region: PRIMARY,
                service: "dynamodb",
                headers: &[
                    ("x-amz-target", "DynamoDB_20120810.PutItem"),
                    ("content-type", "application/x-amz-json-1.0"),
                ],
                body: item.as_bytes(),
            },
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(!body.contains("RequestEntityTooLarge"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_holds_a_bounded_number_of_connections() {
    let sb = InProcess::start(&[PRIMARY]).await;
    let address = sb.url(PRIMARY).trim_start_matches("http://").to_owned();
    // Idle connections that never send a byte take every place.
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    let mut waiting = tokio::net::TcpStream::connect(&address).await.unwrap();
    waiting
        .write_all(b"GET /_sandbox/ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let early =
        tokio::time::timeout(Duration::from_millis(300), waiting.read_to_end(&mut answer)).await;
    assert!(early.is_err(), "served past the limit: {answer:?}");
    // One place freed: the waiting connection is accepted and answered.
    drop(idle.pop());
    tokio::time::timeout(Duration::from_secs(10), waiting.read_to_end(&mut answer))
        .await
        .expect("the waiting connection is served once a place is free")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
