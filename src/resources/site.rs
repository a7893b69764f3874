//! The web UI's home: the S3 bucket (a public website), its files (those
//! of `web/`, plus a generated `config.js` telling the browser where
//! everything is), kept in step with `web/` and invalidated on the CDN
//! when they change.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, IndexDocument, ObjectIdentifier,
    Tag, Tagging, WebsiteConfiguration,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{Value, json};

use super::identity_pool::facebook_app_id;
use super::{STACK_TAG, bucket_name, gone, has_stack_tag, kept, not_tagged, sha256_hex};
use crate::deploy::{Action, Ctx, Done, aws_error};

/// The S3 website endpoint of a bucket, in the region's own spelling.
pub fn website_endpoint(bucket: &str, region: &str) -> String {
    // The regions that predate the dot form keep the dash form.
    const DASH: &[&str] = &[
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    ];
    if DASH.contains(&region) {
        format!("{bucket}.s3-website-{region}.amazonaws.com")
    } else {
        format!("{bucket}.s3-website.{region}.amazonaws.com")
    }
}

/// The stack's bucket's website endpoint (the CDN's origin).
pub fn origin(ctx: &Ctx) -> String {
    website_endpoint(&bucket_name(ctx), &ctx.config.primary_region)
}

fn public_read_policy(bucket: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "PublicReadForWebsite", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]})
}

/// Whether the bucket exists (`Some`) and carries the stack's tag.
async fn find(ctx: &Ctx) -> anyhow::Result<Option<bool>> {
    let s3 = &ctx.clients.region(&ctx.config.primary_region).s3;
    let bucket = bucket_name(ctx);
    match s3.head_bucket().bucket(&bucket).send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => return Ok(None),
        Err(e) => return Err(aws_error("HeadBucket", e)),
    }
    let tags: HashMap<String, String> = match s3.get_bucket_tagging().bucket(&bucket).send().await {
        Ok(t) => t
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
        Err(_) => HashMap::new(),
    };
    Ok(Some(has_stack_tag(
        tags.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))),
        ctx.stack(),
    )))
}

/// Ensures the bucket: tagged, public website with index.html.
pub async fn ensure_bucket(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let region = ctx.config.primary_region.clone();
    let s3 = &ctx.clients.region(&region).s3;
    let bucket = bucket_name(&ctx);
    let mut w = ctx.writer();
    match find(&ctx).await? {
        Some(true) => {}
        Some(false) => return Err(not_tagged("S3 bucket", &bucket, &ctx)),
        None => {
            let created = w
                .create(|| async {
                    let mut create = s3.create_bucket().bucket(&bucket);
                    if region != "us-east-1" {
                        create = create.create_bucket_configuration(
                            CreateBucketConfiguration::builder()
                                .location_constraint(BucketLocationConstraint::from(
                                    region.as_str(),
                                ))
                                .build(),
                        );
                    }
                    create
                        .send()
                        .await
                        .map_err(|e| aws_error("CreateBucket", e))?;
                    s3.put_bucket_tagging()
                        .bucket(&bucket)
                        .tagging(
                            Tagging::builder()
                                .tag_set(Tag::builder().key(STACK_TAG).value(ctx.stack()).build()?)
                                .build()?,
                        )
                        .send()
                        .await
                        .map_err(|e| aws_error("PutBucketTagging", e))
                })
                .await?;
            if created.is_none() {
                return Ok(w.finish(&bucket));
            }
        }
    }
    // A public website: Block Public Access off, a public-read policy.
    let blocked = match s3.get_public_access_block().bucket(&bucket).send().await {
        Ok(b) => b.public_access_block_configuration().is_some_and(|c| {
            c.block_public_policy() == Some(true) || c.restrict_public_buckets() == Some(true)
        }),
        Err(e)
            if e.as_service_error().and_then(|e| e.code())
                == Some("NoSuchPublicAccessBlockConfiguration") =>
        {
            false
        }
        Err(e) => return Err(aws_error("GetPublicAccessBlock", e)),
    };
    if blocked {
        w.change("public access", || async {
            s3.delete_public_access_block()
                .bucket(&bucket)
                .send()
                .await
                .map_err(|e| aws_error("DeletePublicAccessBlock", e))
        })
        .await?;
    }
    let want_policy = public_read_policy(&bucket);
    let policy = match s3.get_bucket_policy().bucket(&bucket).send().await {
        Ok(p) => p
            .policy()
            .and_then(|p| serde_json::from_str::<Value>(p).ok()),
        Err(e) if e.as_service_error().and_then(|e| e.code()) == Some("NoSuchBucketPolicy") => None,
        Err(e) => return Err(aws_error("GetBucketPolicy", e)),
    };
    if policy.as_ref() != Some(&want_policy) {
        w.change("policy", || async {
            s3.put_bucket_policy()
                .bucket(&bucket)
                .policy(want_policy.to_string())
                .send()
                .await
                .map_err(|e| aws_error("PutBucketPolicy", e))
        })
        .await?;
    }
    let website = match s3.get_bucket_website().bucket(&bucket).send().await {
        Ok(w) => w.index_document().map(|i| i.suffix().to_owned()),
        Err(e)
            if e.as_service_error().and_then(|e| e.code())
                == Some("NoSuchWebsiteConfiguration") =>
        {
            None
        }
        Err(e) => return Err(aws_error("GetBucketWebsite", e)),
    };
    if website.as_deref() != Some("index.html") {
        w.change("website", || async {
            s3.put_bucket_website()
                .bucket(&bucket)
                .website_configuration(
                    WebsiteConfiguration::builder()
                        .index_document(IndexDocument::builder().suffix("index.html").build()?)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws_error("PutBucketWebsite", e))
        })
        .await?;
    }
    Ok(w.finish(&bucket))
}

