//! The CloudFront distribution in front of the web bucket (HTTPS for the
//! web UI). CloudFront has no names: the stack's distribution is known by
//! its comment and tag.

use std::sync::Arc;

use aws_sdk_cloudfront::types::{
    CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, DistributionConfigWithTags,
    InvalidationBatch, Origin, OriginProtocolPolicy, Origins, Paths, PriceClass, Tag, Tags,
    ViewerCertificate, ViewerProtocolPolicy,
};

use super::{POLL, SLOW, STACK_TAG, gone, has_stack_tag, nonce, site};
use crate::deploy::{Action, Ctx, Done, aws_error, wait_for};

/// The comment on the stack's distribution.
pub fn distribution_comment(ctx: &Ctx) -> String {
    format!("{STACK_TAG}={} web UI", ctx.stack())
}

/// CloudFront's managed cache policy CachingOptimized.
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";

fn distribution_config(
    ctx: &Ctx,
    caller_reference: &str,
    origin: &str,
) -> anyhow::Result<aws_sdk_cloudfront::types::DistributionConfig> {
    Ok(DistributionConfig::builder()
        .caller_reference(caller_reference)
        .comment(distribution_comment(ctx))
        .enabled(true)
        .default_root_object("index.html")
        .price_class(PriceClass::PriceClass100)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id("website")
                        .domain_name(origin)
                        .custom_origin_config(
                            CustomOriginConfig::builder()
                                .http_port(80)
                                .https_port(443)
                                .origin_protocol_policy(OriginProtocolPolicy::HttpOnly)
                                .build()?,
                        )
                        .build()?,
                )
                .build()?,
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("website")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .cache_policy_id(CACHING_OPTIMIZED)
                .compress(true)
                .build()?,
        )
        .viewer_certificate(
            ViewerCertificate::builder()
                .cloud_front_default_certificate(true)
                .build(),
        )
        .build()?)
}

/// The stack's distribution, as CloudFront lists it.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: String,
    pub domain_name: String,
}

/// The stack's distribution (by comment and tag), every page read.
pub async fn find(ctx: &Ctx) -> anyhow::Result<Option<Found>> {
    let cf = &ctx.clients.cloudfront;
    let comment = distribution_comment(ctx);
    let mut marker = None;
    loop {
        let page = cf
            .list_distributions()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("ListDistributions", e))?;
        let Some(list) = page.distribution_list() else {
            return Ok(None);
        };
        for d in list.items() {
            // AWS lists each distribution's comment; a stand-in that
            // leaves it out (moto) is asked for the tags of each instead.
            if d.comment() != comment && !d.comment().is_empty() {
                continue;
            }
            let tags = cf
                .list_tags_for_resource()
                .resource(d.arn())
                .send()
                .await
                .map_err(|e| aws_error("ListTagsForResource", e))?;
            let ours = tags.tags().is_some_and(|t| {
                has_stack_tag(t.items().iter().map(|t| (t.key(), t.value())), ctx.stack())
            });
            if ours {
                return Ok(Some(Found {
                    id: d.id().to_owned(),
                    domain_name: d.domain_name().to_owned(),
                }));
            }
        }
        if !list.is_truncated() {
            return Ok(None);
        }
        marker = list.next_marker().map(str::to_owned);
    }
}

async fn wait_deployed(ctx: &Ctx, id: &str, what: &str) -> anyhow::Result<()> {
    let cf = &ctx.clients.cloudfront;
    wait_for(what, SLOW, POLL, || async {
        let d = cf
            .get_distribution()
            .id(id)
            .send()
            .await
            .map_err(|e| aws_error("GetDistribution", e))?;
        Ok((d.distribution().map(|d| d.status()) == Some("Deployed")).then_some(()))
    })
    .await
}

