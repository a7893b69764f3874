//! Least privilege end to end, on a stack `up` deployed to a real sandbox
//! and through the official SDK clients: a user signed in through
//! Facebook can use the ticket API and nothing else; the ticket Lambda's
//! role reaches its table (four actions, both regions) and nothing else;
//! role trust decides who may assume what, and an explicit deny wins.
//! AWS's error codes and messages, naming principal, action and resource.

mod common;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use common::{PRIMARY, SECONDARY, TestSandbox, signed_call, zip_bootstrap};
use serde_json::{Value, json};

const TABLE: &str = "wildrydes-tickets";
const LAMBDA_ROLE: &str = "arn:aws:iam::000000000000:role/wildrydes-tickets-lambda";
const USER_SESSION: &str =
    "arn:aws:sts::000000000000:assumed-role/wildrydes-authenticated/CognitoIdentityCredentials";

/// A function that answers with the credentials Lambda gave it.
const PROBE: &str = r#"#!/usr/bin/python3
import json, os, urllib.request
base = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
while True:
    r = urllib.request.urlopen(f"{base}/next")
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    r.read()
    body = json.dumps({k: os.environ[k] for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{base}/{rid}/response", data=body, method="POST"))
"#;

fn ddb(sb: &TestSandbox, region: &str, creds: &Credentials) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sb.config_with(region, region, creds.clone()))
}

/// GetItem on the stack's table in the primary, as `creds`.
async fn get_as(
    sb: &TestSandbox,
    creds: &Credentials,
) -> Result<
    aws_sdk_dynamodb::operation::get_item::GetItemOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>,
> {
    ddb(sb, PRIMARY, creds)
        .get_item()
        .table_name(TABLE)
        .set_key(Some(common::item_key("probe", "x")))
        .send()
        .await
}

/// Asserts an SDK error is AWS's access denial for `action`.
fn assert_denied<E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<impl std::fmt::Debug, E>,
    code: &str,
    action: &str,
) {
    let err = result.expect_err(action);
    assert_eq!(err.code(), Some(code), "{action}: {err:?}");
    let message = err.message().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "is not authorized to perform: {action} on resource: "
        )),
        "{action}: {message}"
    );
}

/// The Lambda role's credentials, as a function running with it gets them.
async fn lambda_role_credentials(sb: &TestSandbox) -> Credentials {
    let lambda = sb.lambda(PRIMARY);
    lambda
        .create_function()
        .function_name("probe")
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(LAMBDA_ROLE)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_bootstrap(PROBE.as_bytes())))
                .build(),
        )
        .send()
        .await
        .expect("create the probe with the ticket Lambda's role");
    let out = common::eventually("the probe", std::time::Duration::from_secs(20), || {
        let lambda = lambda.clone();
        async move { lambda.invoke().function_name("probe").send().await.ok() }
    })
    .await;
    let creds: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    Credentials::new(
        creds["AWS_ACCESS_KEY_ID"].as_str().unwrap(),
        creds["AWS_SECRET_ACCESS_KEY"].as_str().unwrap(),
        creds["AWS_SESSION_TOKEN"].as_str().map(str::to_owned),
        None,
        "probe",
    )
}

/// A stack `up` deployed: the sandbox, the API's URL and the primary's
/// identity pool.
fn stack() -> (TestSandbox, String, String) {
    let sb = TestSandbox::start();
    let doc = common::up_json(&sb);
    let api = doc["next"]["apiUrl"].as_str().unwrap().to_owned();
    let pool = doc["next"]["identityPools"][0]["identityPoolId"]
        .as_str()
        .unwrap()
        .to_owned();
    (sb, api, pool)
}