/// The generated `config.js`: what the browser needs to find everything.
/// Each region has its own identity pool (and, on the sandbox, its own
/// Facebook stand-in, served with Cognito at the region's address); the
/// page logs in through whichever region serves.
pub fn config_js(ctx: &Ctx) -> String {
    let [p, s] = ctx.config.regions();
    let identity: serde_json::Map<String, serde_json::Value> = [p, s]
        .into_iter()
        .map(|r| {
            let endpoint = (ctx.cognito_endpoint)(r);
            let login = ctx
                .facebook_login_url
                .as_ref()
                .map(|_| format!("{endpoint}sandbox/facebook/dialog/oauth"));
            (
                r.to_owned(),
                json!({
                    "identityPoolId": ctx.outputs.pool_id.get(r),
                    "cognitoEndpoint": endpoint,
                    "facebookLoginUrl": login,
                }),
            )
        })
        .collect();
    let config = json!({
        "stack": ctx.stack(),
        "regions": {"primary": p, "secondary": s},
        "apiUrl": ctx.api_url,
        "identity": identity,
        "facebookAppId": facebook_app_id(ctx),
    });
    format!(
        "// Generated by `wildrydes up`; do not edit.\nwindow.WILDRYDES_CONFIG = {};\n",
        serde_json::to_string_pretty(&config).unwrap_or_default()
    )
}

fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "application/javascript",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The keys in the bucket (none if there is no bucket yet: a dry run).
async fn keys(ctx: &Ctx, bucket: &str) -> anyhow::Result<Vec<String>> {
    let s3 = &ctx.clients.region(&ctx.config.primary_region).s3;
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = match s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_bucket()) => {
                return Ok(keys);
            }
            Err(e) => return Err(aws_error("ListObjectsV2", e)),
        };
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_owned),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Ok(keys);
        }
    }
}

/// Ensures the bucket holds exactly the web UI's files (compared by
/// SHA-256 kept in each object's metadata), then invalidates the CDN.
pub async fn ensure(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let s3 = &ctx.clients.region(&ctx.config.primary_region).s3;
    let bucket = bucket_name(&ctx);
    let mut files = ctx.web.clone();
    files.insert("config.js".into(), config_js(&ctx).into_bytes());
    let mut w = ctx.writer();
    let mut uploaded = 0;
    let mut existed = 0;
    for (key, body) in &files {
        let sha = sha256_hex(body);
        let current = match s3.head_object().bucket(&bucket).key(key).send().await {
            Ok(h) => h.metadata().and_then(|m| m.get("sha256")).cloned(),
            // Also what a bucket still to be made (a dry run) answers.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => None,
            Err(e) => return Err(aws_error("HeadObject", e)),
        };
        existed += usize::from(current.is_some());
        if current.as_deref() == Some(sha.as_str()) {
            continue;
        }
        uploaded += 1;
        w.change(key, || async {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(ByteStream::from(body.clone()))
                .content_type(content_type(key))
                .metadata("sha256", &sha)
                .send()
                .await
                .map_err(|e| aws_error(&format!("PutObject {key}"), e))
        })
        .await?;
    }
    // Objects no longer in web/ go.
    let stale: Vec<String> = keys(&ctx, &bucket)
        .await?
        .into_iter()
        .filter(|k| !files.contains_key(k))
        .collect();
    for key in &stale {
        w.change(key, || async {
            s3.delete_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| aws_error(&format!("DeleteObject {key}"), e))
        })
        .await?;
    }
    let id = format!("{} files", files.len());
    if !w.wrote() {
        return Ok(w.finish(id));
    }
    if existed == 0 && stale.is_empty() {
        w.mark_created();
    }
    // Viewers get the new files at once.
    if let Some(distribution) = ctx.outputs.distribution_id.get() {
        w.after_writes(|| super::distribution::invalidate(&ctx, &distribution))
            .await?;
    }
    let detail = format!("{uploaded} uploaded, {} removed", stale.len());
    Ok(w.finish(id).because(detail))
}

/// Deletes the bucket with everything in it.
pub async fn remove_bucket(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let s3 = &ctx.clients.region(&ctx.config.primary_region).s3;
    let bucket = bucket_name(&ctx);
    match find(&ctx).await? {
        None => return gone(bucket),
        Some(false) => return kept(bucket),
        Some(true) => {}
    }
    ctx.delete(bucket.clone(), || async {
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(&bucket)
                .send()
                .await
                .map_err(|e| aws_error("ListObjectsV2", e))?;
            let keys: Vec<ObjectIdentifier> = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<_, _>>()?;
            if keys.is_empty() {
                break;
            }
            let out = s3
                .delete_objects()
                .bucket(&bucket)
                .delete(Delete::builder().set_objects(Some(keys)).build()?)
                .send()
                .await
                .map_err(|e| aws_error("DeleteObjects", e))?;
            // Per-key failures come back with HTTP 200.
            if let Some(e) = out.errors().first() {
                anyhow::bail!(
                    "DeleteObjects could not delete {}: {}: {}",
                    e.key().unwrap_or("?"),
                    e.code().unwrap_or("error"),
                    e.message().unwrap_or("")
                );
            }
        }
        s3.delete_bucket()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| aws_error("DeleteBucket", e))?;
        Ok(Done::new(Action::Deleted, bucket))
    })
    .await
}
