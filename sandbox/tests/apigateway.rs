//! API Gateway in the sandbox: the REST control plane through the official
//! SDK, and the data plane serving the real ticket Lambda with AWS_IAM
//! (SigV4 for `execute-api`), through the stage URL and a custom domain,
//! with API Gateway's failure statuses.

mod common;

use common::{
    APP_ID, PRIMARY, TestSandbox, deploy, facebook_token, facebook_user, identity_pool,
    issued_certificate, signed_call, ticket_bootstrap,
};
use serde_json::{Value, json};

/// Temporary credentials for a role allowed to invoke the API.
async fn caller_credentials(
    sb: &TestSandbox,
    api: &str,
    allow: bool,
) -> aws_credential_types::Credentials {
    let iam = sb.iam();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    let name = if allow { "caller" } else { "stranger" };
    let role = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let resource = if allow {
        format!("arn:aws:execute-api:{PRIMARY}:000000000000:{api}/*")
    } else {
        "arn:aws:execute-api:*:*:other/*".to_owned()
    };
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": resource}]});
    iam.put_role_policy()
        .role_name(name)
        .policy_name("invoke")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let creds = sb
        .sts()
        .assume_role()
        .role_arn(role.arn())
        .role_session_name(name)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    aws_credential_types::Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
        None,
        "sts",
    )
}

