//! Route 53 in the sandbox through the official SDK client: zones, atomic
//! and validated change batches, paging, changes going INSYNC, health
//! checks and their idempotency rules, and health checkers that really
//! probe, flipping after exactly FailureThreshold consecutive results.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, HealthCheckConfig, HealthCheckType,
    ResourceRecord, ResourceRecordSet, ResourceRecordSetFailover, RrType,
};
use common::{
    TestSandbox, eventually, failover_alias as failover, switchable_target, target_check,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn route53(sb: &TestSandbox) -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&sb.config_with("global", "us-east-1", sb.credentials()))
}

fn a_record(name: &str, ip: &str) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
        .build()
        .unwrap()
}

fn change(action: ChangeAction, set: ResourceRecordSet) -> Change {
    Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .unwrap()
}

async fn apply(
    r53: &aws_sdk_route53::Client,
    zone: &str,
    changes: Vec<Change>,
) -> Result<String, String> {
    r53.change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map(|o| o.change_info.unwrap().id)
        .map_err(|e| {
            let e = e.into_service_error();
            format!(
                "{}: {}",
                aws_sdk_route53::error::ProvideErrorMetadata::code(&e).unwrap_or_default(),
                aws_sdk_route53::error::ProvideErrorMetadata::message(&e).unwrap_or_default()
            )
        })
}

#[tokio::test]
async fn zones_and_change_batches_behave_as_route53() {
    let sb = TestSandbox::start();
    let r53 = route53(&sb);
    let zone = r53
        .create_hosted_zone()
        .name("wildrydes.test")
        .caller_reference("z1")
        .send()
        .await
        .unwrap();
    let zone_id = zone.hosted_zone.unwrap().id;
    assert!(zone_id.starts_with("/hostedzone/Z"), "{zone_id}");
    let dup = r53
        .create_hosted_zone()
        .name("wildrydes.test")
        .caller_reference("z1")
        .send()
        .await
        .unwrap_err();
    assert!(dup.into_service_error().is_hosted_zone_already_exists());
    let by_name = r53
        .list_hosted_zones_by_name()
        .dns_name("wildrydes.test")
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.hosted_zones()[0].name(), "wildrydes.test.");

    let change_id = apply(
        &r53,
        &zone_id,
        vec![change(
            ChangeAction::Create,
            a_record("www.wildrydes.test", "127.0.1.1"),
        )],
    )
    .await
    .unwrap();
    let status = r53
        .get_change()
        .id(&change_id)
        .send()
        .await
        .unwrap()
        .change_info
        .unwrap()
        .status;
    assert_eq!(status, ChangeStatus::Pending);
    eventually("the change to be INSYNC", WAIT, || async {
        let info = r53
            .get_change()
            .id(&change_id)
            .send()
            .await
            .ok()?
            .change_info?;
        (info.status == ChangeStatus::Insync).then_some(())
    })
    .await;

    // CREATE of an existing record, DELETE that does not match: the whole batch fails.
    let err = apply(
        &r53,
        &zone_id,
        vec![
            change(
                ChangeAction::Create,
                a_record("new.wildrydes.test", "127.0.1.2"),
            ),
            change(
                ChangeAction::Create,
                a_record("www.wildrydes.test", "127.0.1.1"),
            ),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        "InvalidChangeBatch: [Tried to create resource record set [name='www.wildrydes.test.', type='A'] but it already exists]"
    );
    let err = apply(
        &r53,
        &zone_id,
        vec![change(
            ChangeAction::Delete,
            a_record("www.wildrydes.test", "127.0.1.9"),
        )],
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("but the values provided do not match the current values"),
        "{err}"
    );
    let err = apply(
        &r53,
        &zone_id,
        vec![change(
            ChangeAction::Delete,
            a_record("gone.wildrydes.test", "127.0.1.9"),
        )],
    )
    .await
    .unwrap_err();
    assert!(err.contains("but it was not found"), "{err}");
    let sets = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    assert!(
        !sets
            .resource_record_sets()
            .iter()
            .any(|r| r.name() == "new.wildrydes.test."),
        "the failed batch changed nothing"
    );

    // Failover alias records and paging.
    let health = r53
        .create_health_check()
        .caller_reference("hc-1")
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .ip_address("127.0.1.1")
                .resource_path("/health")
                .request_interval(10)
                .failure_threshold(3)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .health_check
        .unwrap();
    apply(
        &r53,
        &zone_id,
        vec![
            change(
                ChangeAction::Create,
                failover(
                    "primary",
                    ResourceRecordSetFailover::Primary,
                    "d-abc.execute-api.eu-west-1.amazonaws.com",
                    Some(health.id()),
                ),
            ),
            change(
                ChangeAction::Create,
                failover(
                    "secondary",
                    ResourceRecordSetFailover::Secondary,
                    "d-def.execute-api.ap-southeast-1.amazonaws.com",
                    None,
                ),
            ),
        ],
    )
    .await
    .unwrap();
    let first = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .max_items(2)
        .send()
        .await
        .unwrap();
    assert!(first.is_truncated());
    assert_eq!(first.resource_record_sets().len(), 2);
    let next = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .start_record_name(first.next_record_name().unwrap())
        .start_record_type(first.next_record_type().unwrap().clone())
        .set_start_record_identifier(first.next_record_identifier().map(str::to_owned))
        .send()
        .await
        .unwrap();
    let total = first.resource_record_sets().len() + next.resource_record_sets().len();
    assert_eq!(total, 5, "NS, SOA, www and two failover records");

    // A health check in use cannot be deleted; a zone with records cannot be either.
    let in_use = r53
        .delete_health_check()
        .health_check_id(health.id())
        .send()
        .await
        .unwrap_err();
    assert!(in_use.into_service_error().is_health_check_in_use());
    let not_empty = r53
        .delete_hosted_zone()
        .id(&zone_id)
        .send()
        .await
        .unwrap_err();
    assert!(not_empty.into_service_error().is_hosted_zone_not_empty());
}

