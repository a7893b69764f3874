//! Tables and global-table replicas: `DeleteTable`, `UpdateTable`
//! `ReplicaUpdates` in the region where it runs, and the control routes a
//! peer region calls to create, delete or report on its replica.

use http::StatusCode;
use serde_json::{Value, json};

use super::replication::ReplicationError;
use super::{Dynamo, internal, table_arn, table_name_of, validation};
use crate::control::{ControlClient, ReplicaCreate};
use crate::door::{Outcome, ServiceError};

impl Dynamo {
    pub(super) async fn delete_table(&self, target: &str, request: Value) -> Outcome {
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

    pub(super) async fn update_replicas(&self, mut request: Value) -> Outcome {
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
