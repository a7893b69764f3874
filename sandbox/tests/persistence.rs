//! A failed write of a service's state is an error to the caller, never a
//! silent success: each service answers its internal-failure error, which
//! the official SDK surfaces with the code and status AWS would use.

mod common;

use aws_sdk_acm::error::ProvideErrorMetadata;
use common::{InProcess, PRIMARY, break_writes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_state_write_reaches_the_sdk_as_an_internal_error() {
    let sb = InProcess::start(&[PRIMARY]).await;

    // ACM (awsJson1_1): works, then the state file cannot be written.
    let acm = aws_sdk_acm::Client::new(&sb.region_config(PRIMARY));
    acm.request_certificate()
        .domain_name("ok.wildrydes.test")
        .send()
        .await
        .expect("a writable sandbox saves");
    break_writes(&sb.data_dir(PRIMARY).join("acm.json"));
    let err = acm
        .request_certificate()
        .domain_name("lost.wildrydes.test")
        .send()
        .await
        .expect_err("a failed save must not answer success");
    assert_eq!(err.code(), Some("InternalFailure"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));

    // S3 (restXml, no error wrapping).
    let s3 = aws_sdk_s3::Client::new(&sb.region_config(PRIMARY));
    break_writes(&sb.data_dir(PRIMARY).join("s3/buckets.json"));
    let err = s3
        .create_bucket()
        .bucket("unsaved")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(PRIMARY.into())
                .build(),
        )
        .send()
        .await
        .expect_err("a failed save must not answer success");
    assert_eq!(err.code(), Some("InternalError"), "{err:?}");

    // Cognito Identity (awsJson1_1, its modelled InternalErrorException).
    let cognito = aws_sdk_cognitoidentity::Client::new(&sb.region_config(PRIMARY));
    break_writes(&sb.data_dir(PRIMARY).join("cognito.json"));
    let err = cognito
        .create_identity_pool()
        .identity_pool_name("unsaved")
        .allow_unauthenticated_identities(false)
        .send()
        .await
        .expect_err("a failed save must not answer success");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_internal_error_exception()),
        "{err:?}"
    );

    // Route 53 and IAM in the global process (restXml and awsQuery).
    let route53 = aws_sdk_route53::Client::new(&sb.config("global", "us-east-1"));
    break_writes(&sb.data_dir("global").join("route53.json"));
    let err = route53
        .create_hosted_zone()
        .name("unsaved.test")
        .caller_reference("unsaved")
        .send()
        .await
        .expect_err("a failed save must not answer success");
    assert_eq!(err.code(), Some("InternalFailure"), "{err:?}");
    let iam = aws_sdk_iam::Client::new(&sb.config("global", "us-east-1"));
    break_writes(&sb.data_dir("global").join("iam.json"));
    let err = iam
        .create_role()
        .role_name("unsaved")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .expect_err("a failed save must not answer success");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_service_failure_exception()),
        "{err:?}"
    );
}
