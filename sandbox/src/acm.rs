//! ACM in a region: certificates requested with DNS validation.
//!
//! As on AWS, a certificate stays PENDING_VALIDATION until the validation
//! CNAME of every name on it exists in a hosted zone of the sandbox's
//! Route 53 (the region process asks the global process; see
//! [`Acm::pending`] and [`Acm::mark_issued`]), then becomes ISSUED.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::credentials::{ACCOUNT_ID, SandboxSecrets};
use crate::sigv4::{self, AuthFailure, Expect};
use crate::store::{Store, StoreError};
use crate::wire::respond;

const JSON_11: &str = "application/x-amz-json-1.1";

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
    secrets: std::sync::Arc<SandboxSecrets>,
    certs: Store<BTreeMap<String, Certificate>>,
}

/// An awsJson1_1 error as ACM sends it (short `__type`).
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    respond(
        status,
        JSON_11,
        "x-amzn-RequestId",
        json!({"__type": code, "message": message}).to_string(),
    )
}

/// ACM's answer when the sandbox could not save its state.
fn internal(e: &StoreError) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalFailure",
        &e.to_string(),
    )
}

fn auth_error(failure: &AuthFailure) -> Response {
    let code = failure.exception_code();
    error(StatusCode::BAD_REQUEST, code, &failure.message())
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
    pub fn open(
        region: &str,
        file: PathBuf,
        secrets: std::sync::Arc<SandboxSecrets>,
    ) -> Result<Self, StoreError> {
        Ok(Acm {
            region: region.to_owned(),
            secrets,
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

    pub fn handle(
        &self,
        target: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        if let Err(f) = sigv4::verify(
            "POST",
            path_and_query,
            headers,
            body,
            &self.secrets,
            Expect {
                regions: &[self.region.as_str()],
                service: "acm",
            },
        ) {
            return auth_error(&f);
        }
        let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let op = target.trim_start_matches("CertificateManager.");
        let mut certs = self.certs.lock();
        let before = certs.clone();
        let arn = req["CertificateArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let not_found = || {
            error(
                StatusCode::BAD_REQUEST,
                "ResourceNotFoundException",
                &format!("Could not find certificate {arn}."),
            )
        };
        let ok = |v: Value| respond(StatusCode::OK, JSON_11, "x-amzn-RequestId", v.to_string());
        let saved = |r: Result<(), StoreError>, v: Value| match r {
            Ok(()) => ok(v),
            Err(e) => internal(&e),
        };
        match op {
            "RequestCertificate" => {
                let Some(domain) = req["DomainName"].as_str() else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "ValidationException",
                        "DomainName is required",
                    );
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
                    StatusCode::BAD_REQUEST,
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
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                &format!("the sandbox's ACM has no operation {other}"),
            ),
        }
    }
}
