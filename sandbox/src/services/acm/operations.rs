//! ACM's operations: one function per operation, found through the
//! operation table [`OPERATIONS`] by the name `X-Amz-Target` gives, each
//! given the JSON body and the locked certificates.

use serde_json::{Value, json};

use super::{Acm, Certificate, Certificates, error, now_epoch, ok, validation_record};
use crate::credentials::ACCOUNT_ID;
use crate::door::Outcome;
use crate::door::table::{Operation, named};

/// What an operation gets from the request.
pub(super) struct Call {
    pub(super) req: Value,
    /// Its `CertificateArn` (`""` when it names none).
    pub(super) arn: String,
}

type Handler = fn(&Acm, &Call, &mut Certificates) -> Outcome;

/// ACM's operations, by the name `X-Amz-Target` gives.
pub(super) const OPERATIONS: &[Operation<Handler>] = &[
    named("RequestCertificate", request_certificate),
    named("DescribeCertificate", describe_certificate),
    named("ListCertificates", list_certificates),
    named("ListTagsForCertificate", list_tags_for_certificate),
    named("AddTagsToCertificate", add_tags_to_certificate),
    named("DeleteCertificate", delete_certificate),
];

/// Operations whose success changes nothing to save.
pub(super) const READS: &[&str] = &[
    "DescribeCertificate",
    "ListCertificates",
    "ListTagsForCertificate",
];

fn not_found(arn: &str) -> Outcome {
    error(
        "ResourceNotFoundException",
        &format!("Could not find certificate {arn}."),
    )
}

/// RequestCertificate.
fn request_certificate(acm: &Acm, call: &Call, certs: &mut Certificates) -> Outcome {
    let req = &call.req;
    let Some(domain) = req["DomainName"].as_str() else {
        return error("ValidationException", "DomainName is required");
    };
    let arn = format!(
        "arn:aws:acm:{}:{ACCOUNT_ID}:certificate/{}",
        acm.region,
        uuid::Uuid::new_v4()
    );
    let tags = req["Tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| {
                    Some((
                        t["Key"].as_str()?.to_owned(),
                        t["Value"].as_str().unwrap_or("").to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let sans: Vec<String> = req["SubjectAlternativeNames"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_else(|| vec![domain.to_owned()]);
    certs.insert(
        arn.clone(),
        Certificate {
            arn: arn.clone(),
            domain: domain.to_owned(),
            sans,
            created_at: now_epoch(),
            tags,
            in_use_by: Vec::new(),
            issued_at: None,
        },
    );
    ok(json!({"CertificateArn": arn}))
}

/// DescribeCertificate.
fn describe_certificate(_acm: &Acm, call: &Call, certs: &mut Certificates) -> Outcome {
    let arn = call.arn.as_str();
    match certs.get(arn) {
        Some(c) => {
            let names = c.names();
            let validation = if c.issued_at.is_some() {
                "SUCCESS"
            } else {
                "PENDING_VALIDATION"
            };
            let options: Vec<Value> = names
                .iter()
                .map(|n| json!({"DomainName": n, "ValidationDomain": n, "ValidationStatus": validation, "ValidationMethod": "DNS", "ResourceRecord": validation_record(n)}))
                .collect();
            let mut cert = json!({
                "CertificateArn": c.arn, "DomainName": c.domain, "SubjectAlternativeNames": names,
                "Status": c.status(), "Type": "AMAZON_ISSUED", "KeyAlgorithm": "RSA_2048",
                "DomainValidationOptions": options, "CreatedAt": c.created_at,
                "InUseBy": c.in_use_by, "RenewalEligibility": "INELIGIBLE",
            });
            if let Some(at) = c.issued_at {
                cert["IssuedAt"] = json!(at);
            }
            ok(json!({ "Certificate": cert }))
        }
        None => not_found(arn),
    }
}

/// ListCertificates.
fn list_certificates(_acm: &Acm, call: &Call, certs: &mut Certificates) -> Outcome {
    let req = &call.req;
    let wanted: Vec<&str> = req["CertificateStatuses"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let list: Vec<Value> = certs
        .values()
        .filter(|c| wanted.is_empty() || wanted.contains(&c.status()))
        .map(|c| json!({"CertificateArn": c.arn, "DomainName": c.domain, "Status": c.status(), "Type": "AMAZON_ISSUED", "InUse": !c.in_use_by.is_empty()}))
        .collect();
    ok(json!({"CertificateSummaryList": list}))
}

/// ListTagsForCertificate.
fn list_tags_for_certificate(_acm: &Acm, call: &Call, certs: &mut Certificates) -> Outcome {
    let arn = call.arn.as_str();
    match certs.get(arn) {
        Some(c) => ok(
            json!({"Tags": c.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()}),
        ),
        None => not_found(arn),
    }
}

/// AddTagsToCertificate.
fn add_tags_to_certificate(_acm: &Acm, call: &Call, certs: &mut Certificates) -> Outcome {
    let req = &call.req;
    let arn = call.arn.as_str();
    match certs.get_mut(arn) {
        Some(c) => {
            for t in req["Tags"].as_array().cloned().unwrap_or_default() {
                if let Some(k) = t["Key"].as_str() {
                    c.tags
                        .insert(k.to_owned(), t["Value"].as_str().unwrap_or("").to_owned());
                }
            }
            ok(json!({}))
        }
        None => not_found(arn),
    }
}

/// DeleteCertificate.
fn delete_certificate(_acm: &Acm, call: &Call, certs: &mut Certificates) -> Outcome {
    let arn = call.arn.as_str();
    match certs.get(arn) {
        Some(c) if !c.in_use_by.is_empty() => error(
            "ResourceInUseException",
            &format!("Certificate {arn} in account {ACCOUNT_ID} is in use."),
        ),
        Some(_) => {
            certs.remove(arn);
            ok(json!({}))
        }
        None => not_found(arn),
    }
}
