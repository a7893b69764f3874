//! The sandbox core through the official AWS SDK clients against a real
//! sandbox on an ephemeral port: DynamoDB and Streams, SigV4 failures,
//! region isolation, global-table replication, resource-policy pauses,
//! outages, IAM and STS, and data surviving a restart.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReplicationGroupUpdate, StreamViewType};
use common::{
    PRIMARY, SECONDARY, TICKETS_TABLE as TABLE, TestSandbox, add_replica, create_table, eventually,
    global_table, item_key, put_text, set_delay, stream_records, text_of,
};
use serde_json::Value;
use wildrydes_sandbox::launcher::{self, Sandbox, Started};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn dynamodb_operations_pass_through_with_region_arns() {
    let sb = TestSandbox::start();
    let eu = sb.dynamodb(PRIMARY);
    create_table(&eu, TABLE, true).await;
    let desc = eu
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        desc.table_arn(),
        Some("arn:aws:dynamodb:eu-west-1:000000000000:table/wildrydes-tickets")
    );
    let stream_arn = desc.latest_stream_arn().unwrap().to_owned();
    assert!(
        stream_arn.starts_with("arn:aws:dynamodb:eu-west-1:"),
        "{stream_arn}"
    );

    put_text(&eu, "1", "one").await;
    put_text(&eu, "2", "two").await;
    assert_eq!(text_of(&eu, "1").await.as_deref(), Some("one"));
    eu.update_item()
        .table_name(TABLE)
        .set_key(Some(item_key("alice", "1")))
        .update_expression("SET #t = :t")
        .expression_attribute_names("#t", "text")
        .expression_attribute_values(":t", AttributeValue::S("uno".into()))
        .send()
        .await
        .unwrap();
    let q = eu
        .query()
        .table_name(TABLE)
        .key_condition_expression("#o = :o")
        .expression_attribute_names("#o", "owner")
        .expression_attribute_values(":o", AttributeValue::S("alice".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(q.count, 2);
    // A failed condition maps to the SDK's modelled error.
    let err = eu
        .put_item()
        .table_name(TABLE)
        .set_item(Some(item_key("alice", "1")))
        .condition_expression("attribute_not_exists(id)")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_conditional_check_failed_exception()
    );
    eu.delete_item()
        .table_name(TABLE)
        .set_key(Some(item_key("alice", "2")))
        .send()
        .await
        .unwrap();

    // Streams, with the region's ARNs and awsRegion.
    let streams = sb.streams(PRIMARY);
    let shard = streams
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .unwrap();
    let shard_id = shard.stream_description.unwrap().shards.unwrap()[0]
        .shard_id
        .clone()
        .unwrap();
    let it = streams
        .get_shard_iterator()
        .stream_arn(&stream_arn)
        .shard_id(shard_id)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let records = streams
        .get_records()
        .shard_iterator(it)
        .send()
        .await
        .unwrap()
        .records
        .unwrap();
    let events: Vec<&str> = records
        .iter()
        .map(|r| r.event_name.as_ref().unwrap().as_str())
        .collect();
    assert_eq!(events, ["INSERT", "INSERT", "MODIFY", "REMOVE"]);
    assert!(records.iter().all(|r| r.aws_region() == Some(PRIMARY)));
    assert!(
        records.iter().all(|r| r.user_identity.is_none()),
        "client writes carry no service identity"
    );

    let missing = eu
        .describe_table()
        .table_name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .into_service_error()
            .is_resource_not_found_exception()
    );
}

