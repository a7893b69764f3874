//! A request body that does not parse gets the service's own
//! serialization error, with the code the SDK maps, never a guess at
//! what the caller meant (AWS-BEHAVIOUR.md §1). Sent as raw, correctly
//! signed HTTP: no SDK sends such bodies.

mod common;

use common::{InProcess, PRIMARY, Signed};

fn error_type(headers: &http::HeaderMap, body: &str) -> String {
    if let Some(t) = headers.get("x-amzn-errortype") {
        return t.to_str().unwrap().to_owned();
    }
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["__type"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_each_protocols_serialization_error() {
    let sb = InProcess::start(&[PRIMARY]).await;
    let garbage = b"{\"DomainName\": ";

    // awsJson1_1: ACM and Cognito Identity.
    for (service, target) in [
        ("acm", "CertificateManager.RequestCertificate"),
        (
            "cognito-identity",
            "AWSCognitoIdentityService.CreateIdentityPool",
        ),
    ] {
        let (status, headers, body) = sb
            .signed(
                PRIMARY,
                Signed {
                    method: "POST",
                    path: "/",
                    region: PRIMARY,
                    service,
                    headers: &[
                        ("content-type", "application/x-amz-json-1.1"),
                        ("x-amz-target", target),
                    ],
                    body: garbage,
                },
            )
            .await;
        assert_eq!(status, 400, "{service}: {body}");
        assert_eq!(
            error_type(&headers, &body),
            "SerializationException",
            "{service}"
        );
    }

    // awsJson1_0: DynamoDB (an operation the sandbox reads itself).
    let (status, headers, body) = sb
        .signed(
            PRIMARY,
            Signed {
                method: "POST",
                path: "/",
                region: PRIMARY,
                service: "dynamodb",
                headers: &[
                    ("content-type", "application/x-amz-json-1.0"),
                    ("x-amz-target", "DynamoDB_20120810.DescribeTable"),
                ],
                body: garbage,
            },
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_type(&headers, &body),
        "com.amazon.coral.service#SerializationException"
    );

    // restJson1: Lambda's modelled InvalidRequestContentException, API
    // Gateway's SerializationException.
    for (service, path, code) in [
        (
            "lambda",
            "/2015-03-31/functions",
            "InvalidRequestContentException",
        ),
        ("apigateway", "/restapis", "SerializationException"),
    ] {
        let (status, headers, body) = sb
            .signed(
                PRIMARY,
                Signed {
                    method: "POST",
                    path,
                    region: PRIMARY,
                    service,
                    headers: &[("content-type", "application/json")],
                    body: garbage,
                },
            )
            .await;
        assert_eq!(status, 400, "{service}: {body}");
        assert_eq!(error_type(&headers, &body), code, "{service}");
    }

    // restXml: Route 53's InvalidInput in its ErrorResponse.
    let (status, _, body) = sb
        .signed(
            "global",
            Signed {
                method: "POST",
                path: "/2013-04-01/hostedzone",
                region: "us-east-1",
                service: "route53",
                headers: &[("content-type", "application/xml")],
                body: b"<CreateHostedZoneRequest><Name>x",
            },
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>InvalidInput</Code>"), "{body}");
}