/// Ensures the distribution: the bucket's website as its origin, HTTPS.
pub async fn ensure(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let cf = &ctx.clients.cloudfront;
    let origin = site::origin(&ctx);
    let mut w = ctx.writer();
    let deployed = |id: &str| format!("CloudFront distribution {id} to deploy");
    if let Some(found) = find(&ctx).await? {
        let id = found.id;
        ctx.outputs.distribution_id.set(&id);
        ctx.outputs
            .web_origin
            .set((ctx.web_origin)(&found.domain_name));
        let current = cf
            .get_distribution_config()
            .id(&id)
            .send()
            .await
            .map_err(|e| aws_error("GetDistributionConfig", e))?;
        let etag = current.e_tag().unwrap_or_default().to_owned();
        let c = current
            .distribution_config()
            .ok_or_else(|| anyhow::anyhow!("GetDistributionConfig returned no configuration"))?;
        let same = c.enabled()
            && c.default_root_object() == Some("index.html")
            && c.origins()
                .is_some_and(|o| o.items().iter().any(|o| o.domain_name() == origin))
            && c.default_cache_behavior()
                .is_some_and(|b| b.target_origin_id() == "website");
        if !same {
            w.change("origin or settings", || async {
                let config = distribution_config(&ctx, c.caller_reference(), &origin)?;
                cf.update_distribution()
                    .id(&id)
                    .if_match(etag)
                    .distribution_config(config)
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateDistribution", e))?;
                wait_deployed(&ctx, &id, &deployed(&id)).await
            })
            .await?;
        }
        return Ok(w.finish(&id));
    }
    let created = w
        .create(|| async {
            let config =
                distribution_config(&ctx, &format!("{}-web-{}", ctx.stack(), nonce()), &origin)?;
            let out = cf
                .create_distribution_with_tags()
                .distribution_config_with_tags(
                    DistributionConfigWithTags::builder()
                        .distribution_config(config)
                        .tags(
                            Tags::builder()
                                .items(Tag::builder().key(STACK_TAG).value(ctx.stack()).build()?)
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws_error("CreateDistributionWithTags", e))?;
            let d = out
                .distribution()
                .ok_or_else(|| anyhow::anyhow!("CreateDistribution returned nothing"))?;
            let id = d.id().to_owned();
            ctx.outputs.distribution_id.set(&id);
            ctx.outputs
                .web_origin
                .set((ctx.web_origin)(d.domain_name()));
            wait_deployed(&ctx, &id, &deployed(&id)).await?;
            Ok(id)
        })
        .await?;
    Ok(w.finish(created.unwrap_or_else(|| "distribution".into())))
}

/// Invalidates every cached path, so viewers get new files at once.
pub async fn invalidate(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    ctx.clients
        .cloudfront
        .create_invalidation()
        .distribution_id(id)
        .invalidation_batch(
            InvalidationBatch::builder()
                .caller_reference(format!("{}-{}", ctx.stack(), nonce()))
                .paths(Paths::builder().quantity(1).items("/*").build()?)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| aws_error("CreateInvalidation", e))?;
    Ok(())
}

/// Disables the distribution, waits until that is deployed, deletes it.
pub async fn remove(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let cf = &ctx.clients.cloudfront;
    let Some(Found { id, .. }) = find(&ctx).await? else {
        return gone("distribution");
    };
    ctx.delete(id.clone(), || async {
        let current = cf
            .get_distribution_config()
            .id(&id)
            .send()
            .await
            .map_err(|e| aws_error("GetDistributionConfig", e))?;
        let mut etag = current.e_tag().unwrap_or_default().to_owned();
        if let Some(config) = current.distribution_config()
            && config.enabled()
        {
            let mut disabled = config.clone();
            disabled.enabled = false;
            etag = cf
                .update_distribution()
                .id(&id)
                .if_match(&etag)
                .distribution_config(disabled)
                .send()
                .await
                .map_err(|e| aws_error("UpdateDistribution (disable)", e))?
                .e_tag
                .unwrap_or_default();
        }
        // CloudFront deletes only a disabled distribution that finished deploying.
        wait_deployed(&ctx, &id, &format!("distribution {id} to finish disabling")).await?;
        cf.delete_distribution()
            .id(&id)
            .if_match(etag)
            .send()
            .await
            .map_err(|e| aws_error("DeleteDistribution", e))?;
        Ok(Done::new(Action::Deleted, id))
    })
    .await
}