#[tokio::test]
async fn regions_are_isolated() {
    let sb = TestSandbox::start();
    create_table(&sb.dynamodb(PRIMARY), TABLE, false).await;
    let ap = sb.dynamodb(SECONDARY);
    assert!(
        ap.list_tables()
            .send()
            .await
            .unwrap()
            .table_names()
            .is_empty()
    );
    let err = ap
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn sigv4_failures_get_the_errors_dynamodb_gives() {
    let sb = TestSandbox::start();
    let endpoint = sb.sandbox.state.topology.region(PRIMARY).unwrap().url();
    let code = |e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::list_tables::ListTablesError,
    >| { aws_sdk_dynamodb::error::ProvideErrorMetadata::code(e).map(str::to_owned) };

    // Unsigned.
    let raw = reqwest::Client::new()
        .post(&endpoint)
        .header("x-amz-target", "DynamoDB_20120810.ListTables")
        .header("content-type", "application/x-amz-json-1.0")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#MissingAuthenticationTokenException"
    );

    // Unknown key.
    let stranger =
        aws_credential_types::Credentials::new("AKIAUNKNOWNKEY000000", "x", None, None, "t");
    let client = aws_sdk_dynamodb::Client::new(&sb.config_with(PRIMARY, PRIMARY, stranger));
    let err = client.list_tables().send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("UnrecognizedClientException"));

    // Wrong secret.
    let wrong = aws_credential_types::Credentials::new(
        &sb.sandbox.secrets.access_key_id,
        "not-the-secret",
        None,
        None,
        "t",
    );
    let client = aws_sdk_dynamodb::Client::new(&sb.config_with(PRIMARY, PRIMARY, wrong));
    let err = client.list_tables().send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("InvalidSignatureException"));

    // Signed for the other region.
    let client =
        aws_sdk_dynamodb::Client::new(&sb.config_with(PRIMARY, SECONDARY, sb.credentials()));
    let err = client.list_tables().send().await.unwrap_err();
    assert_eq!(code(&err).as_deref(), Some("InvalidSignatureException"));
    let message = aws_sdk_dynamodb::error::ProvideErrorMetadata::message(&err)
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("Credential should be scoped to a valid region, not 'ap-southeast-1'"),
        "{message}"
    );

    // Signed 20 minutes ago: outside DynamoDB's 15-minute window.
    let then = std::time::SystemTime::now() - Duration::from_secs(20 * 60);
    let resp = signed_request(
        &sb,
        &endpoint,
        "dynamodb",
        PRIMARY,
        then,
        "DynamoDB_20120810.ListTables",
    )
    .await;
    assert_eq!(resp.0, 400);
    assert_eq!(
        resp.1["__type"],
        "com.amazon.coral.service#InvalidSignatureException"
    );
    assert!(
        resp.1["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired:"),
        "{}",
        resp.1
    );
    // And the same request signed now goes through.
    let now = signed_request(
        &sb,
        &endpoint,
        "dynamodb",
        PRIMARY,
        std::time::SystemTime::now(),
        "DynamoDB_20120810.ListTables",
    )
    .await;
    assert_eq!(now.0, 200, "{}", now.1);
}

