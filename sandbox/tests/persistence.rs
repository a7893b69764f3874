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
    let err = create_bucket(&s3, "unsaved")
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

/// An overwrite that does not complete (here its state save fails, as a
/// kill between writing the object and saving the state would leave it)
/// leaves the old object whole: its bytes, length and ETag together. A
/// change's superseded files go once it is saved, its own if it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_s3_overwrite_leaves_the_old_object_whole() {
    let sb = InProcess::start(&[PRIMARY]).await;
    let s3 = aws_sdk_s3::Client::new(&sb.region_config(PRIMARY));
    create_bucket(&s3, "site").await.unwrap();
    let put = |body: &'static str| {
        s3.put_object()
            .bucket("site")
            .key("index.html")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(
                body.as_bytes(),
            ))
            .send()
    };
    let first = put("version one").await.unwrap();
    let data = sb.data_dir(PRIMARY).join("s3/data");
    let files = || std::fs::read_dir(&data).unwrap().count();
    assert_eq!(files(), 1);

    let state = sb.data_dir(PRIMARY).join("s3/buckets.json");
    let saved = std::fs::read(&state).unwrap();
    break_writes(&state);
    let err = put("version two, which is longer")
        .await
        .expect_err("unsaved");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert_eq!(files(), 1, "the unsaved write's file is removed");
    let get = || s3.get_object().bucket("site").key("index.html").send();
    let got = get().await.unwrap();
    assert_eq!(got.e_tag(), first.e_tag());
    assert_eq!(got.content_length(), Some("version one".len() as i64));
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"version one");

    // Writable again: the overwrite goes through, and only its file stays.
    std::fs::remove_dir_all(&state).unwrap();
    std::fs::write(&state, saved).unwrap();
    put("version three").await.unwrap();
    let got = get().await.unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"version three");
    assert_eq!(files(), 1, "old object files are removed");
    s3.delete_object()
        .bucket("site")
        .key("index.html")
        .send()
        .await
        .unwrap();
    assert_eq!(files(), 0);
}

/// CreateBucket in the primary.
async fn create_bucket(
    s3: &aws_sdk_s3::Client,
    name: &str,
) -> Result<
    aws_sdk_s3::operation::create_bucket::CreateBucketOutput,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::create_bucket::CreateBucketError>,
> {
    s3.create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(PRIMARY.into())
                .build(),
        )
        .send()
        .await
}
