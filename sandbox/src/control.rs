//! The sandbox control API: what AWS has no API for. Every process serves
//! it under `/_sandbox/` (a path no AWS service uses), with a bearer token
//! from the credentials file. This module holds its wire types and the one
//! typed client the CLI and the processes themselves use.

use crate::authz::regional::RoleDocuments;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::services::dynamodb::replication::{Settings, SubscriptionStatus};

/// Path prefix of the control API.
pub const PREFIX: &str = "/_sandbox/";

/// `GET /_sandbox/ready`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ready {
    /// A region name or `global`.
    pub process: String,
    pub pid: u32,
    pub version: String,
}

/// `GET /_sandbox/replication`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicationReport {
    pub settings: Settings,
    pub subscriptions: Vec<SubscriptionStatus>,
}

/// `POST /_sandbox/replicas/create`: make a replica here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaCreate {
    pub table: String,
    /// The region whose `UpdateTable` asked for it; the backfill source.
    pub source: String,
    /// Regions already in the global table.
    pub members: Vec<String>,
    /// A `CreateTable` request for the replica.
    pub definition: Value,
}

/// `POST /_sandbox/replicas/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaStatus {
    pub table: String,
    pub region: String,
    pub status: String,
}

/// `POST /_sandbox/replicas/delete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaDelete {
    pub table: String,
}

/// Why a call to the control API failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The request did not reach the process, or its answer did not arrive
    /// whole (a stopped, frozen or busy process).
    #[error("cannot reach the control API")]
    Connection(#[source] reqwest::Error),
    /// The process answered with an error status; `message` is the
    /// answer's `error` field, or its whole body when it has none.
    #[error("control API answered {status}: {message}")]
    Status {
        status: reqwest::StatusCode,
        message: String,
    },
    /// The answer is not the JSON this client expects (a different
    /// sandbox version on the port?).
    #[error("the control API's answer is not the JSON expected")]
    Json(#[source] serde_json::Error),
}

impl ControlError {
    /// The process refused because what was to be created exists already
    /// (409 Conflict).
    pub fn is_conflict(&self) -> bool {
        matches!(self, ControlError::Status { status, .. } if *status == reqwest::StatusCode::CONFLICT)
    }
}

/// A typed client for one process's control API.
#[derive(Clone)]
pub struct ControlClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// Never shows the bearer token.
impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient")
            .field("base", &self.base)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl ControlClient {
    /// `endpoint` is the process's `http://address:port`.
    pub fn new(endpoint: &str, token: &str) -> Self {
        ControlClient {
            base: format!(
                "{}{}",
                endpoint.trim_end_matches('/'),
                PREFIX.trim_end_matches('/')
            ),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .connect_timeout(Duration::from_secs(1))
                .build()
                .expect("a plain HTTP client builds"),
        }
    }

    /// The same client with a shorter per-call deadline (readiness probes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("a plain HTTP client builds");
        self
    }

    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ControlError> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(ControlError::Connection)?;
        let status = resp.status();
        let text = resp.text().await.map_err(ControlError::Connection)?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(ControlError::Status { status, message });
        }
        serde_json::from_str(&text).map_err(ControlError::Json)
    }

    pub async fn ready(&self) -> Result<Ready, ControlError> {
        self.send(self.http.get(format!("{}/ready", self.base)))
            .await
    }

    /// A role's documents (global process): whether it exists, its trust
    /// policy and its identity-based policies.
    pub async fn role_documents(&self, arn: &str) -> Result<RoleDocuments, ControlError> {
        let query =
            serde_urlencoded::to_string([("arn", arn)]).expect("string pairs always encode");
        let v: Value = self
            .send(self.http.get(format!("{}/iam/role?{query}", self.base)))
            .await?;
        serde_json::from_value(v).map_err(ControlError::Json)
    }

    /// The values of the CNAME record `name` in the sandbox's hosted zones
    /// (global process); empty when there is none.
    pub async fn cname_values(&self, name: &str) -> Result<Vec<String>, ControlError> {
        let query =
            serde_urlencoded::to_string([("name", name)]).expect("string pairs always encode");
        let v: Value = self
            .send(
                self.http
                    .get(format!("{}/route53/cname?{query}", self.base)),
            )
            .await?;
        Ok(v["values"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The edge proxy's configuration (global process).
    pub async fn edge(&self) -> Result<crate::edge::EdgeConfig, ControlError> {
        self.send(self.http.get(format!("{}/edge", self.base)))
            .await
    }

    /// Sets the edge proxy's configuration (global process).
    pub async fn set_edge(
        &self,
        config: &crate::edge::EdgeConfig,
    ) -> Result<crate::edge::EdgeConfig, ControlError> {
        self.send(self.http.put(format!("{}/edge", self.base)).json(config))
            .await
    }

    /// A health check's status and checker history (global process).
    pub async fn health_check(&self, id: &str) -> Result<Value, ControlError> {
        self.send(
            self.http
                .get(format!("{}/route53/healthchecks/{id}", self.base)),
        )
        .await
    }

    pub async fn replication(&self) -> Result<ReplicationReport, ControlError> {
        self.send(self.http.get(format!("{}/replication", self.base)))
            .await
    }

    pub async fn set_replication(&self, settings: Settings) -> Result<Settings, ControlError> {
        self.send(
            self.http
                .put(format!("{}/replication", self.base))
                .json(&settings),
        )
        .await
    }

    pub async fn create_replica(&self, create: &ReplicaCreate) -> Result<Value, ControlError> {
        self.send(
            self.http
                .post(format!("{}/replicas/create", self.base))
                .json(create),
        )
        .await
    }

    pub async fn delete_replica(&self, table: &str) -> Result<Value, ControlError> {
        let body = ReplicaDelete {
            table: table.to_owned(),
        };
        self.send(
            self.http
                .post(format!("{}/replicas/delete", self.base))
                .json(&body),
        )
        .await
    }

    pub async fn replica_status(
        &self,
        table: &str,
        region: &str,
        status: &str,
    ) -> Result<Value, ControlError> {
        let body = ReplicaStatus {
            table: table.to_owned(),
            region: region.to_owned(),
            status: status.to_owned(),
        };
        self.send(
            self.http
                .post(format!("{}/replicas/status", self.base))
                .json(&body),
        )
        .await
    }
}

#[cfg(test)]
mod debug_tests {
    #[test]
    fn debug_output_hides_the_token() {
        let c = super::ControlClient::new("http://127.0.1.1:4710", "s3cr3t-bearer");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t-bearer"), "{shown}");
        assert!(shown.contains("127.0.1.1:4710"), "{shown}");
    }
}
