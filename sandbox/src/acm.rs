//! ACM in a region: certificates requested with DNS validation.
//!
//! On AWS a certificate is ISSUED once its validation CNAME resolves. Until
//! the sandbox's Route 53 lands (the DNS issue), certificates are issued at
//! once; their validation records are still generated and returned, so the
//! deploy code that creates them works unchanged when that check arrives.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::credentials::{ACCOUNT_ID, SandboxSecrets};
use crate::sigv4::{self, AuthFailure, Expect};
use crate::topology::write_atomic;
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
}

pub struct Acm {
    region: String,
    file: PathBuf,
    secrets: std::sync::Arc<SandboxSecrets>,
    certs: Mutex<BTreeMap<String, Certificate>>,
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
    ) -> anyhow::Result<Self> {
        let certs = match std::fs::read_to_string(&file) {
            Ok(t) => serde_json::from_str(&t)?,
            Err(_) => BTreeMap::new(),
        };
        Ok(Acm {
            region: region.to_owned(),
            file,
            secrets,
            certs: Mutex::new(certs),
        })
    }

    fn save(&self, certs: &BTreeMap<String, Certificate>) {
        if let Ok(t) = serde_json::to_vec_pretty(certs) {
            let _ = write_atomic(&self.file, &t, 0o644);
        }
    }

    /// Whether `arn` names an ISSUED certificate in this region.
    pub fn issued(&self, arn: &str) -> bool {
        self.certs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(arn)
    }

    /// Records (or forgets) that a resource uses a certificate.
    pub fn set_in_use(&self, arn: &str, user: &str, used: bool) {
        let mut certs = self.certs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = certs.get_mut(arn) {
            c.in_use_by.retain(|u| u != user);
            if used {
                c.in_use_by.push(user.to_owned());
            }
        }
        self.save(&certs);
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
        let mut certs = self.certs.lock().unwrap_or_else(|p| p.into_inner());
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
                    },
                );
                self.save(&certs);
                ok(json!({"CertificateArn": arn}))
            }
            "DescribeCertificate" => match certs.get(&arn) {
                Some(c) => {
                    let names: Vec<&String> = std::iter::once(&c.domain)
                        .chain(c.sans.iter().filter(|s| **s != c.domain))
                        .collect();
                    let options: Vec<Value> = names
                        .iter()
                        .map(|n| json!({"DomainName": n, "ValidationDomain": n, "ValidationStatus": "SUCCESS", "ValidationMethod": "DNS", "ResourceRecord": validation_record(n)}))
                        .collect();
                    ok(json!({"Certificate": {
                        "CertificateArn": c.arn, "DomainName": c.domain, "SubjectAlternativeNames": names,
                        "Status": "ISSUED", "Type": "AMAZON_ISSUED", "KeyAlgorithm": "RSA_2048",
                        "DomainValidationOptions": options, "CreatedAt": c.created_at, "IssuedAt": c.created_at,
                        "InUseBy": c.in_use_by, "RenewalEligibility": "INELIGIBLE",
                    }}))
                }
                None => not_found(),
            },
            "ListCertificates" => {
                let list: Vec<Value> = certs
                    .values()
                    .map(|c| json!({"CertificateArn": c.arn, "DomainName": c.domain, "Status": "ISSUED", "Type": "AMAZON_ISSUED", "InUse": !c.in_use_by.is_empty()}))
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
                    self.save(&certs);
                    ok(json!({}))
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
                    self.save(&certs);
                    ok(json!({}))
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
