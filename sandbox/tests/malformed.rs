//! A request body that does not parse gets the service's own
//! serialization error, with the code the SDK maps, never a guess at
//! what the caller meant (AWS-BEHAVIOUR.md §1). Sent as raw, correctly
//! signed HTTP: no SDK sends such bodies.

mod common;

use common::{InProcess, PRIMARY, Signed};

/// A signed Route 53 request for the global process.
fn route53<'a>(method: &'a str, path: &'a str, body: &'a [u8]) -> Signed<'a> {
    Signed {
        method,
        path,
        region: "us-east-1",
        service: "route53",
        headers: &[("content-type", "application/xml")],
        body,
    }
}

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
            route53(
                "POST",
                "/2013-04-01/hostedzone",
                b"<CreateHostedZoneRequest><Name>x",
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>InvalidInput</Code>"), "{body}");
}

/// A document nested far deeper than any AWS request body is refused as
/// malformed, and the process that read it goes on answering (a tree that
/// deep used to overflow the stack when dropped, taking the whole global
/// process, DNS and the edge with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_xml_is_refused_and_the_process_survives() {
    let sb = InProcess::start(&[PRIMARY]).await;
    let depth = 200_000;
    let mut doc = b"<CreateHostedZoneRequest>".to_vec();
    doc.extend(b"<a>".repeat(depth));
    doc.extend(b"</a>".repeat(depth));
    doc.extend(b"</CreateHostedZoneRequest>");
    let (status, _, body) = sb
        .signed("global", route53("POST", "/2013-04-01/hostedzone", &doc))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>InvalidInput</Code>"), "{body}");
    // Still serving.
    let (status, _, body) = sb
        .signed("global", route53("GET", "/2013-04-01/hostedzone", b""))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<ListHostedZonesResponse"), "{body}");
}
