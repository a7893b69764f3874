//! CloudFront's control-plane operations: creating, updating and deleting
//! distributions (with `If-Match` against their ETags), invalidations,
//! listing and tags.

use std::collections::BTreeMap;

use http::StatusCode;

use super::{
    CloudFront, Distribution, Invalidation, Settings, error, location, new_id, no_content,
    no_such_distribution, now_ms, ok,
};
use crate::door::{Outcome, ServiceError};
use crate::wire::{tag_elements, xml_escape};
use crate::xml::Element;

impl CloudFront {
    pub(super) fn create(
        &self,
        d: &mut BTreeMap<String, Distribution>,
        params: &BTreeMap<String, String>,
        body: &[u8],
    ) -> Outcome {
        let Some(doc) = Element::parse(body) else {
            return malformed();
        };
        let (config, tags) = if params.contains_key("WithTags") {
            let Some(config) = doc.child("DistributionConfig") else {
                return malformed();
            };
            (config.clone(), read_tags(doc.child("Tags")))
        } else {
            (doc, BTreeMap::new())
        };
        let settings = Settings::read(&config)?;
        let config_xml = config.inner_xml();
        if let Some(existing) = d.values().find(|x| {
            x.settings()
                .is_some_and(|s| s.caller_reference == settings.caller_reference)
        }) {
            return error(
                StatusCode::CONFLICT,
                "DistributionAlreadyExists",
                &format!(
                    "The caller reference that you are using to create a distribution is associated with another distribution. Already exists: {}",
                    existing.id
                ),
            );
        }
        let x = Distribution {
            id: new_id("E"),
            etag: new_id("E"),
            config_xml,
            modified_ms: now_ms(),
            tags,
            invalidations: Vec::new(),
        };
        let resp = ok(
            StatusCode::CREATED,
            "Distribution",
            &x.xml(),
            &[
                ("ETag", x.etag.clone()),
                ("Location", location(&format!("distribution/{}", x.id))),
            ],
        );
        d.insert(x.id.clone(), x);
        resp
    }

    pub(super) fn invalidate(
        &self,
        d: &mut BTreeMap<String, Distribution>,
        id: &str,
        body: &[u8],
    ) -> Outcome {
        let Some(x) = d.get_mut(id) else {
            return no_such_distribution();
        };
        let Some(batch) = Element::parse(body) else {
            return malformed();
        };
        let paths: Vec<String> = batch
            .child("Paths")
            .and_then(|p| p.child("Items"))
            .map(|items| items.all("Path").map(|p| p.text.clone()).collect())
            .unwrap_or_default();
        let caller_reference = batch
            .text_of("CallerReference")
            .unwrap_or_default()
            .to_owned();
        if paths.is_empty() || caller_reference.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "An invalidation needs at least one path and a CallerReference.",
            );
        }
        if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                &format!("Your request contains one or more invalid invalidation paths: {p}"),
            );
        }
        if let Some(previous) = x
            .invalidations
            .iter()
            .find(|i| i.caller_reference == caller_reference)
        {
            if previous.paths != paths {
                return error(
                    StatusCode::CONFLICT,
                    "InvalidationBatchAlreadyExists",
                    "The CallerReference of this invalidation batch was used with different paths.",
                );
            }
            return ok(StatusCode::CREATED, "Invalidation", &previous.xml(), &[]);
        }
        let inv = Invalidation {
            id: new_id("I"),
            caller_reference,
            paths,
            created_ms: now_ms(),
        };
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(dist, path), _| dist != id || !inv.covers(path));
        let resp = ok(
            StatusCode::CREATED,
            "Invalidation",
            &inv.xml(),
            &[(
                "Location",
                location(&format!("distribution/{id}/invalidation/{}", inv.id)),
            )],
        );
        x.invalidations.push(inv);
        resp
    }
}

fn malformed<T: From<ServiceError>>() -> T {
    error(
        StatusCode::BAD_REQUEST,
        "MalformedInput",
        "Could not parse the request body as XML.",
    )
}

pub(super) fn no_such_resource<T: From<ServiceError>>() -> T {
    error(
        StatusCode::NOT_FOUND,
        "NoSuchResource",
        "The specified CloudFront resource does not exist.",
    )
}

