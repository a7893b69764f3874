//! ACM in a region: certificates requested with DNS validation.
//!
//! As on AWS, a certificate stays PENDING_VALIDATION until the validation
//! CNAME of every name on it exists in a hosted zone of the sandbox's
//! Route 53 (the region process asks the global process; see
//! [`Acm::pending`] and [`Acm::mark_issued`]), then becomes ISSUED.

mod operations;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::door::table::by_name;
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::store::{Store, StoreError};
use operations::{Call, OPERATIONS, READS};

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

/// A region's certificates by ARN.
type Certificates = BTreeMap<String, Certificate>;

pub struct Acm {
    region: String,
    certs: Store<Certificates>,
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
    pub async fn validate_forever<F, Fut, E>(
        self: std::sync::Arc<Self>,
        period: std::time::Duration,
        lookup: F,
    ) where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<String>, E>>,
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
        let call = Call {
            arn: req["CertificateArn"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            req,
        };
        let response = match by_name(OPERATIONS, op) {
            Some(operation) => (operation.handler)(self, &call, &mut certs),
            None => error(
                "UnknownOperationException",
                &format!("the sandbox's ACM has no operation {op}"),
            ),
        };
        if response.is_ok() && !READS.contains(&op) {
            self.certs.commit(&mut certs, before)?;
        }
        response
    }
}