#[tokio::test]
async fn a_signed_in_user_reaches_the_api_and_nothing_else() {
    let (sb, api, pool) = stack();
    let (user, _) = common::facebook_login_in(&sb, PRIMARY, &pool, "10000000042").await;

    // The API: allowed.
    let body = json!({"description": "least privilege holds", "priority": "low"}).to_string();
    let resp = signed_call(
        &format!("{api}/tickets"),
        "POST",
        None,
        PRIMARY,
        &user,
        Some(&body),
    )
    .await;
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let resp = signed_call(&format!("{api}/tickets"), "GET", None, PRIMARY, &user, None).await;
    assert_eq!(resp.status(), 200);

    // Everything else: denied, with AWS's message.
    let table = ddb(&sb, PRIMARY, &user);
    let err = table
        .get_item()
        .table_name(TABLE)
        .set_key(Some(common::item_key("probe", "x")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(
        err.message(),
        Some(format!("User: {USER_SESSION} is not authorized to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:eu-west-1:000000000000:table/{TABLE} because no identity-based policy allows the dynamodb:GetItem action").as_str())
    );
    assert_denied(
        table.scan().table_name(TABLE).send().await,
        "AccessDeniedException",
        "dynamodb:Scan",
    );
    assert_denied(
        table.delete_table().table_name(TABLE).send().await,
        "AccessDeniedException",
        "dynamodb:DeleteTable",
    );
    let iam = aws_sdk_iam::Client::new(&sb.config_with("global", "us-east-1", user.clone()));
    assert_denied(
        iam.attach_role_policy()
            .role_name("wildrydes-authenticated")
            .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
            .send()
            .await,
        "AccessDenied",
        "iam:AttachRolePolicy",
    );
    let attached = sb
        .iam()
        .list_attached_role_policies()
        .role_name("wildrydes-authenticated")
        .send()
        .await
        .unwrap();
    assert!(
        attached.attached_policies().is_empty(),
        "nothing was attached"
    );
    let sts = aws_sdk_sts::Client::new(&sb.config_with("global", PRIMARY, user.clone()));
    assert_eq!(
        sts.get_caller_identity().send().await.unwrap().arn(),
        Some(USER_SESSION),
        "who am I is never denied"
    );
    assert_denied(
        sts.assume_role()
            .role_arn(LAMBDA_ROLE)
            .role_session_name("x")
            .send()
            .await,
        "AccessDenied",
        "sts:AssumeRole",
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sb.config_with(PRIMARY, PRIMARY, user.clone()))
            .force_path_style(true)
            .build(),
    );
    let bucket = "wildrydes-web-000000000000-eu-west-1";
    assert_denied(
        s3.list_objects_v2().bucket(bucket).send().await,
        "AccessDenied",
        "s3:ListBucket",
    );
    assert_denied(
        s3.put_object()
            .bucket(bucket)
            .key("index.html")
            .body(b"defaced".to_vec().into())
            .send()
            .await,
        "AccessDenied",
        "s3:PutObject",
    );
    // The site's bucket policy lets everyone read its pages, the user too
    // (a resource policy grants without an identity policy, in one account).
    let page = s3
        .get_object()
        .bucket(bucket)
        .key("index.html")
        .send()
        .await;
    assert!(page.is_ok(), "the public page: {page:?}");
    let lambda = aws_sdk_lambda::Client::new(&sb.config_with(PRIMARY, PRIMARY, user.clone()));
    assert_denied(
        lambda.list_functions().send().await,
        "AccessDeniedException",
        "lambda:ListFunctions",
    );
    assert_denied(
        lambda
            .invoke()
            .function_name("wildrydes-tickets")
            .send()
            .await,
        "AccessDeniedException",
        "lambda:InvokeFunction",
    );
    let route53 =
        aws_sdk_route53::Client::new(&sb.config_with("global", "us-east-1", user.clone()));
    assert_denied(
        route53.list_hosted_zones().send().await,
        "AccessDenied",
        "route53:ListHostedZones",
    );
    let cognito = aws_sdk_cognitoidentity::Client::new(&sb.config_with(PRIMARY, PRIMARY, user));
    assert_denied(
        cognito
            .get_open_id_token_for_developer_identity()
            .identity_pool_id(&pool)
            .logins("wildrydes.drills", "mallory")
            .send()
            .await,
        "AccessDeniedException",
        "cognito-identity:GetOpenIdTokenForDeveloperIdentity",
    );
}

#[tokio::test]
async fn the_ticket_lambdas_role_reaches_its_table_and_nothing_else() {
    let (sb, api, _) = stack();
    let role = lambda_role_credentials(&sb).await;

    for region in [PRIMARY, SECONDARY] {
        let table = ddb(&sb, region, &role);
        let mut item = common::item_key("probe", region);
        item.insert("text".into(), AttributeValue::S("probe".into()));
        table
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
        table
            .get_item()
            .table_name(TABLE)
            .set_key(Some(common::item_key("probe", region)))
            .send()
            .await
            .expect("GetItem");
        table
            .query()
            .table_name(TABLE)
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":o", AttributeValue::S("probe".into()))
            .send()
            .await
            .expect("Query");
        table
            .delete_item()
            .table_name(TABLE)
            .set_key(Some(common::item_key("probe", region)))
            .send()
            .await
            .expect("DeleteItem");
        assert_denied(
            table.scan().table_name(TABLE).send().await,
            "AccessDeniedException",
            "dynamodb:Scan",
        );
        assert_denied(
            table
                .update_item()
                .table_name(TABLE)
                .set_key(Some(common::item_key("probe", region)))
                .send()
                .await,
            "AccessDeniedException",
            "dynamodb:UpdateItem",
        );
        assert_denied(
            table.delete_table().table_name(TABLE).send().await,
            "AccessDeniedException",
            "dynamodb:DeleteTable",
        );
        assert_denied(
            table.list_tables().send().await,
            "AccessDeniedException",
            "dynamodb:ListTables",
        );
    }
    // Another table, even a same-named one's neighbour: denied.
    common::create_table(&sb.dynamodb(PRIMARY), "other", false).await;
    assert_denied(
        ddb(&sb, PRIMARY, &role)
            .get_item()
            .table_name("other")
            .set_key(Some(common::item_key("probe", "x")))
            .send()
            .await,
        "AccessDeniedException",
        "dynamodb:GetItem",
    );
    let iam = aws_sdk_iam::Client::new(&sb.config_with("global", "us-east-1", role.clone()));
    assert_denied(
        iam.put_role_policy()
            .role_name("wildrydes-tickets-lambda")
            .policy_name("more")
            .policy_document(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#)
            .send()
            .await,
        "AccessDenied",
        "iam:PutRolePolicy",
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sb.config_with(PRIMARY, PRIMARY, role.clone()))
            .force_path_style(true)
            .build(),
    );
    assert_denied(
        s3.list_buckets().send().await,
        "AccessDenied",
        "s3:ListAllMyBuckets",
    );
    let lambda = aws_sdk_lambda::Client::new(&sb.config_with(PRIMARY, PRIMARY, role.clone()));
    assert_denied(
        lambda.list_functions().send().await,
        "AccessDeniedException",
        "lambda:ListFunctions",
    );
    // The API is the users' role's, not the function's.
    let resp = signed_call(&format!("{api}/tickets"), "GET", None, PRIMARY, &role, None).await;
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("execute-api:Invoke"),
        "{body}"
    );

    // A table's resource policy can deny what the role's policy allows.
    let table_arn = format!("arn:aws:dynamodb:{PRIMARY}:000000000000:table/{TABLE}");
    let deny = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny",
        "Principal": {"AWS": LAMBDA_ROLE},
        "Action": "dynamodb:GetItem",
        "Resource": table_arn,
    }]});
    let operator = sb.dynamodb(PRIMARY);
    operator
        .put_resource_policy()
        .resource_arn(&table_arn)
        .policy(deny.to_string())
        .send()
        .await
        .unwrap();
    let err = get_as(&sb, &role).await.unwrap_err();
    assert!(
        err.message()
            .unwrap()
            .ends_with("with an explicit deny in a resource-based policy"),
        "{err:?}"
    );
    operator
        .delete_resource_policy()
        .resource_arn(&table_arn)
        .send()
        .await
        .unwrap();
    get_as(&sb, &role)
        .await
        .expect("allowed again once the table's policy is gone");

    // An explicit deny in the role's own policy wins over its allow.
    sb.iam()
        .put_role_policy()
        .role_name("wildrydes-tickets-lambda")
        .policy_name("freeze-reads")
        .policy_document(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"dynamodb:GetItem","Resource":"*"}}"#)
        .send()
        .await
        .unwrap();
    let err = get_as(&sb, &role).await.unwrap_err();
    assert!(
        err.message()
            .unwrap()
            .ends_with("with an explicit deny in an identity-based policy"),
        "{err:?}"
    );
}

