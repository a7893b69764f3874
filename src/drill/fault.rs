//! Faults: injected and restored through the AWS APIs (the same calls on
//! both targets), except `region-blackout`, which only the sandbox can do
//! (it signals the region's process). Each fault reads what it is about to
//! change first, so its [`Undo`] restores exactly the previous state
//! (including "no reserved concurrency" or "no resource policy"); the undo
//! is journalled before the fault call is made, so a crashed drill can be
//! rolled back by `failover-test --restore`.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::aws::Clients;
use crate::deploy::aws_error;

/// The function variable the ticket Lambda reads its fault from.
pub const FAULT_ENV: &str = "WILDRYDES_FAULT";
/// The principal that global tables replicate as.
pub const REPLICATION_SERVICE: &str = "replication.dynamodb.amazonaws.com";
/// The statement id a pause adds (as AWS FIS names its own).
pub const PAUSE_SID: &str = "WildrydesDrillPauseReplication";

/// How to undo one injected fault; journalled before the injection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Undo {
    /// Put `WILDRYDES_FAULT` back to `previous` (absent when `None`).
    FunctionFault {
        region: String,
        function: String,
        previous: Option<String>,
    },
    /// Put the reserved concurrency back (`None`: no reservation).
    Concurrency {
        region: String,
        function: String,
        previous: Option<i32>,
    },
    /// Put the health check's `Inverted` back.
    HealthCheckInverted { id: String, previous: bool },
    /// Put the table's resource policy back (`None`: no policy).
    ResourcePolicy {
        region: String,
        arn: String,
        previous: Option<String>,
    },
    /// Thaw (freeze) or revive (kill) a sandbox region process.
    Blackout { region: String, killed: bool },
}

impl Undo {
    /// The fault's name in journals and `status`.
    pub fn fault_name(&self) -> &'static str {
        match self {
            Undo::FunctionFault { .. } => "health-endpoint-failure",
            Undo::Concurrency { .. } => "lambda-throttle",
            Undo::HealthCheckInverted { .. } => "health-check-inversion",
            Undo::ResourcePolicy { .. } => "replication-pause",
            Undo::Blackout { .. } => "region-blackout",
        }
    }

    pub fn scope(&self) -> String {
        match self {
            Undo::FunctionFault { region, .. }
            | Undo::Concurrency { region, .. }
            | Undo::ResourcePolicy { region, .. }
            | Undo::Blackout { region, .. } => region.clone(),
            Undo::HealthCheckInverted { .. } => "global".into(),
        }
    }
}

/// The function's environment variables now.
async fn function_env(
    clients: &Clients,
    region: &str,
    function: &str,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let cfg = clients
        .region(region)
        .lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| aws_error(&format!("GetFunctionConfiguration in {region}"), e))?;
    Ok(cfg
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default())
}

/// Reads the function's current `WILDRYDES_FAULT`: the undo for setting it.
pub async fn read_function_fault(
    clients: &Clients,
    region: &str,
    function: &str,
) -> anyhow::Result<Undo> {
    let previous = function_env(clients, region, function)
        .await?
        .remove(FAULT_ENV);
    Ok(Undo::FunctionFault {
        region: region.into(),
        function: function.into(),
        previous,
    })
}

