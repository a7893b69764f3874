//! `wildrydes up` and `down` through the real binary against a real
//! sandbox: every resource checked through the SDK, a re-run that writes
//! nothing, a code change that touches only the functions, a failed step
//! that a re-run resumes from, the path a user takes through the edge, and
//! a `down` that leaves nothing and can be repeated.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    APP_ID, PRIMARY, SECONDARY, TestSandbox, eventually, facebook_login, signed_call,
    ticket_bootstrap,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn run(sb: &TestSandbox, args: &[&str], binary: &std::path::Path) -> (Option<i32>, Value) {
    let out = sb.cli_with(
        args,
        &[
            ("WILDRYDES_LAMBDA_BINARY", binary.to_str().unwrap()),
            ("WILDRYDES_FACEBOOK_APP_ID", APP_ID),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), doc)
}

/// step key → action.
fn actions(doc: &Value) -> BTreeMap<String, String> {
    doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["action"].as_str().unwrap_or("none").to_owned(),
            )
        })
        .collect()
}

fn writes(doc: &Value) -> BTreeMap<String, u64> {
    serde_json::from_value(doc["calls"]["writes"].clone()).unwrap()
}

#[tokio::test]
async fn up_deploys_both_regions_idempotently_and_down_removes_it_all() {
    let sb = TestSandbox::start();
    let bootstrap = ticket_bootstrap();

    // A dry run on an empty sandbox plans everything and writes nothing.
    let (code, plan) = run(&sb, &["up", "--dry-run", "--json"], &bootstrap);
    assert_eq!(code, Some(0), "{plan:#}");
    assert!(writes(&plan).is_empty(), "{:?}", writes(&plan));
    assert!(
        actions(&plan).values().all(|a| a == "would-create"),
        "{:?}",
        actions(&plan)
    );

    let (code, first) = run(&sb, &["up", "--json"], &bootstrap);
    assert_eq!(code, Some(0), "{first:#}");
    let created = actions(&first);
    assert_eq!(created["table"], "created");
    assert_eq!(created["replica"], "created");
    assert_eq!(created[&format!("function/{SECONDARY}")], "created");
    assert!(created.values().all(|a| a != "none"), "{created:?}");

    // Every resource, through the SDK.
    let table = sb
        .dynamodb(PRIMARY)
        .describe_table()
        .table_name("wildrydes-tickets")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let replicas: Vec<_> = table
        .replicas()
        .iter()
        .map(|r| {
            (
                r.region_name().unwrap().to_owned(),
                r.replica_status().unwrap().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(replicas, [(SECONDARY.to_owned(), "ACTIVE".to_owned())]);
    let code_sha = first["lambda"]["codeSha256"].as_str().unwrap().to_owned();
    for region in [PRIMARY, SECONDARY] {
        let f = sb
            .lambda(region)
            .get_function()
            .function_name("wildrydes-tickets")
            .send()
            .await
            .unwrap();
        let c = f.configuration().unwrap();
        assert_eq!(c.code_sha256(), Some(code_sha.as_str()));
        let env = c.environment().unwrap().variables().unwrap();
        assert_eq!(env["TABLE_NAME"], "wildrydes-tickets");
        assert!(
            env["ALLOWED_ORIGIN"].contains(".cloudfront.localhost:"),
            "{env:?}"
        );
        assert_eq!(f.tags().unwrap()["wildrydes:stack"], "wildrydes");
        let domain = sb
            .apigateway(region)
            .get_domain_name()
            .domain_name(format!("{region}.api.wildrydes.test"))
            .send()
            .await
            .unwrap();
        assert!(
            domain
                .regional_domain_name()
                .unwrap()
                .contains(&format!(".execute-api.{region}."))
        );
    }
    let r53 = sb.route53();
    let checks = r53.list_health_checks().send().await.unwrap();
    let check = &checks.health_checks()[0];
    assert_eq!(
        check
            .health_check_config()
            .unwrap()
            .fully_qualified_domain_name(),
        Some("eu-west-1.api.wildrydes.test")
    );
    // The primary's health check goes healthy through the real data path.
    let control = sb.sandbox.control("global").unwrap();
    eventually("the health check to be healthy", WAIT, || async {
        let v = control.health_check(check.id()).await.ok()?;
        (v["healthy"] == true).then_some(())
    })
    .await;
    let pool = first["next"]["identityPoolId"].as_str().unwrap().to_owned();
    let web = first["next"]["webUrl"].as_str().unwrap().to_owned();
    // `*.localhost` resolves in browsers, not through the C library: ask
    // the CloudFront edge by address with the distribution's Host.
    let host = web
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let port = host.rsplit_once(':').unwrap().1;
    let config_js = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/config.js"))
        .header("host", &host)
        .send()
        .await
        .unwrap();
    assert_eq!(config_js.status(), 200);
    let config_js = config_js.text().await.unwrap();
    assert!(config_js.contains(&pool), "{config_js}");

    // Again: every step unchanged, not one write call.
    let (code, again) = run(&sb, &["up", "--json"], &bootstrap);
    assert_eq!(code, Some(0), "{again:#}");
    assert!(
        actions(&again).values().all(|a| a == "unchanged"),
        "{:?}",
        actions(&again)
    );
    assert!(writes(&again).is_empty(), "{:?}", writes(&again));

    // New code: only the two functions change.
    let changed = sb.dir.path().join("bootstrap-v2");
    let mut bytes = std::fs::read(&bootstrap).unwrap();
    bytes.extend_from_slice(b"\0wildrydes test padding");
    std::fs::write(&changed, bytes).unwrap();
    let (code, update) = run(&sb, &["up", "--json"], &changed);
    assert_eq!(code, Some(0), "{update:#}");
    let updated: Vec<String> = actions(&update)
        .into_iter()
        .filter(|(_, a)| a != "unchanged")
        .map(|(k, a)| format!("{k}={a}"))
        .collect();
    assert_eq!(
        updated,
        [
            format!("function/{SECONDARY}=updated"),
            format!("function/{PRIMARY}=updated")
        ]
    );
    assert_eq!(
        writes(&update),
        BTreeMap::from([("Lambda:UpdateFunctionCode".to_owned(), 2)])
    );

    // The user's path: the Facebook stand-in, Cognito, a signed request
    // through the edge proxy, the ticket replicated to the secondary.
    let (creds, _identity) = facebook_login(&sb, &pool, "10000000077").await;
    // Tickets are the login's (README, "Identity across regions").
    let owner = format!("graph.facebook.com:{APP_ID}:10000000077");
    let api = first["next"]["apiUrl"].as_str().unwrap();
    let body = r#"{"description":"Deployed by up","priority":"high"}"#;
    let resp = signed_call(
        &format!("{api}/tickets"),
        "POST",
        None,
        PRIMARY,
        &creds,
        Some(body),
    )
    .await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    assert_eq!(resp.headers()["x-wildrydes-resolved-region"], PRIMARY);
    let origin = resp.headers()["access-control-allow-origin"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(format!("{origin}/"), web);
    let resp = signed_call(
        &format!("{api}/tickets"),
        "GET",
        None,
        PRIMARY,
        &creds,
        None,
    )
    .await;
    let listed: Value = resp.json().await.unwrap();
    assert_eq!(listed["tickets"][0]["description"], "Deployed by up");
    let secondary = sb.dynamodb(SECONDARY);
    eventually("the ticket to reach the secondary", WAIT, || async {
        let q = secondary
            .query()
            .table_name("wildrydes-tickets")
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(
                ":o",
                aws_sdk_dynamodb::types::AttributeValue::S(owner.clone()),
            )
            .send()
            .await
            .ok()?;
        (q.count() == 1).then_some(())
    })
    .await;

    // down: everything goes, and again finds nothing.
    let (code, down) = run(&sb, &["down", "--json"], &bootstrap);
    assert_eq!(code, Some(0), "{down:#}");
    assert!(
        actions(&down).values().all(|a| a == "deleted"),
        "{:?}",
        actions(&down)
    );
    let (code, again) = run(&sb, &["down", "--json"], &bootstrap);
    assert_eq!(code, Some(0));
    assert!(
        actions(&again).values().all(|a| a == "absent"),
        "{:?}",
        actions(&again)
    );
    assert!(writes(&again).is_empty());
    for region in [PRIMARY, SECONDARY] {
        let tables = sb.dynamodb(region).list_tables().send().await.unwrap();
        assert!(tables.table_names().is_empty(), "{region}: {tables:?}");
        let functions = sb.lambda(region).list_functions().send().await.unwrap();
        assert!(functions.functions().is_empty());
        let apis = sb.apigateway(region).get_rest_apis().send().await.unwrap();
        assert!(apis.items().is_empty());
        let certs = sb.acm(region).list_certificates().send().await.unwrap();
        assert!(certs.certificate_summary_list().is_empty());
    }
    assert!(
        r53.list_hosted_zones()
            .send()
            .await
            .unwrap()
            .hosted_zones()
            .is_empty()
    );
    assert!(
        r53.list_health_checks()
            .send()
            .await
            .unwrap()
            .health_checks()
            .is_empty()
    );
    for role in ["wildrydes-tickets-lambda", "wildrydes-authenticated"] {
        let err = sb
            .iam()
            .get_role()
            .role_name(role)
            .send()
            .await
            .unwrap_err();
        assert!(
            err.into_service_error().is_no_such_entity_exception(),
            "{role}"
        );
    }
}

#[tokio::test]
async fn a_failed_step_stops_only_its_dependents_and_a_rerun_resumes() {
    let sb = TestSandbox::start();
    let bootstrap = ticket_bootstrap();
    // A role of the stack's name that the stack did not make: up must not
    // adopt it.
    let iam = sb.iam();
    iam.create_role()
        .role_name("wildrydes-tickets-lambda")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    let (code, failed) = run(&sb, &["up", "--json"], &bootstrap);
    assert_eq!(code, Some(1), "{failed:#}");
    let steps = failed["steps"].as_array().unwrap();
    let by_key = |k: &str| steps.iter().find(|s| s["step"] == k).unwrap().clone();
    assert!(
        by_key("lambda-role")["error"]
            .as_str()
            .unwrap()
            .contains("not stack wildrydes's")
    );
    assert_eq!(
        by_key(&format!("function/{PRIMARY}"))["blockedBy"],
        "lambda-role"
    );
    assert_eq!(
        by_key(&format!("api/{SECONDARY}"))["blockedBy"],
        format!("function/{SECONDARY}")
    );
    // Steps that do not depend on the role went ahead.
    for done in [
        "table",
        "replica",
        "zone",
        "bucket",
        "distribution",
        &format!("identity-pool/{PRIMARY}"),
        &format!("identity-pool/{SECONDARY}"),
    ] {
        assert_eq!(by_key(done)["action"], "created", "{done}");
    }

    // `down` leaves the stranger's role alone.
    let (_, down) = run(&sb, &["down", "--dry-run", "--json"], &bootstrap);
    let role = down["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "lambda-role")
        .unwrap()
        .clone();
    assert_eq!(role["action"], "kept");

    iam.delete_role()
        .role_name("wildrydes-tickets-lambda")
        .send()
        .await
        .unwrap();
    let (code, resumed) = run(&sb, &["up", "--json"], &bootstrap);
    assert_eq!(code, Some(0), "{resumed:#}");
    let acts = actions(&resumed);
    assert_eq!(acts["table"], "unchanged");
    assert_eq!(acts["lambda-role"], "created");
    assert_eq!(acts[&format!("function/{PRIMARY}")], "created");
}

#[tokio::test]
async fn records_the_stack_did_not_make_are_neither_replaced_nor_deleted() {
    use aws_sdk_route53::types::{ChangeAction, ResourceRecord, ResourceRecordSet, RrType};
    let sb = TestSandbox::start();
    let bootstrap = ticket_bootstrap();
    // Someone else's zone, with someone else's record at the API's name.
    let zone = common::hosted_zone(&sb, "wildrydes.test").await;
    let foreign = ResourceRecordSet::builder()
        .name("api.wildrydes.test")
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(
            ResourceRecord::builder()
                .value("192.0.2.7")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    common::change_record(&sb, &zone, ChangeAction::Create, foreign).await;
    let (code, up) = run(&sb, &["up", "--json"], &bootstrap);
    assert_eq!(code, Some(1), "{up:#}");
    let failover = up["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "failover-records")
        .unwrap()
        .clone();
    assert!(
        failover["error"]
            .as_str()
            .unwrap()
            .contains("record the stack did not make"),
        "{failover:#}"
    );
    let (code, down) = run(&sb, &["down", "--json"], &bootstrap);
    assert_eq!(code, Some(0), "{down:#}");
    let acts = actions(&down);
    assert_eq!(acts["zone"], "kept", "the zone predates the stack");
    let left = sb
        .route53()
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .send()
        .await
        .unwrap();
    let names: Vec<String> = left
        .resource_record_sets()
        .iter()
        .map(|r| format!("{} {}", r.name(), r.r#type().as_str()))
        .collect();
    assert!(
        names.contains(&"api.wildrydes.test. A".to_owned()),
        "the foreign record stays: {names:?}"
    );
    assert_eq!(
        names.len(),
        3,
        "SOA, NS and the foreign record only: {names:?}"
    );
}