#[tokio::test]
async fn role_trust_decides_who_may_assume_a_role() {
    let (sb, _, pool) = stack();
    // The Lambda role trusts Lambda alone: not even the operator.
    assert_denied(
        sb.sts()
            .assume_role()
            .role_arn(LAMBDA_ROLE)
            .role_session_name("op")
            .send()
            .await,
        "AccessDenied",
        "sts:AssumeRole",
    );
    // Nor can Lambda be given a role that does not trust it.
    let err = sb
        .lambda(PRIMARY)
        .create_function()
        .function_name("impostor")
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role("arn:aws:iam::000000000000:role/wildrydes-authenticated")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip_bootstrap(PROBE.as_bytes())))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    assert_eq!(
        err.message(),
        Some("The role defined for the function cannot be assumed by Lambda.")
    );

    // A pool mapped to a role whose trust names another pool hands out
    // nothing: AWS's InvalidIdentityPoolConfigurationException.
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": "eu-west-1:00000000-0000-0000-0000-000000000000"}}
    }]});
    let strict = sb
        .iam()
        .create_role()
        .role_name("strict")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    let cognito = aws_sdk_cognitoidentity::Client::new(&sb.region_config(PRIMARY));
    let stack_role = cognito
        .get_identity_pool_roles()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    cognito
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", &strict)
        .send()
        .await
        .unwrap();
    let token = common::facebook_token_in(&sb, PRIMARY, "10000000043", 3600).await;
    let id = cognito
        .get_id()
        .identity_pool_id(&pool)
        .logins("graph.facebook.com", &token)
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let err = cognito
        .get_credentials_for_identity()
        .identity_id(&id)
        .logins("graph.facebook.com", &token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("InvalidIdentityPoolConfigurationException"),
        "{err:?}"
    );
    // The stack's own role trusts this pool: credentials again.
    cognito
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .set_roles(stack_role.roles)
        .send()
        .await
        .unwrap();
    cognito
        .get_credentials_for_identity()
        .identity_id(&id)
        .logins("graph.facebook.com", &token)
        .send()
        .await
        .expect("the stack's role trusts its pools");
}
