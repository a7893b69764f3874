//! ACM in a region: certificates requested with DNS validation.
//!
//! As on AWS, a certificate stays PENDING_VALIDATION until the validation
//! CNAME of every name on it exists in a hosted zone of the sandbox's
//! Route 53 (the region process asks the global process; see
//! [`Acm::pending`] and [`Acm::mark_issued`]), then becomes ISSUED.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::credentials::ACCOUNT_ID;
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Certificate {
    arn: String,
    domain: String,
    sans: Vec<String>,
    created_at: f64,
    tags: BTreeMap<String, String>,
    in_use_by: Vec<String>,
    /// When validation succeeded; `None` while PENDING_VALIDATION.
    #[serde(default)]
    issued_at: Option<f64>,
}

impl Certificate {
    fn status(&self) -> &'static str {
        if self.issued_at.is_some() {
            "ISSUED"
        } else {
            "PENDING_VALIDATION"
        }
    }

    /// The domain name first, then the other subject alternative names.
    fn names(&self) -> Vec<&String> {
        std::iter::once(&self.domain)
            .chain(self.sans.iter().filter(|s| **s != self.domain))
            .collect()
    }
}

pub struct Acm {
    region: String,
    certs: Store<BTreeMap<String, Certificate>>,
}

/// An ACM error (the door gives it the awsJson1_1 envelope).
fn error(code: &str, message: &str) -> Outcome {
    Err(ServiceError::bad_request(code, message))
}

fn ok(v: Value) -> Outcome {
    Ok(Reply::json(&v))
}

fn now_epoch() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as f64
}

/// The DNS validation record AWS would ask for, derived from the name.
fn validation_record(domain: &str) -> Value {
    let h = hex::encode(Sha256::digest(domain.as_bytes()));
    json!({
        "Name": format!("_{}.{domain}.", &h[..32]),
        "Type": "CNAME",
        "Value": format!("_{}.acm-validations.aws.", &h[32..64]),
    })
}

impl Acm {
    pub fn open(region: &str, file: PathBuf) -> Result<Self, StoreError> {
        Ok(Acm {
            region: region.to_owned(),
            certs: Store::open(file)?,
        })
    }

    /// Whether `arn` names an ISSUED certificate in this region.
    pub fn issued(&self, arn: &str) -> bool {
        self.certs
            .lock()
            .get(arn)
            .is_some_and(|c| c.issued_at.is_some())
    }

    /// Certificates awaiting validation, each with the (record name,
    /// expected value) of every name on it.
    pub fn pending(&self) -> Vec<(String, Vec<(String, String)>)> {
        let certs = self.certs.lock();
        certs
            .values()
            .filter(|c| c.issued_at.is_none())
            .map(|c| {
                let records = c
                    .names()
                    .into_iter()
                    .map(|n| {
                        let r = validation_record(n);
                        (
                            r["Name"].as_str().unwrap_or_default().to_owned(),
                            r["Value"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                (c.arn.clone(), records)
            })
            .collect()
    }

    /// Marks a certificate ISSUED (its validation records were found).
    pub fn mark_issued(&self, arn: &str) {
        let mut certs = self.certs.lock();
        if let Some(c) = certs.get_mut(arn)
            && c.issued_at.is_none()
        {
            c.issued_at = Some(now_epoch());
            tracing::info!(
                certificate = arn,
                "validation records found; certificate issued"
            );
            if let Err(e) = self.certs.save(&certs) {
                // Issued in memory; the next save persists it.
                tracing::warn!(certificate = arn, "{e}");
            }
        }
    }

    /// Issues pending certificates whose validation CNAMEs exist, asking
    /// `lookup` for a record's values, every `period`, for ever.
    pub async fn validate_forever<F, Fut>(
        self: std::sync::Arc<Self>,
        period: std::time::Duration,
        lookup: F,
    ) where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Vec<String>>>,
    {
        loop {
            for (arn, records) in self.pending() {
                let mut all = true;
                for (name, value) in records {
                    let found = lookup(name).await.unwrap_or_default();
                    let want = value.trim_end_matches('.');
                    if !found
                        .iter()
                        .any(|v| v.trim_end_matches('.').eq_ignore_ascii_case(want))
                    {
                        all = false;
                        break;
                    }
                }
                if all {
                    self.mark_issued(&arn);
                }
            }
            tokio::time::sleep(period).await;
        }
    }

    /// Records (or forgets) that a resource uses a certificate.
    pub fn set_in_use(&self, arn: &str, user: &str, used: bool) -> Result<(), StoreError> {
        let mut certs = self.certs.lock();
        let before = certs.clone();
        if let Some(c) = certs.get_mut(arn) {
            c.in_use_by.retain(|u| u != user);
            if used {
                c.in_use_by.push(user.to_owned());
            }
        }
        self.certs.commit(&mut certs, before)
    }

    /// Serves one (authenticated) ACM request.
    pub fn handle(&self, input: &Input) -> Outcome {
        let req = input.json()?;
        let target = input.header("x-amz-target").unwrap_or_default();
        let op = target.trim_start_matches("CertificateManager.");
        let mut certs = self.certs.lock();
        let before = certs.clone();
        let arn = req["CertificateArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let not_found = || {
            error(
                "ResourceNotFoundException",
                &format!("Could not find certificate {arn}."),
            )
        };
        let saved = |r: Result<(), StoreError>, v: Value| {
            r?;
            ok(v)
        };
        match op {
            "RequestCertificate" => {
                let Some(domain) = req["DomainName"].as_str() else {
                    return error("ValidationException", "DomainName is required");
                };
                let arn = format!(
                    "arn:aws:acm:{}:{ACCOUNT_ID}:certificate/{}",
                    self.region,
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
                saved(
                    self.certs.commit(&mut certs, before),
                    json!({"CertificateArn": arn}),
                )
            }
            "DescribeCertificate" => match certs.get(&arn) {
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
                None => not_found(),
            },
            "ListCertificates" => {
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
            "ListTagsForCertificate" => match certs.get(&arn) {
                Some(c) => ok(
                    json!({"Tags": c.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()}),
                ),
                None => not_found(),
            },
            "AddTagsToCertificate" => match certs.get_mut(&arn) {
                Some(c) => {
                    for t in req["Tags"].as_array().cloned().unwrap_or_default() {
                        if let Some(k) = t["Key"].as_str() {
                            c.tags
                                .insert(k.to_owned(), t["Value"].as_str().unwrap_or("").to_owned());
                        }
                    }
                    saved(self.certs.commit(&mut certs, before), json!({}))
                }
                None => not_found(),
            },
            "DeleteCertificate" => match certs.get(&arn) {
                Some(c) if !c.in_use_by.is_empty() => error(
                    "ResourceInUseException",
                    &format!("Certificate {arn} in account {ACCOUNT_ID} is in use."),
                ),
                Some(_) => {
                    certs.remove(&arn);
                    saved(self.certs.commit(&mut certs, before), json!({}))
                }
                None => not_found(),
            },
            other => error(
                "UnknownOperationException",
                &format!("the sandbox's ACM has no operation {other}"),
            ),
        }
    }
}
