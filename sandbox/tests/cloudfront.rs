//! CloudFront in the sandbox: the distribution control plane through the
//! official SDK client (ETags, the disable-before-delete rule, tags,
//! invalidations) and the edge serving an S3 website origin with its
//! default root object, caching until invalidated.

mod common;

use std::time::Duration;

use aws_sdk_cloudfront::types::{
    CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, DistributionConfigWithTags,
    InvalidationBatch, Origin, OriginProtocolPolicy, Origins, Paths, Tag, TagKeys, Tags,
    ViewerCertificate, ViewerProtocolPolicy,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, IndexDocument, WebsiteConfiguration,
};
use common::{PRIMARY, TestSandbox, eventually};

const BUCKET: &str = "wildrydes-cdn";

fn cloudfront(sb: &TestSandbox) -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::new(&sb.config_with("global", "us-east-1", sb.credentials()))
}

fn code<E: aws_sdk_cloudfront::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or_default().to_owned()
}

async fn website(sb: &TestSandbox) {
    let s3 = sb.s3(PRIMARY);
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
                .build(),
        )
        .send()
        .await
        .unwrap();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{BUCKET}/*"}}]}}"#
    );
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
    put(sb, "index.html", "v1").await;
}

async fn put(sb: &TestSandbox, key: &str, body: &str) {
    sb.s3(PRIMARY)
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type("text/html")
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
}

fn config(caller_reference: &str, enabled: bool, comment: &str) -> DistributionConfig {
    // The origin named as on AWS: the bucket's website endpoint.
    let origin_domain = format!("{BUCKET}.s3-website.{PRIMARY}.amazonaws.com");
    DistributionConfig::builder()
        .caller_reference(caller_reference)
        .comment(comment)
        .enabled(enabled)
        .default_root_object("index.html")
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id("web")
                        .domain_name(origin_domain)
                        .custom_origin_config(
                            CustomOriginConfig::builder()
                                .http_port(80)
                                .https_port(443)
                                .origin_protocol_policy(OriginProtocolPolicy::HttpOnly)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("web")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                // Managed policy CachingOptimized: a day by default.
                .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
                .build()
                .unwrap(),
        )
        .viewer_certificate(
            ViewerCertificate::builder()
                .cloud_front_default_certificate(true)
                .build(),
        )
        .build()
        .unwrap()
}

async fn fetch(url: &str, host: Option<&str>) -> (u16, String, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(h) = host {
        req = req.header("host", h);
    }
    let resp = req.send().await.unwrap();
    let cache = resp
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (resp.status().as_u16(), cache, resp.text().await.unwrap())
}

#[tokio::test]
async fn distributions_serve_their_origin_and_cache_until_invalidated() {
    let sb = TestSandbox::start();
    website(&sb).await;
    let cf = cloudfront(&sb);

    let created = cf
        .create_distribution_with_tags()
        .distribution_config_with_tags(
            DistributionConfigWithTags::builder()
                .distribution_config(config("web-1", true, "wildrydes web"))
                .tags(
                    Tags::builder()
                        .items(
                            Tag::builder()
                                .key("wildrydes:stack")
                                .value("test")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let dist = created.distribution().unwrap();
    let id = dist.id().to_owned();
    let etag = created.e_tag().unwrap().to_owned();
    assert!(
        created
            .location()
            .unwrap()
            .ends_with(&format!("/distribution/{id}"))
    );
    assert_eq!(dist.status(), "InProgress");
    let domain = dist.domain_name().to_owned();
    assert_eq!(
        domain,
        format!("{}.cloudfront.localhost", id.to_lowercase())
    );
    let tags = cf
        .list_tags_for_resource()
        .resource(dist.arn())
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap().items()[0].value(), Some("test"));

    // The same caller reference again is refused.
    let again = cf
        .create_distribution()
        .distribution_config(config("web-1", true, "again"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again), "DistributionAlreadyExists");
    // A behaviour aimed at an origin that does not exist is refused.
    let mut bad = config("web-2", true, "bad");
    bad.default_cache_behavior = Some(
        DefaultCacheBehavior::builder()
            .target_origin_id("nowhere")
            .viewer_protocol_policy(ViewerProtocolPolicy::AllowAll)
            .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
            .build()
            .unwrap(),
    );
    let refused = cf
        .create_distribution()
        .distribution_config(bad)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&refused), "NoSuchOrigin");

    // The waiter sees it deployed.
    eventually("the distribution deploys", Duration::from_secs(10), || {
        let cf = cf.clone();
        let id = id.clone();
        async move {
            let d = cf.get_distribution().id(&id).send().await.ok()?;
            (d.distribution()?.status() == "Deployed").then_some(())
        }
    })
    .await;
    let listed = cf.list_distributions().send().await.unwrap();
    let list = listed.distribution_list().unwrap();
    assert_eq!(list.quantity(), 1);
    assert_eq!(list.items()[0].id(), id);
    assert_eq!(list.items()[0].comment(), "wildrydes web");

    // Served from the origin, by the distribution's domain or by address.
    let cdn = sb.sandbox.state.topology.cdn_url().unwrap();
    let by_name = format!("{domain}:{}", sb.sandbox.state.topology.cdn_port.unwrap());
    assert_eq!(
        fetch(&format!("{cdn}/"), Some(&by_name)).await,
        (200, "Miss from cloudfront".into(), "v1".into())
    );
    assert_eq!(
        fetch(&format!("{cdn}/"), None).await,
        (200, "Hit from cloudfront".into(), "v1".into())
    );
    // A changed object stays cached…
    put(&sb, "index.html", "v2").await;
    assert_eq!(fetch(&format!("{cdn}/"), None).await.2, "v1");
    // …until invalidated.
    let inv = cf
        .create_invalidation()
        .distribution_id(&id)
        .invalidation_batch(
            InvalidationBatch::builder()
                .caller_reference("deploy-2")
                .paths(Paths::builder().quantity(1).items("/*").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let inv_id = inv.invalidation().unwrap().id().to_owned();
    assert_eq!(
        fetch(&format!("{cdn}/"), None).await,
        (200, "Miss from cloudfront".into(), "v2".into())
    );
    eventually(
        "the invalidation completes",
        Duration::from_secs(10),
        || {
            let cf = cf.clone();
            let (id, inv_id) = (id.clone(), inv_id.clone());
            async move {
                let i = cf
                    .get_invalidation()
                    .distribution_id(&id)
                    .id(&inv_id)
                    .send()
                    .await
                    .ok()?;
                (i.invalidation()?.status() == "Completed").then_some(())
            }
        },
    )
    .await;
    let missing = cf
        .get_invalidation()
        .distribution_id(&id)
        .id("INOPE")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "NoSuchInvalidation");
    assert_eq!(fetch(&format!("{cdn}/absent.html"), None).await.0, 404);
    assert_eq!(
        reqwest::Client::new()
            .post(format!("{cdn}/"))
            .send()
            .await
            .unwrap()
            .status(),
        403,
        "only GET and HEAD by default"
    );

    // Updates need the current ETag; deleting needs a disabled, deployed one.
    let current = cf.get_distribution_config().id(&id).send().await.unwrap();
    assert_eq!(current.e_tag(), Some(etag.as_str()));
    assert_eq!(
        current.distribution_config().unwrap().comment(),
        "wildrydes web"
    );
    let no_match = cf
        .update_distribution()
        .id(&id)
        .if_match("ESTALE")
        .distribution_config(config("web-1", false, "off"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&no_match), "PreconditionFailed");
    let enabled = cf
        .delete_distribution()
        .id(&id)
        .if_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&enabled), "DistributionNotDisabled");
    let disabled = cf
        .update_distribution()
        .id(&id)
        .if_match(&etag)
        .distribution_config(config("web-1", false, "off"))
        .send()
        .await
        .unwrap();
    let etag = disabled.e_tag().unwrap().to_owned();
    assert_eq!(fetch(&format!("{cdn}/"), Some(&by_name)).await.0, 403);
    let in_progress = cf
        .delete_distribution()
        .id(&id)
        .if_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&in_progress), "DistributionNotDisabled");
    cf.untag_resource()
        .resource(disabled.distribution().unwrap().arn())
        .tag_keys(TagKeys::builder().items("wildrydes:stack").build())
        .send()
        .await
        .unwrap();
    eventually(
        "the disabled distribution deploys",
        Duration::from_secs(10),
        || {
            let cf = cf.clone();
            let id = id.clone();
            async move {
                let d = cf.get_distribution().id(&id).send().await.ok()?;
                (d.distribution()?.status() == "Deployed").then_some(())
            }
        },
    )
    .await;
    cf.delete_distribution()
        .id(&id)
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    let gone = cf.get_distribution().id(&id).send().await.unwrap_err();
    assert_eq!(code(&gone), "NoSuchDistribution");
}
