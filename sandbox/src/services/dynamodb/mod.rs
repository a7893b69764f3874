//! DynamoDB and DynamoDB Streams for one region: the `dynoxide` engine on an
//! internal listener, fronted by this module, which checks SigV4, rewrites
//! ARNs and regions (dynoxide names everything `dynoxide`), and handles
//! what dynoxide does not: global-table replicas (`UpdateTable`
//! `ReplicaUpdates`, `Replicas` in `DescribeTable`), resource policies, and
//! the marks that keep replicated writes from echoing back.

mod apply;
pub mod attributes;
pub mod meta;
pub mod policy;
pub mod recovery;
mod replicas;
pub mod replication;

use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::control::ControlClient;
use crate::credentials::{ACCOUNT_ID, Principal, REPLICATION_SERVICE};
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::store::OpenError;
use meta::Meta;
use replication::Replicator;

const JSON_10: &str = "application/x-amz-json-1.0";
const DDB: &str = "com.amazonaws.dynamodb.v20120810#";
/// The global-table version the sandbox implements.
pub const GLOBAL_TABLE_VERSION: &str = "2019.11.21";

/// Operations that change items: forwarded under the replication gate so
/// a replication batch sees no interleaved client write.
const WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

/// A DynamoDB error (the door gives it the awsJson1_0 envelope); as an
/// [`Outcome`] or a [`ServiceError`], whichever the caller returns.
fn error<T: From<ServiceError>>(status: StatusCode, type_: &str, message: impl AsRef<str>) -> T {
    ServiceError::new(status, type_, message.as_ref()).into()
}

fn validation<T: From<ServiceError>>(message: impl AsRef<str>) -> T {
    error(
        StatusCode::BAD_REQUEST,
        "com.amazon.coral.validate#ValidationException",
        message,
    )
}

fn not_found<T: From<ServiceError>>(message: impl AsRef<str>) -> T {
    error(
        StatusCode::BAD_REQUEST,
        &format!("{DDB}ResourceNotFoundException"),
        message,
    )
}

fn internal<T: From<ServiceError>>(message: impl AsRef<str>) -> T {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("{DDB}InternalServerError"),
        message,
    )
}

/// The DynamoDB endpoint of one region.
pub struct Dynamo {
    pub region: String,
    pub db: dynoxide::Database,
    internal: String,
    http: reqwest::Client,
    pub meta: Arc<Meta>,
    pub replicator: Arc<Replicator>,
    peers: Vec<(String, ControlClient)>,
}

/// `arn:aws:dynamodb:<region>:<account>:` as clients see it.
fn arn_prefix(region: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{ACCOUNT_ID}:")
}

const ENGINE_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIASANDBOXVERIFIED/20260101/dynoxide/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";

const ENGINE_ARN_PREFIX: &str = "arn:aws:dynamodb:dynoxide:000000000000:";

/// A table's ARN in `region`.
pub fn table_arn(region: &str, table: &str) -> String {
    format!("{}table/{table}", arn_prefix(region))
}

/// The table name a `TableName` / ARN parameter names.
fn table_name_of(value: &str) -> &str {
    let rest = match value.split_once(":table/") {
        Some((_, rest)) => rest,
        None => value.strip_prefix("table/").unwrap_or(value),
    };
    rest.split('/').next().unwrap_or(rest)
}