/// A request signed with aws-sigv4 at a chosen time.
async fn signed_request(
    sb: &TestSandbox,
    endpoint: &str,
    service: &str,
    region: &str,
    at: std::time::SystemTime,
    target: &str,
) -> (u16, Value) {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = sb.credentials().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = endpoint.trim_start_matches("http://").to_owned();
    let headers = [
        ("host", host.as_str()),
        ("x-amz-target", target),
        ("content-type", "application/x-amz-json-1.0"),
    ];
    let signable = SignableRequest::new(
        "POST",
        format!("{endpoint}/"),
        headers.into_iter(),
        SignableBody::Bytes(b"{}"),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("{endpoint}/"));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    let mut builder = reqwest::Client::new().post(format!("{endpoint}/"));
    for (k, v) in req.headers() {
        builder = builder.header(k.as_str(), v.to_str().unwrap());
    }
    let resp = builder.body("{}").send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn replication_runs_both_ways_with_backfill_and_no_echo() {
    let sb = TestSandbox::start();
    set_delay(&sb, PRIMARY, 0, 0).await;
    set_delay(&sb, SECONDARY, 0, 0).await;
    let (eu, ap) = (sb.dynamodb(PRIMARY), sb.dynamodb(SECONDARY));
    // A table without a stream: adding a replica turns it on, as on AWS.
    create_table(&eu, TABLE, false).await;
    put_text(&eu, "before", "written before the replica existed").await;
    add_replica(&eu).await;

    let ap_desc = ap
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(ap_desc.global_table_version(), Some("2019.11.21"));
    assert_eq!(ap_desc.replicas()[0].region_name(), Some(PRIMARY));
    let eu_desc = eu
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        eu_desc.stream_specification().unwrap().stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );

    assert_eq!(
        eventually("the backfill", WAIT, || async {
            text_of(&ap, "before").await
        })
        .await,
        "written before the replica existed"
    );
    put_text(&eu, "a", "from eu").await;
    put_text(&ap, "b", "from ap").await;
    eventually("eu -> ap", WAIT, || async { text_of(&ap, "a").await }).await;
    eventually("ap -> eu", WAIT, || async { text_of(&eu, "b").await }).await;

    // Deletes replicate too.
    eu.delete_item()
        .table_name(TABLE)
        .set_key(Some(item_key("alice", "a")))
        .send()
        .await
        .unwrap();
    eventually("the delete to reach ap", WAIT, || async {
        text_of(&ap, "a").await.is_none().then_some(())
    })
    .await;

    // No echo: eu's stream holds its own two writes of "a" and the applied
    // write of "b" marked as replication, nothing bounced back from ap.
    let records = stream_records(&sb, PRIMARY, TABLE).await;
    let of = |id: &str| {
        records
            .iter()
            .filter(|(k, _, _)| k == id)
            .map(|(_, e, who)| (e.clone(), who.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of("a"),
        [("INSERT".to_owned(), None), ("REMOVE".to_owned(), None)]
    );
    assert_eq!(
        of("b"),
        [(
            "INSERT".to_owned(),
            Some("replication.dynamodb.amazonaws.com".to_owned())
        )]
    );
    // Backfilled and replicated writes in ap are marked the same way.
    let ap_records = stream_records(&sb, SECONDARY, TABLE).await;
    assert!(
        ap_records
            .iter()
            .filter(|(k, _, _)| k == "a")
            .all(|(_, _, who)| who.is_some())
    );

    // Replica removal deletes the ap table.
    eu.update_table()
        .table_name(TABLE)
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .delete(
                    aws_sdk_dynamodb::types::DeleteReplicationGroupMemberAction::builder()
                        .region_name(SECONDARY)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        ap.list_tables()
            .send()
            .await
            .unwrap()
            .table_names()
            .is_empty()
    );
    let desc = eu
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert!(desc.replicas().is_empty());
}

#[tokio::test]
async fn concurrent_writes_resolve_to_the_last_writer_in_both_regions() {
    let sb = TestSandbox::start();
    let (eu, ap) = global_table(&sb).await;
    // Hold replication so both writes happen before either side sees the other.
    set_delay(&sb, PRIMARY, 1500, 0).await;
    set_delay(&sb, SECONDARY, 1500, 0).await;
    put_text(&eu, "k", "eu wrote first").await;
    put_text(&ap, "k", "ap wrote last").await;
    for (name, client) in [(PRIMARY, &eu), (SECONDARY, &ap)] {
        eventually(&format!("{name} to converge"), WAIT, || async {
            (text_of(client, "k").await.as_deref() == Some("ap wrote last")).then_some(())
        })
        .await;
    }
    // Converged and stays converged: both regions report everything applied.
    for region in [PRIMARY, SECONDARY] {
        eventually("replication to drain", WAIT, || async {
            let (_, subs) = sb.sandbox.replication(region).await.ok()?;
            subs.iter().all(|s| s.caught_up).then_some(())
        })
        .await;
    }
    assert_eq!(text_of(&eu, "k").await.as_deref(), Some("ap wrote last"));
    assert_eq!(text_of(&ap, "k").await.as_deref(), Some("ap wrote last"));
}

#[tokio::test]
async fn replication_catches_up_after_a_frozen_and_a_killed_region() {
    let mut sb = TestSandbox::start();
    let (eu, ap) = global_table(&sb).await;

    sb.freeze(SECONDARY);
    put_text(&eu, "while-frozen", "written while ap was frozen").await;
    sb.thaw(SECONDARY);
    eventually("catch-up after a freeze", WAIT, || async {
        text_of(&ap, "while-frozen").await
    })
    .await;

    sb.kill(SECONDARY);
    put_text(&eu, "while-dead", "written while ap was down").await;
    sb.revive(SECONDARY).await;
    eventually("catch-up after a kill", WAIT, || async {
        text_of(&ap, "while-dead").await
    })
    .await;
    // ap's own writes made while eu is down reach eu after it returns.
    sb.kill(PRIMARY);
    put_text(&ap, "eu-was-down", "written while eu was down").await;
    sb.revive(PRIMARY).await;
    eventually("catch-up into a revived region", WAIT, || async {
        text_of(&eu, "eu-was-down").await
    })
    .await;
}

#[tokio::test]
async fn a_resource_policy_denying_the_replication_service_pauses_replication() {
    let sb = TestSandbox::start();
    let (eu, ap) = global_table(&sb).await;
    let arn = "arn:aws:dynamodb:ap-southeast-1:000000000000:table/wildrydes-tickets";
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DoNotModifyFisDynamoDbPauseReplicationEXPtestServicePrincipal",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["dynamodb:ReadDataForReplication", "dynamodb:WriteDataForReplication"],
            "Resource": arn,
            "Condition": {
                "StringEquals": {"aws:PrincipalServiceName": "replication.dynamodb.amazonaws.com"},
                "DateLessThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"}
            }
        }]
    });
    let put_out = ap
        .put_resource_policy()
        .resource_arn(arn)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let got = ap
        .get_resource_policy()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.revision_id(), put_out.revision_id());

    put_text(&eu, "paused", "held back by the policy").await;
    eventually("the subscription to report the pause", WAIT, || async {
        let (_, subs) = sb.sandbox.replication(SECONDARY).await.ok()?;
        subs.iter().find(|s| s.source == PRIMARY)?.paused.clone()
    })
    .await;
    assert_eq!(
        text_of(&ap, "paused").await,
        None,
        "nothing is applied while paused"
    );

    ap.delete_resource_policy()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    eventually("replication to resume", WAIT, || async {
        text_of(&ap, "paused").await
    })
    .await;
    let err = ap
        .get_resource_policy()
        .resource_arn(arn)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_policy_not_found_exception());
}