fn read_tags(tags: Option<&Element>) -> BTreeMap<String, String> {
    tags.and_then(|t| t.child("Items"))
        .map(|items| {
            items
                .all("Tag")
                .filter_map(|t| {
                    Some((
                        t.text_of("Key")?.to_owned(),
                        t.text_of("Value").unwrap_or_default().to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn tags_xml(tags: &BTreeMap<String, String>) -> String {
    format!("<Items>{}</Items>", tag_elements(tags))
}

pub(super) fn by_arn<'a>(
    d: &'a BTreeMap<String, Distribution>,
    params: &BTreeMap<String, String>,
) -> Option<&'a Distribution> {
    let arn = params.get("Resource")?;
    d.values().find(|x| x.arn() == *arn)
}

pub(super) fn tagging(
    d: &mut BTreeMap<String, Distribution>,
    params: &BTreeMap<String, String>,
    body: &[u8],
) -> Outcome {
    let Some(id) = by_arn(d, params).map(|x| x.id.clone()) else {
        return no_such_resource();
    };
    let Some(doc) = Element::parse(body) else {
        return malformed();
    };
    let x = d.get_mut(&id).expect("found by ARN");
    match params.get("Operation").map(String::as_str) {
        Some("Tag") => {
            x.tags.extend(read_tags(Some(&doc)));
            no_content()
        }
        Some("Untag") => {
            if let Some(items) = doc.child("Items") {
                for k in items.all("Key") {
                    x.tags.remove(&k.text);
                }
            }
            no_content()
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Operation must be Tag or Untag.",
        ),
    }
}

pub(super) fn list(
    d: &BTreeMap<String, Distribution>,
    params: &BTreeMap<String, String>,
) -> Outcome {
    let max: usize = params
        .get("MaxItems")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let marker = params.get("Marker").cloned().unwrap_or_default();
    let after: Vec<&Distribution> = d
        .values()
        .filter(|x| marker.is_empty() || x.id > marker)
        .collect();
    let page = &after[..after.len().min(max)];
    let truncated = after.len() > max;
    let items: String = page.iter().map(|x| x.summary_xml()).collect();
    let next = if truncated {
        format!(
            "<NextMarker>{}</NextMarker>",
            page.last().map(|x| x.id.as_str()).unwrap_or("")
        )
    } else {
        String::new()
    };
    ok(
        StatusCode::OK,
        "DistributionList",
        &format!(
            "<Marker>{}</Marker>{next}<MaxItems>{max}</MaxItems><IsTruncated>{truncated}</IsTruncated><Quantity>{}</Quantity><Items>{items}</Items>",
            xml_escape(&marker),
            page.len()
        ),
        &[],
    )
}

/// Checks `If-Match` against the distribution's ETag.
fn precondition(x: &Distribution, if_match: Option<String>) -> Result<(), ServiceError> {
    match if_match {
        None => Err(error(
            StatusCode::BAD_REQUEST,
            "InvalidIfMatchVersion",
            "The If-Match version is missing or not valid for the resource.",
        )),
        Some(tag) if tag.trim_matches('"') != x.etag => Err(error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "The precondition given in one or more of the request header fields evaluated to false.",
        )),
        Some(_) => Ok(()),
    }
}

pub(super) fn update(
    d: &mut BTreeMap<String, Distribution>,
    id: &str,
    if_match: Option<String>,
    body: &[u8],
) -> Outcome {
    let Some(x) = d.get_mut(id) else {
        return no_such_distribution();
    };
    precondition(x, if_match)?;
    let Some(config) = Element::parse(body) else {
        return malformed();
    };
    let settings = Settings::read(&config)?;
    if x.settings()
        .is_some_and(|old| old.caller_reference != settings.caller_reference)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "IllegalUpdate",
            "Origin and CallerReference cannot be updated.",
        );
    }
    x.config_xml = config.inner_xml();
    x.etag = new_id("E");
    x.modified_ms = now_ms();
    ok(
        StatusCode::OK,
        "Distribution",
        &x.xml(),
        &[("ETag", x.etag.clone())],
    )
}

pub(super) fn delete(
    d: &mut BTreeMap<String, Distribution>,
    id: &str,
    if_match: Option<String>,
) -> Outcome {
    let Some(x) = d.get(id) else {
        return no_such_distribution();
    };
    precondition(x, if_match)?;
    if x.settings().is_some_and(|s| s.enabled) || x.status() != "Deployed" {
        return error(
            StatusCode::CONFLICT,
            "DistributionNotDisabled",
            "The distribution you are trying to delete has not been disabled.",
        );
    }
    d.remove(id);
    no_content()
}
