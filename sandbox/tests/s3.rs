//! S3 in the sandbox through the official SDK client, and the website
//! endpoint a browser uses.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ErrorDocument, IndexDocument,
    ObjectIdentifier, WebsiteConfiguration,
};
use common::{PRIMARY, TestSandbox};

const BUCKET: &str = "wildrydes-web";

#[tokio::test]
async fn buckets_objects_and_the_website_endpoint() {
    let sb = TestSandbox::start();
    let s3 = sb.s3(PRIMARY);
    let wrong = s3
        .create_bucket()
        .bucket(BUCKET)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::ApSoutheast1)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&wrong),
        Some("IllegalLocationConstraintException")
    );
    s3.create_bucket()
        .bucket(BUCKET)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.head_bucket().bucket(BUCKET).send().await.unwrap();
    let missing = s3
        .head_bucket()
        .bucket("nope-nope")
        .send()
        .await
        .unwrap_err();
    assert!(missing.into_service_error().is_not_found());

    for (key, body, kind) in [
        ("index.html", "<h1>Wild Rydes</h1>", "text/html"),
        ("error.html", "<h1>lost</h1>", "text/html"),
        ("js/app.js", "console.log('hi')", "application/javascript"),
    ] {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .content_type(kind)
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
            .await
            .unwrap();
    }
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key("js/app.js")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("application/javascript"));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"console.log('hi')"
    );
    let no_key = s3
        .get_object()
        .bucket(BUCKET)
        .key("absent")
        .send()
        .await
        .unwrap_err();
    assert!(no_key.into_service_error().is_no_such_key());

    // Paged listing.
    let page = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.key_count(), Some(2));
    assert_eq!(page.is_truncated(), Some(true));
    let rest = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .continuation_token(page.next_continuation_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.contents().len(), 1);

    // Website: configured, then public, then served.
    s3.put_bucket_website()
        .bucket(BUCKET)
        .website_configuration(
            WebsiteConfiguration::builder()
                .index_document(
                    IndexDocument::builder()
                        .suffix("index.html")
                        .build()
                        .unwrap(),
                )
                .error_document(ErrorDocument::builder().key("error.html").build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let site = s3.get_bucket_website().bucket(BUCKET).send().await.unwrap();
    assert_eq!(site.index_document().unwrap().suffix(), "index.html");
    let endpoint = sb.sandbox.state.topology.region(PRIMARY).unwrap().url();
    let private = reqwest::get(format!("{endpoint}/{BUCKET}/")).await.unwrap();
    assert_eq!(private.status(), 403, "only a public bucket is served");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{BUCKET}/*"}}]}}"#
    );
    // New buckets block public policies, as on AWS since April 2023.
    let blocked = s3
        .put_bucket_policy()
        .bucket(BUCKET)
        .policy(&policy)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&blocked),
        Some("AccessDenied")
    );
    let block = s3
        .get_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap()
        .public_access_block_configuration
        .unwrap();
    assert_eq!(block.block_public_policy(), Some(true));
    s3.delete_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    s3.put_bucket_policy()
        .bucket(BUCKET)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    let index = reqwest::get(format!("{endpoint}/{BUCKET}/")).await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["content-type"], "text/html");
    assert_eq!(index.text().await.unwrap(), "<h1>Wild Rydes</h1>");
    let by_host = reqwest::Client::new()
        .get(format!("{endpoint}/js/app.js"))
        .header("host", format!("{BUCKET}.s3-website.{PRIMARY}.localhost"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_host.status(), 200);
    assert_eq!(by_host.headers()["content-type"], "application/javascript");
    let lost = reqwest::get(format!("{endpoint}/{BUCKET}/no/such/page"))
        .await
        .unwrap();
    assert_eq!(lost.status(), 404);
    assert_eq!(lost.text().await.unwrap(), "<h1>lost</h1>");

    // A bucket with objects cannot be deleted; an emptied one can.
    let err = s3.delete_bucket().bucket(BUCKET).send().await.unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("BucketNotEmpty")
    );
    let ids: Vec<ObjectIdentifier> = ["index.html", "error.html", "js/app.js"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    s3.delete_objects()
        .bucket(BUCKET)
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(BUCKET).send().await.unwrap();
}