#[tokio::test]
async fn iam_and_sts_issue_credentials_the_sandbox_accepts() {
    let sb = TestSandbox::start();
    let iam = sb.iam();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role = iam
        .create_role()
        .role_name("wildrydes-lambda")
        .assume_role_policy_document(trust)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("wildrydes:stack")
                .value("wildrydes")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(
        role.arn(),
        "arn:aws:iam::000000000000:role/wildrydes-lambda"
    );
    let dup = iam
        .create_role()
        .role_name("wildrydes-lambda")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap_err();
    assert!(
        dup.into_service_error()
            .is_entity_already_exists_exception()
    );
    let got = iam
        .get_role()
        .role_name("wildrydes-lambda")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(got.tags()[0].key(), "wildrydes:stack");

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*"}]}"#;
    iam.put_role_policy()
        .role_name("wildrydes-lambda")
        .policy_name("tickets")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    let doc = iam
        .get_role_policy()
        .role_name("wildrydes-lambda")
        .policy_name("tickets")
        .send()
        .await
        .unwrap();
    assert_eq!(
        doc.policy_document(),
        "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22dynamodb%3AGetItem%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"
    );
    let basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
    iam.attach_role_policy()
        .role_name("wildrydes-lambda")
        .policy_arn(basic)
        .send()
        .await
        .unwrap();
    let attached = iam
        .list_attached_role_policies()
        .role_name("wildrydes-lambda")
        .send()
        .await
        .unwrap();
    assert_eq!(
        attached.attached_policies()[0].policy_name(),
        Some("AWSLambdaBasicExecutionRole")
    );
    let conflict = iam
        .delete_role()
        .role_name("wildrydes-lambda")
        .send()
        .await
        .unwrap_err();
    assert!(conflict.into_service_error().is_delete_conflict_exception());

    // The role's trust names only Lambda: nobody else may assume it, the
    // operator included, until it names the account.
    let sts = sb.sts();
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("000000000000"));
    let refused = sts
        .assume_role()
        .role_arn(role.arn())
        .role_session_name("probe")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&refused),
        Some("AccessDenied")
    );
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::message(&refused),
        Some(
            "User: arn:aws:iam::000000000000:user/wildrydes-sandbox is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/wildrydes-lambda"
        )
    );
    let trust_account = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;
    iam.update_assume_role_policy()
        .role_name("wildrydes-lambda")
        .policy_document(trust_account)
        .send()
        .await
        .unwrap();
    let creds = sts
        .assume_role()
        .role_arn(role.arn())
        .role_session_name("probe")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let temp = aws_credential_types::Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
        None,
        "sts",
    );
    // Its credentials are accepted, and get what its policies allow:
    // GetItem (here on a table that does not exist), nothing else.
    let ddb = aws_sdk_dynamodb::Client::new(&sb.config_with(PRIMARY, PRIMARY, temp.clone()));
    let missing = ddb
        .get_item()
        .table_name("no-such-table")
        .key("owner", AttributeValue::S("o".into()))
        .key("id", AttributeValue::S("i".into()))
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .into_service_error()
            .is_resource_not_found_exception(),
        "GetItem is allowed, so the table's absence is what answers"
    );
    let denied = ddb.list_tables().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&denied),
        Some("AccessDeniedException")
    );
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::message(&denied),
        Some(
            "User: arn:aws:sts::000000000000:assumed-role/wildrydes-lambda/probe is not authorized to perform: dynamodb:ListTables on resource: * because no identity-based policy allows the dynamodb:ListTables action"
        )
    );
    let who = aws_sdk_sts::Client::new(&sb.config_with("global", PRIMARY, temp))
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        who.arn(),
        Some("arn:aws:sts::000000000000:assumed-role/wildrydes-lambda/probe")
    );
    // A forged session token is refused.
    let forged = aws_credential_types::Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(format!("x{}", creds.session_token())),
        None,
        "forged",
    );
    let err = aws_sdk_dynamodb::Client::new(&sb.config_with(PRIMARY, PRIMARY, forged))
        .list_tables()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&err),
        Some("UnrecognizedClientException")
    );

    iam.detach_role_policy()
        .role_name("wildrydes-lambda")
        .policy_arn(basic)
        .send()
        .await
        .unwrap();
    iam.delete_role_policy()
        .role_name("wildrydes-lambda")
        .policy_name("tickets")
        .send()
        .await
        .unwrap();
    iam.delete_role()
        .role_name("wildrydes-lambda")
        .send()
        .await
        .unwrap();
    let gone = iam
        .get_role()
        .role_name("wildrydes-lambda")
        .send()
        .await
        .unwrap_err();
    assert!(gone.into_service_error().is_no_such_entity_exception());
    // IAM must be signed for us-east-1.
    let wrong = aws_sdk_iam::Client::new(&sb.config_with("global", PRIMARY, sb.credentials()));
    let err = wrong.get_role().role_name("x").send().await.unwrap_err();
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&err),
        Some("SignatureDoesNotMatch")
    );
}

