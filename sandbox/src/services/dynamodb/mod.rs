//! DynamoDB and DynamoDB Streams for one region: the `dynoxide` engine on an
//! internal listener, fronted by this module, which checks SigV4, rewrites
//! ARNs and regions (dynoxide names everything `dynoxide`), and handles
//! what dynoxide does not: global-table replicas (`UpdateTable`
//! `ReplicaUpdates`, `Replicas` in `DescribeTable`), resource policies, and
//! the marks that keep replicated writes from echoing back.

pub mod attributes;
pub mod meta;
pub mod policy;
pub mod recovery;
pub mod replication;

use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::control::{ControlClient, ReplicaCreate};
use crate::credentials::{ACCOUNT_ID, Principal, REPLICATION_SERVICE};
use crate::door::{Input, Outcome, Reply, ServiceError};
use crate::store::OpenError;
use meta::Meta;
use replication::{ReplicationError, Replicator};

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

    // --- tables and replicas ---

    async fn delete_table(&self, target: &str, request: Value) -> Outcome {
        let name = table_name_of(request["TableName"].as_str().unwrap_or_default()).to_owned();
        let replicas = self.meta.replicas(&name).unwrap_or_default();
        if replicas.iter().any(|r| r.region != self.region) {
            let others: Vec<&str> = replicas
                .iter()
                .filter(|r| r.region != self.region)
                .map(|r| r.region.as_str())
                .collect();
            return validation(format!(
                "Table {name} is a global table with replicas in {}: remove them first with UpdateTable ReplicaUpdates Delete",
                others.join(", ")
            ));
        }
        // No replication batch is under way while the table goes, and none
        // starts on it afterwards (see `drop_replica`).
        let _gate = self.replicator.gate.write().await;
        let (status, mut value) = match self
            .forward_json(target, request.to_string().as_bytes())
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(e),
        };
        if status.is_success() {
            let _ = self.meta.forget_table(&name);
            let _ = self
                .meta
                .delete_policies_of(&table_arn(&self.region, &name));
            self.replicator.refresh();
            if let Some(desc) = value.get_mut("TableDescription") {
                desc["TableStatus"] = json!("DELETING");
            }
        }
        self.json_response(status, &value)
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

    async fn update_replicas(&self, mut request: Value) -> Outcome {
        let table = table_name_of(request["TableName"].as_str().unwrap_or_default()).to_owned();
        let updates = request["ReplicaUpdates"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut desc = match self.describe_engine(&table) {
            Ok(d) => d,
            Err(e) => return Err(e),
        };
        // Anything else in the same call goes to the engine first.
        if let Some(obj) = request.as_object_mut() {
            obj.remove("ReplicaUpdates");
            if obj.len() > 1 {
                let target = "DynamoDB_20120810.UpdateTable";
                match self
                    .forward_json(target, request.to_string().as_bytes())
                    .await
                {
                    Ok((status, value)) if status.is_success() => {
                        desc = value["TableDescription"].clone()
                    }
                    Ok((status, value)) => return self.json_response(status, &value),
                    Err(e) => return Err(e),
                }
            }
        }
        for update in updates {
            let outcome = if let Some(region) = update["Create"]["RegionName"].as_str() {
                self.create_replica(&table, &desc, region).await
            } else if let Some(region) = update["Delete"]["RegionName"].as_str() {
                self.delete_replica(&table, region).await
            } else if update.get("Update").is_some() {
                Ok(())
            } else {
                Err(validation(
                    "ReplicaUpdates entries need one of Create, Update or Delete",
                ))
            };
            outcome?;
        }
        let mut desc = match self.describe_engine(&table) {
            Ok(d) => d,
            Err(e) => return Err(e),
        };
        self.describe_replicas(&mut desc);
        self.json_response(StatusCode::OK, &json!({"TableDescription": desc}))
    }

    fn peer(&self, region: &str) -> Option<&ControlClient> {
        self.peers.iter().find(|(r, _)| r == region).map(|(_, c)| c)
    }

    async fn create_replica(
        &self,
        table: &str,
        desc: &Value,
        region: &str,
    ) -> Result<(), ServiceError> {
        let Some(peer) = self.peer(region) else {
            return Err(validation(format!(
                "Region {region} is not a valid replica region for this sandbox (it runs {})",
                self.peers
                    .iter()
                    .map(|(r, _)| r.as_str())
                    .chain([self.region.as_str()])
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let members = self
            .meta
            .replicas(table)
            .map_err(|e| internal::<ServiceError>(e.to_string()))?;
        if members.iter().any(|r| r.region == region) {
            return Err(validation(format!(
                "Failed to create a the new replica of table with name: '{table}' because one or more replicas already existed as tables."
            )));
        }
        if desc["BillingModeSummary"]["BillingMode"].as_str() != Some("PAY_PER_REQUEST") {
            return Err(validation(
                "One or more parameter values were invalid: global tables need on-demand capacity (BillingMode PAY_PER_REQUEST) or write auto scaling",
            ));
        }
        match desc["StreamSpecification"]["StreamViewType"].as_str() {
            Some("NEW_AND_OLD_IMAGES") if desc["StreamSpecification"]["StreamEnabled"] == true => {}
            None => {
                // AWS turns the stream on itself when a replica is added.
                let enable = json!({"TableName": table, "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"}});
                self.db
                    .update_table(serde_json::from_value(enable).expect("valid request"))
                    .map_err(|e| internal::<ServiceError>(e.to_string()))?;
            }
            Some(other) => {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Table {table} has a {other} stream; a global table replica needs NEW_AND_OLD_IMAGES"
                )));
            }
        }
        let mut regions: Vec<String> = members.iter().map(|r| r.region.clone()).collect();
        if regions.is_empty() {
            regions.push(self.region.clone());
        }
        let definition = json!({
            "TableName": table,
            "KeySchema": desc["KeySchema"],
            "AttributeDefinitions": desc["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            "GlobalSecondaryIndexes": strip_indexes(&desc["GlobalSecondaryIndexes"]),
            "LocalSecondaryIndexes": strip_indexes(&desc["LocalSecondaryIndexes"]),
        });
        peer.create_replica(&ReplicaCreate {
            table: table.to_owned(),
            source: self.region.clone(),
            members: regions.clone(),
            definition,
        })
        .await
        .map_err(|e| -> ServiceError {
            if e.is_conflict() {
                validation(format!(
                    "Failed to create a the new replica of table with name: '{table}' because one or more replicas already existed as tables."
                ))
            } else {
                internal(format!("could not create the replica in {region}: {e}"))
            }
        })?;
        if members.is_empty() {
            self.meta
                .set_replica(table, &self.region, "ACTIVE")
                .map_err(|e| internal::<ServiceError>(e.to_string()))?;
        }
        self.meta
            .set_replica(table, region, "CREATING")
            .map_err(|e| internal::<ServiceError>(e.to_string()))?;
        for (other, client) in &self.peers {
            if other != region && regions.contains(other) {
                let _ = client.replica_status(table, region, "CREATING").await;
            }
        }
        self.replicator.refresh();
        Ok(())
    }

    async fn delete_replica(&self, table: &str, region: &str) -> Result<(), ServiceError> {
        let members = self
            .meta
            .replicas(table)
            .map_err(|e| internal::<ServiceError>(e.to_string()))?;
        if region == self.region || !members.iter().any(|r| r.region == region) {
            return Err(validation(
                "Update global table operation failed because one or more replicas were not part of the global table",
            ));
        }
        let peer = self
            .peer(region)
            .ok_or_else(|| validation::<ServiceError>(format!("unknown region {region}")))?;
        peer.delete_replica(table).await.map_err(|e| {
            internal::<ServiceError>(format!("could not delete the replica in {region}: {e}"))
        })?;
        self.meta
            .remove_replica(table, region)
            .map_err(|e| internal::<ServiceError>(e.to_string()))?;
        let rest = self
            .meta
            .replicas(table)
            .map_err(|e| internal::<ServiceError>(e.to_string()))?;
        for (other, client) in &self.peers {
            if other != region && rest.iter().any(|r| &r.region == other) {
                let _ = client.replica_status(table, region, "DELETED").await;
            }
        }
        let _gate = self.replicator.gate.write().await;
        if rest.iter().all(|r| r.region == self.region) {
            self.meta
                .forget_table(table)
                .map_err(|e| internal::<ServiceError>(e.to_string()))?;
        }
        self.replicator.refresh();
        Ok(())
    }

    /// Creates this region's replica of a global table (called by the
    /// region where `UpdateTable` ran, through the control API).
    pub fn accept_replica(&self, create: &ReplicaCreate) -> Result<(), ReplicationError> {
        if self.describe_engine(&create.table).is_ok() {
            return Err(ReplicationError::TableExists(create.table.clone()));
        }
        let request = serde_json::from_value(without_nulls(create.definition.clone()))?;
        self.db
            .create_table(request)
            .map_err(ReplicationError::Engine)?;
        for region in &create.members {
            self.meta.set_replica(&create.table, region, "ACTIVE")?;
        }
        self.meta
            .set_replica(&create.table, &self.region, "CREATING")?;
        self.meta
            .set_needs_backfill(&create.source, &create.table, true)?;
        self.replicator.refresh();
        Ok(())
    }

    /// Deletes this region's replica (called by a peer's `ReplicaUpdates`
    /// Delete). Holds the replication gate's write side throughout: a batch
    /// under way finishes first, and the subscriptions are stopped before
    /// the gate opens, so no batch records versions for a table that is
    /// gone (a table made again under the name would skip writes older
    /// than them).
    pub async fn drop_replica(&self, table: &str) -> Result<(), ReplicationError> {
        let _gate = self.replicator.gate.write().await;
        self.meta.forget_table(table)?;
        self.replicator.refresh();
        let request = serde_json::from_value(json!({"TableName": table}))?;
        match self.db.delete_table(request) {
            Ok(_) => {}
            Err(e) if e.status_code() == 400 && e.to_string().contains("not found") => {}
            Err(e) => return Err(ReplicationError::Engine(e)),
        }
        self.meta
            .delete_policies_of(&table_arn(&self.region, table))?;
        Ok(())
    }

    /// Records a peer's news about a replica's status.
    pub fn note_replica_status(
        &self,
        table: &str,
        region: &str,
        status: &str,
    ) -> Result<(), ReplicationError> {
        if status == "DELETED" {
            self.meta.remove_replica(table, region)?;
        } else if !self.meta.replicas(table)?.is_empty() {
            self.meta.set_replica(table, region, status)?;
        }
        self.replicator.refresh();
        Ok(())
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

/// Index definitions as `CreateTable` takes them (descriptions carry
/// status and sizes that requests must not).
fn strip_indexes(indexes: &Value) -> Value {
    let Some(list) = indexes.as_array() else {
        return Value::Null;
    };
    Value::Array(
        list.iter()
            .map(|i| json!({"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}))
            .collect(),
    )
}

fn without_nulls(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        obj.retain(|_, x| !x.is_null());
    }
    v
}