#[tokio::test]
async fn health_check_settings_follow_route53_rules() {
    let sb = TestSandbox::start();
    let r53 = route53(&sb);
    let config = |threshold: i32| {
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::Https)
            .fully_qualified_domain_name("eu-west-1.api.wildrydes.test")
            .resource_path("/health")
            .request_interval(10)
            .failure_threshold(threshold)
            .build()
            .unwrap()
    };
    let one = r53
        .create_health_check()
        .caller_reference("same")
        .health_check_config(config(3))
        .send()
        .await
        .unwrap()
        .health_check
        .unwrap();
    let again = r53
        .create_health_check()
        .caller_reference("same")
        .health_check_config(config(3))
        .send()
        .await
        .unwrap()
        .health_check
        .unwrap();
    assert_eq!(
        one.id(),
        again.id(),
        "same CallerReference and config: the same check"
    );
    let clash = r53
        .create_health_check()
        .caller_reference("same")
        .health_check_config(config(5))
        .send()
        .await
        .unwrap_err();
    assert!(clash.into_service_error().is_health_check_already_exists());

    let stale = r53
        .update_health_check()
        .health_check_id(one.id())
        .health_check_version(7)
        .inverted(true)
        .send()
        .await
        .unwrap_err();
    assert!(
        stale
            .into_service_error()
            .is_health_check_version_mismatch()
    );
    let updated = r53
        .update_health_check()
        .health_check_id(one.id())
        .health_check_version(1)
        .inverted(true)
        .send()
        .await
        .unwrap()
        .health_check
        .unwrap();
    assert_eq!(updated.health_check_version(), 2);
    assert_eq!(
        updated.health_check_config().unwrap().inverted(),
        Some(true)
    );
    assert_eq!(
        r53.list_health_checks()
            .send()
            .await
            .unwrap()
            .health_checks()
            .len(),
        1
    );
    r53.delete_health_check()
        .health_check_id(one.id())
        .send()
        .await
        .unwrap();
    let gone = r53
        .get_health_check()
        .health_check_id(one.id())
        .send()
        .await
        .unwrap_err();
    assert!(gone.into_service_error().is_no_such_health_check());

    // Hostile endpoints: a non-loopback or malformed address, a port that
    // does not fit, a path or name that would inject into the checker's
    // request. Each is InvalidInput; nothing is created.
    let endpoint = |ip: Option<&str>, port: Option<i32>, path: &str, name: Option<&str>| {
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::Http)
            .set_ip_address(ip.map(str::to_owned))
            .set_port(port)
            .set_fully_qualified_domain_name(name.map(str::to_owned))
            .resource_path(path)
            .request_interval(10)
            .failure_threshold(3)
            .build()
            .unwrap()
    };
    for (n, bad) in [
        endpoint(Some("10.0.0.1"), None, "/health", None),
        endpoint(Some("192.0.2.7"), None, "/health", None),
        endpoint(Some("not-an-ip"), None, "/health", None),
        endpoint(Some("127.0.1.1"), Some(70_000), "/health", None),
        endpoint(Some("127.0.1.1"), Some(0), "/health", None),
        endpoint(Some("127.0.1.1"), None, "/health\r\nX-Injected: 1", None),
        endpoint(Some("127.0.1.1"), None, "/a path", None),
        endpoint(
            Some("127.0.1.1"),
            None,
            &format!("/{}", "x".repeat(300)),
            None,
        ),
        endpoint(None, None, "/health", Some("evil.example\r\nHost: x")),
    ]
    .into_iter()
    .enumerate()
    {
        let err = r53
            .create_health_check()
            .caller_reference(format!("bad-{n}"))
            .health_check_config(bad)
            .send()
            .await
            .expect_err("refused");
        assert!(err.into_service_error().is_invalid_input(), "case {n}");
    }
    assert!(
        r53.list_health_checks()
            .send()
            .await
            .unwrap()
            .health_checks()
            .is_empty()
    );
    r53.create_health_check()
        .caller_reference("loopback")
        .health_check_config(endpoint(
            Some("127.0.1.1"),
            Some(65_535),
            "/health?deep=1",
            None,
        ))
        .send()
        .await
        .expect("a loopback endpoint is fine");
}