#[tokio::test]
async fn data_survives_stop_and_start_and_start_is_idempotent() {
    let mut sb = TestSandbox::start();
    let (eu, _) = global_table(&sb).await;
    put_text(&eu, "durable", "still here").await;
    let (_, again) = sb.start_again().await;
    assert_eq!(again, Started::Reused);

    let before = sb.sandbox.state.topology.clone();
    let stopped = launcher::stop(&sb.root).expect("stop");
    assert_eq!(stopped.len(), 3, "{stopped:?}");
    assert!(
        Sandbox::open(&sb.root).expect("state").is_none(),
        "a stopped sandbox has no running state"
    );
    let (sandbox, started) = sb.start_again().await;
    assert_eq!(started, Started::Started);
    sb.sandbox = sandbox;
    // The DNS, edge and CloudFront addresses outlive the restart.
    let after = &sb.sandbox.state.topology;
    assert_eq!(
        (after.dns_port, after.edge_port, after.cdn_port),
        (before.dns_port, before.edge_port, before.cdn_port)
    );
    let eu = sb.dynamodb(PRIMARY);
    let ap = sb.dynamodb(SECONDARY);
    assert_eq!(text_of(&eu, "durable").await.as_deref(), Some("still here"));
    // Replication resumes after the restart.
    put_text(&eu, "after-restart", "replicated after a restart").await;
    eventually("replication after restart", WAIT, || async {
        text_of(&ap, "after-restart").await
    })
    .await;
    let processes = sb.sandbox.status().await;
    assert_eq!(processes.len(), 3);
    assert!(
        processes.iter().all(|p| p.state == "running"),
        "{processes:?}"
    );
}