/// Sets (or with `None` removes) `WILDRYDES_FAULT`, keeping every other
/// variable; returns when Lambda accepted the change (see
/// [`wait_function_updated`] for when it is done).
pub async fn set_function_fault(
    clients: &Clients,
    region: &str,
    function: &str,
    value: Option<&str>,
) -> anyhow::Result<()> {
    use aws_sdk_lambda::types::Environment;
    let lambda = &clients.region(region).lambda;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut vars = function_env(clients, region, function).await?;
        let current = vars.get(FAULT_ENV).map(String::as_str);
        if current == value {
            break;
        }
        match value {
            Some(v) => vars.insert(FAULT_ENV.into(), v.into()),
            None => vars.remove(FAULT_ENV),
        };
        let result = lambda
            .update_function_configuration()
            .function_name(function)
            .environment(Environment::builder().set_variables(Some(vars)).build())
            .send()
            .await;
        match result {
            Ok(_) => break,
            // Another update still in progress: Lambda says try again.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_conflict_exception())
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(aws_error(
                    &format!("UpdateFunctionConfiguration in {region}"),
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// Waits until the function's last update is no longer in progress.
pub async fn wait_function_updated(
    clients: &Clients,
    region: &str,
    function: &str,
) -> anyhow::Result<()> {
    let lambda = &clients.region(region).lambda;
    crate::deploy::wait_for(
        &format!("the {function} update in {region} to finish"),
        Duration::from_secs(120),
        Duration::from_millis(100),
        || async {
            let cfg = lambda
                .get_function_configuration()
                .function_name(function)
                .send()
                .await
                .map_err(|e| aws_error(&format!("GetFunctionConfiguration in {region}"), e))?;
            Ok(match cfg.last_update_status().map(|s| s.as_str()) {
                Some("InProgress") => None,
                _ => Some(()),
            })
        },
    )
    .await
}

/// Reads the function's reserved concurrency: the undo for changing it.
pub async fn read_concurrency(
    clients: &Clients,
    region: &str,
    function: &str,
) -> anyhow::Result<Undo> {
    let out = clients
        .region(region)
        .lambda
        .get_function_concurrency()
        .function_name(function)
        .send()
        .await
        .map_err(|e| aws_error(&format!("GetFunctionConcurrency in {region}"), e))?;
    Ok(Undo::Concurrency {
        region: region.into(),
        function: function.into(),
        previous: out.reserved_concurrent_executions(),
    })
}

/// Sets the reserved concurrency (`None` removes the reservation).
pub async fn set_concurrency(
    clients: &Clients,
    region: &str,
    function: &str,
    value: Option<i32>,
) -> anyhow::Result<()> {
    let lambda = &clients.region(region).lambda;
    match value {
        Some(n) => lambda
            .put_function_concurrency()
            .function_name(function)
            .reserved_concurrent_executions(n)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error(&format!("PutFunctionConcurrency in {region}"), e)),
        None => lambda
            .delete_function_concurrency()
            .function_name(function)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error(&format!("DeleteFunctionConcurrency in {region}"), e)),
    }
}

/// Reads the health check's `Inverted`: the undo for changing it.
pub async fn read_inverted(clients: &Clients, id: &str) -> anyhow::Result<Undo> {
    let out = clients
        .route53
        .get_health_check()
        .health_check_id(id)
        .send()
        .await
        .map_err(|e| aws_error("GetHealthCheck", e))?;
    let previous = out
        .health_check()
        .and_then(|h| h.health_check_config())
        .and_then(|c| c.inverted())
        .unwrap_or(false);
    Ok(Undo::HealthCheckInverted {
        id: id.into(),
        previous,
    })
}

pub async fn set_inverted(clients: &Clients, id: &str, inverted: bool) -> anyhow::Result<()> {
    clients
        .route53
        .update_health_check()
        .health_check_id(id)
        .inverted(inverted)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("UpdateHealthCheck", e))
}

/// Reads the table's resource policy: the undo for changing it.
pub async fn read_policy(clients: &Clients, region: &str, arn: &str) -> anyhow::Result<Undo> {
    let out = clients
        .region(region)
        .dynamodb
        .get_resource_policy()
        .resource_arn(arn)
        .send()
        .await;
    let previous = match out {
        Ok(p) => p.policy().map(str::to_owned),
        Err(e)
            if e.as_service_error().is_some_and(|e| {
                e.is_policy_not_found_exception() || e.is_resource_not_found_exception()
            }) =>
        {
            None
        }
        Err(e) => return Err(aws_error(&format!("GetResourcePolicy in {region}"), e)),
    };
    Ok(Undo::ResourcePolicy {
        region: region.into(),
        arn: arn.into(),
        previous,
    })
}

/// The policy that pauses replication of `arn` until `until` (RFC 3339),
/// added to `previous` when there is one: AWS FIS's statement.
pub fn pause_policy(previous: Option<&str>, arn: &str, until: &str) -> anyhow::Result<String> {
    let statement = json!({
        "Sid": PAUSE_SID,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": ["dynamodb:ReadDataForReplication", "dynamodb:WriteDataForReplication"],
        "Resource": arn,
        "Condition": {
            "StringEquals": {"aws:PrincipalServiceName": REPLICATION_SERVICE},
            "DateLessThan": {"aws:CurrentTime": until}
        }
    });
    let mut doc = match previous {
        Some(text) => serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| anyhow::anyhow!("the table's resource policy is not JSON: {e}"))?,
        None => json!({"Version": "2012-10-17", "Statement": []}),
    };
    let statements = match doc.get_mut("Statement") {
        Some(serde_json::Value::Array(a)) => a,
        Some(single) => {
            *single = serde_json::Value::Array(vec![single.clone()]);
            single.as_array_mut().expect("just made an array")
        }
        None => {
            doc["Statement"] = json!([]);
            doc["Statement"].as_array_mut().expect("just made an array")
        }
    };
    statements.retain(|s| s["Sid"] != PAUSE_SID);
    statements.push(statement);
    Ok(doc.to_string())
}

pub async fn put_policy(
    clients: &Clients,
    region: &str,
    arn: &str,
    policy: Option<&str>,
) -> anyhow::Result<()> {
    let dynamodb = &clients.region(region).dynamodb;
    match policy {
        Some(p) => dynamodb
            .put_resource_policy()
            .resource_arn(arn)
            .policy(p)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error(&format!("PutResourcePolicy in {region}"), e)),
        None => match dynamodb
            .delete_resource_policy()
            .resource_arn(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_policy_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_error(&format!("DeleteResourcePolicy in {region}"), e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_is_added_to_an_existing_policy_and_replaced_not_duplicated() {
        let prev = json!({"Version": "2012-10-17", "Statement": {"Sid": "Mine", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "dynamodb:GetItem", "Resource": "t"}})
        .to_string();
        let once = pause_policy(Some(&prev), "t", "2030-01-01T00:00:00Z").unwrap();
        let twice = pause_policy(Some(&once), "t", "2030-01-01T00:00:00Z").unwrap();
        let doc: serde_json::Value = serde_json::from_str(&twice).unwrap();
        let sids: Vec<&str> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, ["Mine", PAUSE_SID]);
        let fresh: serde_json::Value =
            serde_json::from_str(&pause_policy(None, "t", "x").unwrap()).unwrap();
        assert_eq!(fresh["Statement"][0]["Effect"], "Deny");
    }

    #[test]
    fn undo_round_trips_through_the_journal() {
        let u = Undo::Concurrency {
            region: "eu-west-1".into(),
            function: "f".into(),
            previous: None,
        };
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(v["kind"], "concurrency");
        assert_eq!(serde_json::from_value::<Undo>(v).unwrap(), u);
    }
}