#[tokio::test]
async fn checkers_flip_after_exactly_the_failure_threshold() {
    let sb = TestSandbox::start();
    let r53 = route53(&sb);
    let healthy = Arc::new(AtomicBool::new(true));
    let target = switchable_target(healthy.clone()).await;
    let check = target_check(&r53, "flip", target, 3).await;
    let control = sb.sandbox.control("global").unwrap();
    let report = || async { control.health_check(check.id()).await.ok() };

    eventually("every checker to probe once", WAIT, || async {
        let r = report().await?;
        let checkers = r["checkers"].as_array()?;
        (checkers.len() == 8
            && checkers
                .iter()
                .all(|c| !c["probes"].as_array().unwrap().is_empty()))
        .then_some(())
    })
    .await;
    let status = r53
        .get_health_check_status()
        .health_check_id(check.id())
        .send()
        .await
        .unwrap();
    assert_eq!(status.health_check_observations().len(), 8);
    assert!(status.health_check_observations().iter().all(|o| {
        o.status_report()
            .unwrap()
            .status()
            .unwrap()
            .starts_with("Success: HTTP Status Code 200, OK")
    }));

    healthy.store(false, Ordering::SeqCst);
    let down = eventually("the check to turn unhealthy", WAIT, || async {
        let r = report().await?;
        (r["healthy"] == false).then_some(r)
    })
    .await;
    assert_flipped_at_threshold(&down, false);
    let reasons = r53
        .get_health_check_last_failure_reason()
        .health_check_id(check.id())
        .send()
        .await
        .unwrap();
    assert!(reasons.health_check_observations().iter().any(|o| {
        o.status_report()
            .unwrap()
            .status()
            .unwrap()
            .starts_with("Failure: HTTP Status Code 503, Service Unavailable")
    }));

    healthy.store(true, Ordering::SeqCst);
    let up = eventually("the check to recover", WAIT, || async {
        let r = report().await?;
        (r["healthy"] == true
            && r["checkers"]
                .as_array()?
                .iter()
                .all(|c| c["healthy"] == true))
        .then_some(r)
    })
    .await;
    assert_flipped_at_threshold(&up, true);

    // Inverted: the same healthy target now counts as unhealthy.
    r53.update_health_check()
        .health_check_id(check.id())
        .inverted(true)
        .send()
        .await
        .unwrap();
    eventually("the inverted check to read unhealthy", WAIT, || async {
        (report().await?["healthy"] == false).then_some(())
    })
    .await;
    // Disabled (and not inverted): healthy whatever the target says.
    healthy.store(false, Ordering::SeqCst);
    r53.update_health_check()
        .health_check_id(check.id())
        .inverted(false)
        .disabled(true)
        .send()
        .await
        .unwrap();
    eventually("the disabled check to read healthy", WAIT, || async {
        (report().await?["healthy"] == true).then_some(())
    })
    .await;
}