#[tokio::test]
async fn the_sandbox_directory_and_everything_in_it_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let sb = TestSandbox::start();
    // Some of everything: global tables (SQLite files in both regions,
    // replication state), IAM roles, logs.
    global_table(&sb).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sb.root), 0o700, "the sandbox directory");
    assert_eq!(mode(&sb.root.join("credentials.json")), 0o600);
    let mut open = Vec::new();
    let mut stack = vec![sb.root.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
            } else {
                files += 1;
            }
            if meta.permissions().mode() & 0o077 != 0 {
                open.push(format!(
                    "{:o} {}",
                    meta.permissions().mode() & 0o777,
                    path.display()
                ));
            }
        }
    }
    assert!(files > 10, "only {files} files");
    assert!(open.is_empty(), "readable by others: {open:#?}");
}

#[tokio::test]
async fn a_stream_policy_denying_the_replication_service_pauses_reads_from_the_source() {
    let sb = TestSandbox::start();
    let (eu, ap) = global_table(&sb).await;
    let stream_arn = eu
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .latest_stream_arn
        .unwrap();
    // FIS's stream statement: deny the stream actions to the replication role.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["dynamodb:GetRecords", "dynamodb:DescribeStream", "dynamodb:GetShardIterator"],
            "Resource": stream_arn,
            "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::000000000000:role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication"}}
        }]
    });
    eu.put_resource_policy()
        .resource_arn(&stream_arn)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    put_text(&eu, "held", "held at the source").await;
    let reason = eventually("ap to report the source's refusal", WAIT, || async {
        let (_, subs) = sb.sandbox.replication(SECONDARY).await.ok()?;
        subs.iter().find(|s| s.source == PRIMARY)?.paused.clone()
    })
    .await;
    assert!(reason.contains(PRIMARY), "{reason}");
    assert_eq!(text_of(&ap, "held").await, None);
    // Ordinary callers still read the stream.
    sb.streams(PRIMARY)
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .expect("the policy names only the replication role");
    eu.delete_resource_policy()
        .resource_arn(&stream_arn)
        .send()
        .await
        .unwrap();
    eventually("replication to resume", WAIT, || async {
        text_of(&ap, "held").await
    })
    .await;
}
