//! The edge proxy: follows the sandbox DNS exactly as long as TTL says,
//! forwards requests untouched (a browser's SigV4 signature still holds),
//! and lets a dead region fail as it would for a real client.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_route53::types::{
    AliasTarget, ChangeAction, ResourceRecord, ResourceRecordSet, RrType,
};
use common::{
    PRIMARY, SECONDARY, TestSandbox, deploy, facebook_user, hosted_zone, issued_certificate,
    signed_call, ticket_bootstrap,
};
use wildrydes_sandbox::edge::EdgeConfig;

const TTL: u64 = 3;

async fn upsert(sb: &TestSandbox, zone: &str, set: ResourceRecordSet) {
    common::change_record(sb, zone, ChangeAction::Upsert, set).await;
}

fn a_record(ip: &str) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name("api.wildrydes.test")
        .r#type(RrType::A)
        .ttl(TTL as i64)
        .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
        .build()
        .unwrap()
}

async fn set_api_name(sb: &TestSandbox, name: &str) {
    let config = sb
        .sandbox
        .control("global")
        .unwrap()
        .set_edge(&EdgeConfig {
            api_name: Some(name.to_owned()),
        })
        .await
        .unwrap();
    assert_eq!(config.api_name.as_deref(), Some(name));
}

/// One answer seen through the edge.
#[derive(Debug)]
struct Seen {
    status: u16,
    region: Option<String>,
    age_ms: u64,
    resolved_at_ms: u64,
}

async fn through_edge(edge: &str) -> Seen {
    let resp = reqwest::get(format!("{edge}/whatever")).await.unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Seen {
        status: resp.status().as_u16(),
        region: header("x-wildrydes-resolved-region"),
        age_ms: header("x-wildrydes-dns-age-ms").unwrap().parse().unwrap(),
        resolved_at_ms: header("x-wildrydes-dns-resolved-at-ms")
            .unwrap()
            .parse()
            .unwrap(),
    }
}

#[tokio::test]
async fn edge_caches_each_answer_exactly_for_its_ttl() {
    let sb = TestSandbox::start();
    let edge = sb.sandbox.state.topology.edge_url().unwrap();
    // Before `up` has named the API, the edge says what is missing.
    let resp = reqwest::get(format!("{edge}/health")).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("no API name is set for the edge")
    );

    let zone = hosted_zone(&sb, "wildrydes.test").await;
    upsert(&sb, &zone, a_record("127.0.1.1")).await;
    set_api_name(&sb, "api.wildrydes.test").await;
    let first = through_edge(&edge).await;
    assert_eq!(first.region.as_deref(), Some(PRIMARY), "{first:?}");

    upsert(&sb, &zone, a_record("127.0.1.2")).await;
    let mut old_after_change = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(TTL + 10);
    let moved = loop {
        let seen = through_edge(&edge).await;
        if seen.region.as_deref() == Some(SECONDARY) {
            break seen;
        }
        assert_eq!(seen.region.as_deref(), Some(PRIMARY), "{seen:?}");
        old_after_change.push(seen);
        assert!(Instant::now() < deadline, "the edge never followed DNS");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Cached, not re-queried: the old answer kept serving after the change…
    assert!(!old_after_change.is_empty());
    // …but never once it was TTL old…
    for seen in &old_after_change {
        assert_eq!(seen.resolved_at_ms, first.resolved_at_ms);
        assert!(seen.age_ms < TTL * 1000, "{seen:?} served past its TTL");
    }
    // …and the new answer was fetched only when the old one expired.
    let held = moved.resolved_at_ms - first.resolved_at_ms;
    assert!(
        (TTL * 1000..TTL * 1000 + 1000).contains(&held),
        "the old answer was held {held} ms for a TTL of {TTL} s"
    );
    assert!(moved.age_ms < 1000, "{moved:?}");

    // A dead region fails as it would for a client that follows DNS.
    sb.kill(SECONDARY);
    let seen = through_edge(&edge).await;
    assert_eq!(seen.status, 502, "{seen:?}");
    assert_eq!(seen.region.as_deref(), Some(SECONDARY));

    // An address that is no sandbox region is refused, not guessed at.
    upsert(&sb, &zone, a_record("127.0.0.2")).await;
    let deadline = Instant::now() + Duration::from_secs(TTL + 10);
    loop {
        let seen = through_edge(&edge).await;
        if seen.region.is_none() {
            assert_eq!(seen.status, 502);
            break;
        }
        assert!(Instant::now() < deadline, "the edge never followed DNS");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn signed_calls_pass_through_the_edge_to_the_custom_domain() {
    let sb = TestSandbox::start();
    let d = deploy(&sb, &ticket_bootstrap()).await;
    let cert = issued_certificate(&sb, PRIMARY, "api.wildrydes.test", "wildrydes.test").await;
    let apigw = sb.apigateway(PRIMARY);
    let domain = apigw
        .create_domain_name()
        .domain_name("api.wildrydes.test")
        .regional_certificate_arn(&cert)
        .endpoint_configuration(
            aws_sdk_apigateway::types::EndpointConfiguration::builder()
                .types(aws_sdk_apigateway::types::EndpointType::Regional)
                .build(),
        )
        .send()
        .await
        .unwrap();
    apigw
        .create_base_path_mapping()
        .domain_name("api.wildrydes.test")
        .rest_api_id(&d.api)
        .stage("prod")
        .send()
        .await
        .unwrap();
    let zone = hosted_zone(&sb, "wildrydes.test").await;
    upsert(
        &sb,
        &zone,
        ResourceRecordSet::builder()
            .name("api.wildrydes.test")
            .r#type(RrType::A)
            .alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(domain.regional_hosted_zone_id().unwrap())
                    .dns_name(domain.regional_domain_name().unwrap())
                    .evaluate_target_health(false)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    )
    .await;
    set_api_name(&sb, "api.wildrydes.test").await;
    let edge = sb.sandbox.state.topology.edge_url().unwrap();

    // Unsigned: API Gateway's own refusal comes back through the edge.
    let resp = reqwest::get(format!("{edge}/tickets")).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-wildrydes-resolved-region"]
            .to_str()
            .unwrap(),
        PRIMARY
    );

    // Signed by the "browser" for the edge's own Host: the signature holds
    // because the edge forwards Host and body untouched.
    let creds = facebook_user(&sb, &d.api, "10000000002").await.0;
    let body = r#"{"description":"Through the edge","priority":"low","category":"app"}"#;
    let resp = signed_call(
        &format!("{edge}/tickets"),
        "POST",
        None,
        PRIMARY,
        &creds,
        Some(body),
    )
    .await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    assert_eq!(resp.headers()["x-wildrydes-region"], PRIMARY);
    let resp = signed_call(
        &format!("{edge}/tickets"),
        "GET",
        None,
        PRIMARY,
        &creds,
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let listed: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(listed["tickets"][0]["description"], "Through the edge");
}
