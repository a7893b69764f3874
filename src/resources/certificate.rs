//! The ACM certificate of one region, for the API domain and the region's
//! own `<region>.api.` name, validated through DNS records in the zone.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_acm::types::{CertificateDetail, CertificateStatus, Tag, ValidationMethod};

use super::{POLL, SLOW, STACK_TAG, gone, has_stack_tag, regional_api_domain, zone};
use crate::deploy::{Action, Ctx, Done, aws_error, wait_for};

/// The ARNs of this stack's certificates in `region` (for the API domain,
/// carrying the stack's tag), every page read.
pub async fn find(ctx: &Ctx, region: &str) -> anyhow::Result<Vec<String>> {
    let acm = &ctx.clients.region(region).acm;
    let mut summaries = Vec::new();
    let mut token = None;
    loop {
        let page = acm
            .list_certificates()
            .certificate_statuses(CertificateStatus::PendingValidation)
            .certificate_statuses(CertificateStatus::Issued)
            .certificate_statuses(CertificateStatus::Failed)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("ListCertificates", e))?;
        summaries.extend(page.certificate_summary_list().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for c in &summaries {
        if c.domain_name() != Some(ctx.config.api_domain().as_str()) {
            continue;
        }
        let arn = c.certificate_arn().unwrap_or_default();
        let tags = acm
            .list_tags_for_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("ListTagsForCertificate", e))?;
        if has_stack_tag(
            tags.tags().iter().map(|t| (t.key(), t.value())),
            ctx.stack(),
        ) {
            out.push(arn.to_owned());
        }
    }
    Ok(out)
}

/// The certificate `arn`, `None` while ACM does not know it yet (just
/// after the request).
async fn describe(ctx: &Ctx, region: &str, arn: &str) -> anyhow::Result<Option<CertificateDetail>> {
    match ctx
        .clients
        .region(region)
        .acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
    {
        Ok(out) => Ok(out.certificate),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error("DescribeCertificate", e)),
    }
}

/// The names of the validation records of the stack's certificates in
/// both regions (lower case, no trailing dot): `down` removes them.
pub async fn validation_record_names(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for region in ctx.config.regions() {
        for arn in find(ctx, region).await? {
            if let Ok(Some(c)) = describe(ctx, region, &arn).await {
                names.extend(
                    c.domain_validation_options()
                        .iter()
                        .filter_map(|o| o.resource_record())
                        .map(|r| r.name().trim_end_matches('.').to_ascii_lowercase()),
                );
            }
        }
    }
    Ok(names)
}

/// Ensures an issued certificate in `region`: requested if missing, its
/// validation records written to the zone, waited for until ISSUED.
pub async fn ensure(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let acm = &ctx.clients.region(&region).acm;
    let domain = ctx.config.api_domain();
    let own = regional_api_domain(&ctx, &region);
    let mut w = ctx.writer();
    let arn = match find(&ctx, &region).await?.into_iter().next() {
        Some(a) => a,
        None => {
            let requested = w
                .create(|| async {
                    acm.request_certificate()
                        .domain_name(&domain)
                        .subject_alternative_names(&domain)
                        .subject_alternative_names(&own)
                        .validation_method(ValidationMethod::Dns)
                        .tags(Tag::builder().key(STACK_TAG).value(ctx.stack()).build()?)
                        .send()
                        .await
                        .map_err(|e| aws_error("RequestCertificate", e))?
                        .certificate_arn
                        .ok_or_else(|| anyhow::anyhow!("RequestCertificate returned no ARN"))
                })
                .await?;
            match requested {
                Some(arn) => arn,
                None => return Ok(w.finish(domain)),
            }
        }
    };
    ctx.outputs.certificate_arn.set(&region, &arn);
    // The validation records appear a few seconds after the request on AWS.
    let detail = wait_for(
        &format!("the validation records of {arn}"),
        Duration::from_secs(120),
        POLL,
        || async {
            let Some(c) = describe(&ctx, &region, &arn).await? else {
                return Ok(None);
            };
            let options = c.domain_validation_options();
            let ready = matches!(
                c.status(),
                Some(CertificateStatus::Issued | CertificateStatus::Failed)
            ) || (!options.is_empty()
                && options.iter().all(|o| o.resource_record().is_some()));
            Ok(ready.then_some(c))
        },
    )
    .await?;
    if detail.status() == Some(&CertificateStatus::Failed) {
        anyhow::bail!(
            "certificate {arn} failed validation ({}): `wildrydes down` removes it, then run up again",
            detail
                .failure_reason()
                .map(|r| r.as_str())
                .unwrap_or("no reason given")
        );
    }
    if detail.status() == Some(&CertificateStatus::Issued) {
        return Ok(w.finish(&arn));
    }
    let records: Vec<(String, String)> = detail
        .domain_validation_options()
        .iter()
        .filter_map(|o| o.resource_record())
        .map(|r| (r.name().to_owned(), r.value().to_owned()))
        .collect();
    w.change("validation records", || async {
        let zone = ctx
            .outputs
            .zone_id
            .get()
            .ok_or_else(|| anyhow::anyhow!("internal: no hosted zone id"))?;
        for (name, value) in records {
            let record = zone::simple_record(&name, "CNAME", &value, 300)?;
            if zone::compare_record(&ctx, &zone, &record).await?.is_some() {
                zone::upsert(&ctx, &zone, record).await?;
            }
        }
        wait_issued(&ctx, &region, &arn).await
    })
    .await?;
    Ok(w.finish(&arn))
}

async fn wait_issued(ctx: &Ctx, region: &str, arn: &str) -> anyhow::Result<()> {
    wait_for(&format!("certificate {arn} to be ISSUED"), SLOW, POLL, || async {
        let c = describe(ctx, region, arn).await?;
        match c.as_ref().and_then(|c| c.status()) {
            Some(CertificateStatus::Issued) => Ok(Some(())),
            Some(CertificateStatus::Failed) => anyhow::bail!(
                "certificate {arn} failed validation: `wildrydes down` removes it, then run up again"
            ),
            _ => Ok(None),
        }
    })
    .await
}

/// Deletes the stack's certificates in `region`, once the custom domains
/// let go of them.
pub async fn remove(ctx: Arc<Ctx>, region: String) -> anyhow::Result<Done> {
    let arns = find(&ctx, &region).await?;
    if arns.is_empty() {
        return gone(ctx.config.api_domain());
    }
    let acm = &ctx.clients.region(&region).acm;
    ctx.delete(arns.join(", "), || async {
        for arn in &arns {
            // A domain name lets go of its certificate a moment after deletion.
            wait_for(
                &format!("certificate {arn} to be released"),
                Duration::from_secs(300),
                POLL,
                || async {
                    match acm.delete_certificate().certificate_arn(arn).send().await {
                        Ok(_) => Ok(Some(())),
                        Err(e)
                            if e.as_service_error()
                                .is_some_and(|e| e.is_resource_in_use_exception()) =>
                        {
                            Ok(None)
                        }
                        Err(e)
                            if e.as_service_error()
                                .is_some_and(|e| e.is_resource_not_found_exception()) =>
                        {
                            Ok(Some(()))
                        }
                        Err(e) => Err(aws_error("DeleteCertificate", e)),
                    }
                },
            )
            .await?;
        }
        Ok(Done::new(Action::Deleted, arns.join(", ")))
    })
    .await
}