/// Each checker's last flip to `to` happened on the third consecutive probe
/// that disagreed with it, about one interval apart.
fn assert_flipped_at_threshold(report: &Value, to: bool) {
    let threshold = report["failureThreshold"].as_u64().unwrap() as usize;
    let mut flipped = 0;
    for c in report["checkers"].as_array().unwrap() {
        let Some(flip) = c["flips"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|f| f["healthy"] == to)
        else {
            continue;
        };
        flipped += 1;
        let at = flip["atMs"].as_i64().unwrap();
        let probes: Vec<(i64, bool)> = c["probes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["atMs"].as_i64().unwrap(), p["healthy"].as_bool().unwrap()))
            .collect();
        let i = probes
            .iter()
            .position(|(t, _)| *t == at)
            .expect("the flip is a probe");
        assert!(i + 1 >= threshold, "{c}");
        let run = &probes[i + 1 - threshold..=i];
        assert!(
            run.iter().all(|(_, ok)| *ok == to),
            "the last {threshold} probes before the flip all agree: {c}"
        );
        if i >= threshold {
            assert_ne!(
                probes[i - threshold].1,
                to,
                "the flip came on exactly the {threshold}th: {c}"
            );
        }
        for w in run.windows(2) {
            let gap = w[1].0 - w[0].0;
            assert!(
                (800..=2000).contains(&gap),
                "probes one interval (1 s) apart, got {gap} ms: {c}"
            );
        }
    }
    // More than 82% must have flipped for the check's status to flip.
    assert!(flipped >= 7, "{report}");
}

/// `dig` against the sandbox's DNS: (status, answers as "ttl ip").
fn dig(sb: &TestSandbox, name: &str) -> (String, Vec<String>) {
    let port = sb
        .sandbox
        .state
        .topology
        .dns_port
        .expect("the sandbox runs DNS");
    let out = std::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+norecurse",
            "+tries=1",
            "+time=2",
            name,
            "A",
        ])
        .output()
        .expect("dig is installed (Debian's dnsutils; .ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .lines()
        .find_map(|l| {
            l.split("status: ")
                .nth(1)
                .map(|s| s.split(',').next().unwrap_or("").to_owned())
        })
        .unwrap_or_default();
    let answers = text
        .split(";; ANSWER SECTION:")
        .nth(1)
        .map(|sec| {
            sec.lines()
                .skip(1)
                .take_while(|l| !l.trim().is_empty())
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.len() >= 5).then(|| format!("{} {}", f[1], f[4]))
                })
                .collect()
        })
        .unwrap_or_default();
    (status, answers)
}

#[tokio::test]
async fn the_dns_server_answers_failover_records_as_health_changes() {
    let sb = TestSandbox::start();
    let r53 = route53(&sb);
    let zone_id = r53
        .create_hosted_zone()
        .name("wildrydes.test")
        .caller_reference("dns")
        .send()
        .await
        .unwrap()
        .hosted_zone
        .unwrap()
        .id;
    let mut www = a_record("www.wildrydes.test", "127.0.1.1");
    www.ttl = Some(42);
    apply(&r53, &zone_id, vec![change(ChangeAction::Create, www)])
        .await
        .unwrap();
    assert_eq!(
        dig(&sb, "www.wildrydes.test"),
        ("NOERROR".to_owned(), vec!["42 127.0.1.1".to_owned()])
    );
    assert_eq!(dig(&sb, "nothing.wildrydes.test").0, "NXDOMAIN");
    assert_eq!(dig(&sb, "example.org").0, "REFUSED");

    let healthy = Arc::new(AtomicBool::new(true));
    let target = switchable_target(healthy.clone()).await;
    let check = target_check(&r53, "primary", target, 2).await;
    apply(
        &r53,
        &zone_id,
        vec![
            change(
                ChangeAction::Create,
                failover(
                    "primary",
                    ResourceRecordSetFailover::Primary,
                    "d-abc.execute-api.eu-west-1.amazonaws.com",
                    Some(check.id()),
                ),
            ),
            change(
                ChangeAction::Create,
                failover(
                    "secondary",
                    ResourceRecordSetFailover::Secondary,
                    "d-def.execute-api.ap-southeast-1.amazonaws.com",
                    None,
                ),
            ),
        ],
    )
    .await
    .unwrap();
    let ip = |sb: &TestSandbox| {
        dig(sb, "api.wildrydes.test")
            .1
            .first()
            .map(|a| a.split(' ').nth(1).unwrap().to_owned())
    };
    assert_eq!(
        ip(&sb).as_deref(),
        Some("127.0.1.1"),
        "the healthy primary's region"
    );
    // The same answers through hickory-resolver, with its cache off.
    let resolver = {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig};
        let mut server = NameServerConfig::udp(std::net::IpAddr::from([127, 0, 0, 1]));
        for connection in &mut server.connections {
            connection.port = sb.sandbox.state.topology.dns_port.unwrap();
        }
        let mut builder = hickory_resolver::Resolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![server]),
            hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
        );
        builder.options_mut().cache_size = 0;
        builder.build().unwrap()
    };
    let resolved = || {
        let resolver = resolver.clone();
        async move {
            resolver
                .lookup_ip("api.wildrydes.test.")
                .await
                .ok()?
                .iter()
                .next()
        }
    };
    assert_eq!(
        resolved().await,
        Some(std::net::IpAddr::from([127, 0, 1, 1]))
    );
    healthy.store(false, Ordering::SeqCst);
    eventually("DNS to fail over", WAIT, || async {
        (ip(&sb).as_deref() == Some("127.0.1.2")).then_some(())
    })
    .await;
    assert_eq!(
        resolved().await,
        Some(std::net::IpAddr::from([127, 0, 1, 2]))
    );
    healthy.store(true, Ordering::SeqCst);
    eventually("DNS to fail back", WAIT, || async {
        (ip(&sb).as_deref() == Some("127.0.1.1")).then_some(())
    })
    .await;
}