impl Dynamo {
    /// Starts the engine on an internal loopback listener over `db`.
    pub async fn start(
        region: &str,
        db: dynoxide::Database,
        meta: Arc<Meta>,
        replicator: Arc<Replicator>,
        peers: Vec<(String, ControlClient)>,
    ) -> Result<Self, OpenError> {
        let listen_error = |source| OpenError::Listen {
            what: "the DynamoDB engine",
            source,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(listen_error)?;
        let internal = format!("http://{}", listener.local_addr().map_err(listen_error)?);
        tokio::spawn(dynoxide::server::serve_on(listener, db.clone()));
        Ok(Dynamo {
            region: region.to_owned(),
            db,
            internal,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .map_err(OpenError::Client)?,
            meta,
            replicator,
            peers,
        })
    }

    /// Serves one (authenticated) DynamoDB or DynamoDB Streams request.
    pub async fn handle(&self, input: &Input) -> Outcome {
        let principal = input
            .caller
            .as_ref()
            .map(|c| c.principal.clone())
            .unwrap_or(Principal::Operator);
        let body = &input.body;
        let target = input.header("x-amz-target").unwrap_or_default().to_owned();
        let op = target.rsplit('.').next().unwrap_or_default();
        // Item operations pass through untouched: parsing their bodies here
        // would only slow the hot path.
        let inspected = !WRITES.contains(&op)
            && !matches!(
                op,
                "GetItem" | "Query" | "Scan" | "BatchGetItem" | "TransactGetItems"
            )
            || principal == Principal::ReplicationService;
        let request: Value = if inspected {
            input.json()?
        } else {
            Value::Null
        };

        if let Some(e) = self.check_replication_access(op, &request, &principal) {
            return Err(e);
        }
        match op {
            "UpdateTable" if request.get("ReplicaUpdates").is_some() => {
                self.update_replicas(request).await
            }
            "DeleteTable" => self.delete_table(&target, request).await,
            "PutResourcePolicy" => self.put_policy(&request),
            "GetResourcePolicy" => self.get_policy(&request),
            "DeleteResourcePolicy" => self.delete_policy(&request),
            "DescribeTable" | "UpdateTable" | "CreateTable" => {
                let (status, mut value) = match self.forward_json(&target, body).await {
                    Ok(r) => r,
                    Err(e) => return Err(e),
                };
                if status.is_success() {
                    for field in ["Table", "TableDescription"] {
                        if let Some(desc) = value.get_mut(field) {
                            self.describe_replicas(desc);
                        }
                    }
                }
                self.json_response(status, &value)
            }
            "GetRecords" => {
                let _gate = self.replicator.gate.read().await;
                let (status, mut value) = match self.forward_json(&target, body).await {
                    Ok(r) => r,
                    Err(e) => return Err(e),
                };
                if status.is_success() {
                    self.mark_replicated(&request, &mut value);
                }
                self.json_response(status, &value)
            }
            op if WRITES.contains(&op) => {
                let _gate = self.replicator.gate.read().await;
                self.forward(&target, body).await
            }
            _ => self.forward(&target, body).await,
        }
    }

    fn client_to_engine(&self, body: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(body);
        text.replace(&arn_prefix(&self.region), ENGINE_ARN_PREFIX)
            .into_bytes()
    }

    fn engine_to_client(&self, body: &[u8]) -> String {
        String::from_utf8_lossy(body)
            .replace(ENGINE_ARN_PREFIX, &arn_prefix(&self.region))
            .replace(
                "\"awsRegion\":\"dynoxide\"",
                &format!("\"awsRegion\":\"{}\"", self.region),
            )
    }

    async fn call_engine(
        &self,
        target: &str,
        body: &[u8],
    ) -> Result<(StatusCode, String), ServiceError> {
        let resp = self
            .http
            .post(&self.internal)
            .header("content-type", JSON_10)
            .header("x-amz-target", target)
            // Verified above; the engine only checks the header's shape.
            .header("authorization", ENGINE_AUTHORIZATION)
            .header(
                "x-amz-date",
                crate::sigv4::amz_date(OffsetDateTime::now_utc()),
            )
            .body(self.client_to_engine(body))
            .send()
            .await
            .map_err(|e| {
                internal::<ServiceError>(format!("the DynamoDB engine did not answer: {e}"))
            })?;
        let status = StatusCode::from_u16(resp.status().as_u16())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = resp.bytes().await.map_err(|e| {
            internal::<ServiceError>(format!("the DynamoDB engine's answer was cut: {e}"))
        })?;
        Ok((status, self.engine_to_client(&bytes)))
    }

    async fn forward(&self, target: &str, body: &[u8]) -> Outcome {
        let (status, text) = self.call_engine(target, body).await?;
        self.raw_response(status, text)
    }

    async fn forward_json(
        &self,
        target: &str,
        body: &[u8],
    ) -> Result<(StatusCode, Value), ServiceError> {
        let (status, text) = self.call_engine(target, body).await?;
        let value = serde_json::from_str(&text).map_err(|e| {
            internal::<ServiceError>(format!("the engine's answer is not JSON: {e}"))
        })?;
        Ok((status, value))
    }

    /// The engine's answer, success or error, as it gave it.
    fn raw_response(&self, status: StatusCode, text: String) -> Outcome {
        Ok(Reply::new(text).status(status))
    }

    fn json_response(&self, status: StatusCode, value: &Value) -> Outcome {
        self.raw_response(status, value.to_string())
    }

    /// Adds `GlobalTableVersion` and `Replicas` to a table description, as
    /// AWS shows them (the described region itself is not listed).
    fn describe_replicas(&self, desc: &mut Value) {
        let Some(name) = desc.get("TableName").and_then(Value::as_str) else {
            return;
        };
        let replicas = self.meta.replicas(name).unwrap_or_default();
        if replicas.is_empty() {
            return;
        }
        let own = replicas
            .iter()
            .find(|r| r.region == self.region)
            .map(|r| r.status.as_str());
        let others: Vec<Value> = replicas
            .iter()
            .filter(|r| r.region != self.region)
            .map(|r| {
                json!({
                    "RegionName": r.region,
                    "ReplicaStatus": r.status,
                    "ReplicaTableClassSummary": {"TableClass": "STANDARD"},
                })
            })
            .collect();
        if own == Some("CREATING") {
            desc["TableStatus"] = json!("CREATING");
        } else if replicas
            .iter()
            .any(|r| r.status == "CREATING" || r.status == "DELETING")
        {
            desc["TableStatus"] = json!("UPDATING");
        }
        desc["GlobalTableVersion"] = json!(GLOBAL_TABLE_VERSION);
        desc["Replicas"] = Value::Array(others);
    }

    /// Marks stream records that replication wrote with the replication
    /// service as their `userIdentity`, as AWS marks service writes.
    fn mark_replicated(&self, request: &Value, value: &mut Value) {
        let Some((table, _, _)) = request["ShardIterator"]
            .as_str()
            .and_then(dynoxide::actions::get_shard_iterator::decode_shard_iterator)
        else {
            return;
        };
        let Some(records) = value.get_mut("Records").and_then(Value::as_array_mut) else {
            return;
        };
        for record in records {
            let seq = record["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if self.meta.is_applied(&table, &seq).unwrap_or(false) {
                record["userIdentity"] =
                    json!({"Type": "Service", "PrincipalId": REPLICATION_SERVICE});
            }
        }
    }

    /// The replication service is refused what this region's resource
    /// policies deny it, as AWS enforces them.
    fn check_replication_access(
        &self,
        op: &str,
        request: &Value,
        principal: &Principal,
    ) -> Option<ServiceError> {
        if *principal != Principal::ReplicationService {
            return None;
        }
        let table = match op {
            "GetRecords" => request["ShardIterator"]
                .as_str()
                .and_then(dynoxide::actions::get_shard_iterator::decode_shard_iterator)
                .map(|(table, _, _)| table),
            "GetShardIterator" | "DescribeStream" => request["StreamArn"]
                .as_str()
                .map(|a| table_name_of(a).to_owned()),
            _ => request["TableName"]
                .as_str()
                .map(|t| table_name_of(t).to_owned()),
        }?;
        let arn = table_arn(&self.region, &table);
        let action = format!("dynamodb:{op}");
        if replication_denied(
            &self.meta,
            &arn,
            &["dynamodb:ReadDataForReplication", &action],
        ) {
            let message = format!(
                "User: {} is not authorized to perform: dynamodb:ReadDataForReplication on resource: {arn} with an explicit deny in a resource-based policy",
                principal.arn()
            );
            return Some(error(
                StatusCode::BAD_REQUEST,
                &format!("{DDB}AccessDeniedException"),
                message,
            ));
        }
        None
    }

    // --- resource policies ---

    fn policy_target(&self, request: &Value) -> Result<String, ServiceError> {
        let arn = request["ResourceArn"].as_str().unwrap_or_default();
        let Some(rest) = arn.strip_prefix(&arn_prefix(&self.region)) else {
            return Err(validation(format!(
                "Invalid ResourceArn provided as input {arn}"
            )));
        };
        if self.describe_engine(table_name_of(rest)).is_err() {
            return Err(not_found(format!(
                "Requested resource not found: ResourceArn: {arn} not found"
            )));
        }
        Ok(arn.to_owned())
    }

    fn put_policy(&self, request: &Value) -> Outcome {
        let arn = self.policy_target(request)?;
        let Some(document) = request["Policy"].as_str() else {
            return validation(
                "1 validation error detected: Value null at 'policy' failed to satisfy constraint: Member must not be null",
            );
        };
        if let Err(message) = policy::validate(document) {
            return validation(message);
        }
        let current = self.meta.policy(&arn).ok().flatten();
        if let Some(expected) = request["ExpectedRevisionId"].as_str()
            && current.as_ref().map(|(_, r)| r.as_str()) != Some(expected)
        {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("{DDB}PolicyNotFoundException"),
                format!(
                    "Resource-based policy not found for the provided ResourceArn: Requested update for policy with revision id {expected}, but the policy associated to target table {arn} has revision id {}.",
                    current.map(|(_, r)| r).unwrap_or_default()
                ),
            );
        }
        let revision = OffsetDateTime::now_utc().unix_timestamp_nanos().to_string();
        if let Err(e) = self.meta.put_policy(&arn, document, &revision) {
            return internal(e.to_string());
        }
        self.replicator.wake();
        self.json_response(StatusCode::OK, &json!({"RevisionId": revision}))
    }