#[tokio::test]
async fn the_data_plane_serves_the_ticket_lambda_with_aws_iam() {
    let sb = TestSandbox::start();
    let d = deploy(&sb, &ticket_bootstrap()).await;
    let http = reqwest::Client::new();

    // Public health check.
    let resp = http.get(format!("{}/health", d.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    assert_eq!(resp.headers()["x-wildrydes-region"], PRIMARY);

    // Unsigned ticket call, unknown path, wrong method: API Gateway's 403.
    for (method, path) in [("GET", "/tickets"), ("GET", "/nope"), ("DELETE", "/health")] {
        let resp = http
            .request(method.parse().unwrap(), format!("{}{path}", d.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{method} {path}");
        assert_eq!(
            resp.headers()["x-amzn-errortype"],
            "MissingAuthenticationTokenException"
        );
        assert_eq!(
            resp.text().await.unwrap(),
            r#"{"message":"Missing Authentication Token"}"#
        );
    }
    let resp = http
        .get(format!("{}/nope", d.base))
        .header("authorization", "Bearer tok")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "IncompleteSignatureException"
    );

    // Signed by a role allowed to invoke: the gateway lets it through, and
    // the function answers 401 because the caller is no Cognito identity.
    let creds = caller_credentials(&sb, &d.api, true).await;
    let body = r#"{"description":"the bike's bell is missing","priority":"low"}"#;
    let resp = signed_call(
        &format!("{}/tickets", d.base),
        "POST",
        None,
        PRIMARY,
        &creds,
        Some(body),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("x-amzn-trace-id"));

    // A wrong secret, and a role without execute-api:Invoke.
    let forged = aws_credential_types::Credentials::new(
        creds.access_key_id(),
        "wrong",
        creds.session_token().map(str::to_owned),
        None,
        "x",
    );
    let resp = signed_call(
        &format!("{}/tickets", d.base),
        "GET",
        None,
        PRIMARY,
        &forged,
        None,
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "InvalidSignatureException"
    );
    let stranger = caller_credentials(&sb, &d.api, false).await;
    let resp = signed_call(
        &format!("{}/tickets", d.base),
        "GET",
        None,
        PRIMARY,
        &stranger,
        None,
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-amzn-errortype"], "AccessDeniedException");
    let denied: Value = resp.json().await.unwrap();
    assert!(
        denied["Message"]
            .as_str()
            .unwrap()
            .contains("is not authorized to perform: execute-api:Invoke"),
        "{denied}"
    );

    // CORS preflight from the MOCK integration.
    let resp = http
        .request(reqwest::Method::OPTIONS, format!("{}/tickets", d.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");

    // Throttled Lambda: 500, not 429.
    let lambda = sb.lambda(PRIMARY);
    lambda
        .put_function_concurrency()
        .function_name(&d.function)
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    let resp = http.get(format!("{}/health", d.base)).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "InternalServerErrorException"
    );
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"message": "Internal server error"}"#
    );
    lambda
        .delete_function_concurrency()
        .function_name(&d.function)
        .send()
        .await
        .unwrap();

    // Without the invoke permission: 500 too.
    lambda
        .remove_permission()
        .function_name(&d.function)
        .statement_id("apigateway")
        .send()
        .await
        .unwrap();
    let resp = http.get(format!("{}/health", d.base)).send().await.unwrap();
    assert_eq!(resp.status(), 500);
}

#[tokio::test]
async fn custom_domains_route_by_host_to_their_mapped_stage() {
    let sb = TestSandbox::start();
    let d = deploy(&sb, &ticket_bootstrap()).await;
    // Pending until its validation CNAME exists in a zone, as on AWS.
    let pending = sb
        .acm(PRIMARY)
        .request_certificate()
        .domain_name("pending.wildrydes.test")
        .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
        .send()
        .await
        .unwrap()
        .certificate_arn
        .unwrap();
    let refused = sb
        .apigateway(PRIMARY)
        .create_domain_name()
        .domain_name("pending.wildrydes.test")
        .regional_certificate_arn(&pending)
        .endpoint_configuration(
            aws_sdk_apigateway::types::EndpointConfiguration::builder()
                .types(aws_sdk_apigateway::types::EndpointType::Regional)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(refused.into_service_error().is_bad_request_exception());
    let cert = issued_certificate(&sb, PRIMARY, "api.wildrydes.test", "wildrydes.test").await;
    let acm = sb.acm(PRIMARY);

    let apigw = sb.apigateway(PRIMARY);
    let unknown_cert = apigw
        .create_domain_name()
        .domain_name("api.wildrydes.test")
        .regional_certificate_arn("arn:aws:acm:eu-west-1:000000000000:certificate/none")
        .endpoint_configuration(
            aws_sdk_apigateway::types::EndpointConfiguration::builder()
                .types(aws_sdk_apigateway::types::EndpointType::Regional)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(unknown_cert.into_service_error().is_bad_request_exception());
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
    let regional = domain.regional_domain_name().unwrap();
    assert!(regional.contains(".execute-api.eu-west-1."), "{regional}");
    assert_eq!(domain.regional_hosted_zone_id(), Some("ZLY8HYME6SFDD"));
    apigw
        .create_base_path_mapping()
        .domain_name("api.wildrydes.test")
        .rest_api_id(&d.api)
        .stage("prod")
        .send()
        .await
        .unwrap();
    let mappings = apigw
        .get_base_path_mappings()
        .domain_name("api.wildrydes.test")
        .send()
        .await
        .unwrap();
    assert_eq!(mappings.items()[0].base_path(), Some("(none)"));

    // The Host header picks the API; the port is ignored.
    let endpoint = sb.sandbox.state.topology.region(PRIMARY).unwrap().url();
    let resp = reqwest::Client::new()
        .get(format!("{endpoint}/health"))
        .header("host", "api.wildrydes.test:443")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Signed with the custom domain as Host, as a browser behind the edge signs.
    let creds = facebook_user(&sb, &d.api, "10000000001").await.0;
    let resp = signed_call(
        &format!("{endpoint}/tickets"),
        "GET",
        Some("api.wildrydes.test"),
        PRIMARY,
        &creds,
        None,
    )
    .await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);

    // Certificates in use cannot be deleted; mappings and domains can.
    let in_use = acm
        .delete_certificate()
        .certificate_arn(&cert)
        .send()
        .await
        .unwrap_err();
    assert!(in_use.into_service_error().is_resource_in_use_exception());
    apigw
        .delete_base_path_mapping()
        .domain_name("api.wildrydes.test")
        .base_path("(none)")
        .send()
        .await
        .unwrap();
    apigw
        .delete_domain_name()
        .domain_name("api.wildrydes.test")
        .send()
        .await
        .unwrap();
    acm.delete_certificate()
        .certificate_arn(&cert)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn facebook_logins_through_cognito_keep_users_apart() {
    let sb = TestSandbox::start();
    let d = deploy(&sb, &ticket_bootstrap()).await;
    let (alice, _alice_identity) = facebook_user(&sb, &d.api, "10000000001").await;
    let (bob, _) = facebook_user(&sb, &d.api, "10000000002").await;

    let body = r#"{"description":"the bike's bell is missing","priority":"low"}"#;
    let resp = signed_call(
        &format!("{}/tickets", d.base),
        "POST",
        None,
        PRIMARY,
        &alice,
        Some(body),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let ticket: Value = resp.json().await.unwrap();
    // Tickets belong to the login, the same through any region's pool.
    assert_eq!(
        ticket["owner"],
        format!("graph.facebook.com:{APP_ID}:10000000001")
    );
    let url = format!("{}/tickets/{}", d.base, ticket["id"].as_str().unwrap());
    assert_eq!(
        signed_call(&url, "GET", None, PRIMARY, &alice, None)
            .await
            .status(),
        200
    );
    assert_eq!(
        signed_call(&url, "GET", None, PRIMARY, &bob, None)
            .await
            .status(),
        404
    );
    let bobs: Value = signed_call(
        &format!("{}/tickets", d.base),
        "GET",
        None,
        PRIMARY,
        &bob,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(bobs["tickets"], json!([]));

    // Forged, expired and foreign tokens are refused with AWS's messages.
    let cognito = aws_sdk_cognitoidentity::Client::new(&sb.region_config(PRIMARY));
    let pool = identity_pool(&sb, &d.api).await;
    let mut forged = facebook_token(&sb, "10000000001", 3600).await;
    forged.push('x');
    let expired = facebook_token(&sb, "10000000001", 0).await;
    for (token, message) in [
        (forged.as_str(), "Couldn't verify signed token"),
        (expired.as_str(), "Token is expired"),
        ("garbage", "Not a valid OpenId Connect"),
    ] {
        let err = cognito
            .get_id()
            .identity_pool_id(&pool)
            .logins("graph.facebook.com", token)
            .send()
            .await
            .unwrap_err();
        let err = err.into_service_error();
        assert!(err.is_not_authorized_exception(), "{err:?}");
        assert!(
            err.to_string().contains(message) || format!("{err:?}").contains(message),
            "{err:?}"
        );
    }
    // No login, in a pool without guests.
    let err = cognito
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_authorized_exception());

    // Drills' developer-authenticated identities work the same way.
    let dev = cognito
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins("wildrydes.drills", "probe-1")
        .send()
        .await
        .unwrap();
    let creds = cognito
        .get_credentials_for_identity()
        .identity_id(dev.identity_id().unwrap())
        .logins("cognito-identity.amazonaws.com", dev.token().unwrap())
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let probe = aws_credential_types::Credentials::new(
        creds.access_key_id().unwrap(),
        creds.secret_key().unwrap(),
        creds.session_token().map(str::to_owned),
        None,
        "dev",
    );
    let resp = signed_call(
        &format!("{}/tickets", d.base),
        "POST",
        None,
        PRIMARY,
        &probe,
        Some(body),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let ticket: Value = resp.json().await.unwrap();
    assert_eq!(ticket["owner"], dev.identity_id().unwrap());

    // The stand-in's login page and redirect, as a browser sees them.
    let endpoint = sb.sandbox.state.topology.region(PRIMARY).unwrap().url();
    let page = reqwest::get(format!("{endpoint}/sandbox/facebook/dialog/oauth?client_id={APP_ID}&redirect_uri=http://127.0.0.1/app&state=s1")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"user_id\""));
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirect
        .post(format!("{endpoint}/sandbox/facebook/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user_id=10000000003&name=Carol&client_id=1234567890&redirect_uri=http%3A%2F%2F127.0.0.1%2Fapp&state=s1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1/app#access_token=fbsandbox."),
        "{location}"
    );
    let token = location
        .split("access_token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    cognito
        .get_id()
        .identity_pool_id(&pool)
        .logins("graph.facebook.com", token)
        .send()
        .await
        .expect("the dialog's token logs in");
}

/// Regions evaluate IAM themselves with the global process's documents,
/// keeping the last ones they saw: with the global process killed, a
/// signed-in user keeps filing tickets (execute-api for the user's role,
/// DynamoDB for the function's), and keeps logging in (the role's trust),
/// as AWS's regional data planes keep authorizing while IAM's control
/// plane is down.
#[tokio::test]
async fn regions_keep_authorizing_through_a_global_outage() {
    let mut sb = TestSandbox::start();
    let d = deploy(&sb, &ticket_bootstrap()).await;
    let pool = identity_pool(&sb, &d.api).await;
    let (alice, _) = common::facebook_login(&sb, &pool, "10000000007").await;
    let file = |n: u32| format!(r#"{{"description":"ticket number {n} of two","priority":"low"}}"#);
    let post = |creds: aws_credential_types::Credentials, body: String| {
        let url = format!("{}/tickets", d.base);
        async move {
            signed_call(&url, "POST", None, PRIMARY, &creds, Some(&body))
                .await
                .status()
        }
    };
    assert_eq!(post(alice.clone(), file(1)).await, 201);

    sb.kill("global");
    assert_eq!(
        post(alice.clone(), file(2)).await,
        201,
        "with the last known policies"
    );
    let (again, _) = common::facebook_login(&sb, &pool, "10000000007").await;
    let list: Value = signed_call(
        &format!("{}/tickets", d.base),
        "GET",
        None,
        PRIMARY,
        &again,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(list["tickets"].as_array().map(Vec::len), Some(2), "{list}");
    sb.revive("global").await;
}