    fn get_policy(&self, request: &Value) -> Outcome {
        let arn = self.policy_target(request)?;
        match self.meta.policy(&arn) {
            Ok(Some((policy, revision))) => self.json_response(
                StatusCode::OK,
                &json!({"Policy": policy, "RevisionId": revision}),
            ),
            Ok(None) => error(
                StatusCode::BAD_REQUEST,
                &format!("{DDB}PolicyNotFoundException"),
                format!("Resource-based policy not found for the provided ResourceArn: {arn}"),
            ),
            Err(e) => internal(e.to_string()),
        }
    }

    fn delete_policy(&self, request: &Value) -> Outcome {
        let arn = self.policy_target(request)?;
        match self.meta.policy(&arn) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("{DDB}PolicyNotFoundException"),
                    format!("Resource-based policy not found for the provided ResourceArn: {arn}"),
                );
            }
            Err(e) => return internal(e.to_string()),
        }
        if let Err(e) = self.meta.delete_policy(&arn) {
            return internal(e.to_string());
        }
        self.replicator.wake();
        let revision = OffsetDateTime::now_utc().unix_timestamp_nanos().to_string();
        self.json_response(StatusCode::OK, &json!({"RevisionId": revision}))
    }

    fn describe_engine(&self, table: &str) -> Result<Value, ServiceError> {
        let request = serde_json::from_value(json!({"TableName": table})).map_err(|e| {
            validation::<ServiceError>(e.to_string().trim_start_matches("VALIDATION:").trim())
        })?;
        match self.db.describe_table(request) {
            Ok(resp) => {
                Ok(serde_json::to_value(resp).expect("responses serialise")["Table"].clone())
            }
            Err(e) if e.status_code() == 400 => Err(not_found(format!(
                "Requested resource not found: Table: {table} not found"
            ))),
            Err(e) => Err(internal(e.to_string())),
        }
    }
}

/// Whether the policies on a table (or its streams) deny `action` to the
/// replication service now.
pub fn replication_denied(meta: &Meta, table_arn: &str, actions: &[&str]) -> bool {
    let ctx = policy::RequestContext {
        principal_arn: &crate::credentials::replication_role_arn(),
        principal_service: Some(REPLICATION_SERVICE),
        now: OffsetDateTime::now_utc(),
    };
    // The table's policy, and its streams' (FIS pauses both).
    let mut docs: Vec<String> = meta
        .policy(table_arn)
        .ok()
        .flatten()
        .map(|(d, _)| d)
        .into_iter()
        .collect();
    docs.extend(
        meta.policies_under(&format!("{table_arn}/stream/"))
            .unwrap_or_default(),
    );
    docs.iter()
        .any(|d| actions.iter().any(|a| policy::denies(d, a, &ctx)))
}
