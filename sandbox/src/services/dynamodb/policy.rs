//! Resource-based policies on tables and streams, evaluated for what the
//! sandbox needs: a Deny that names the replication service principal (as
//! FIS's `pause-replication` writes it) pauses replication, until it is
//! removed or its `aws:CurrentTime` condition lapses.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who is asking, as conditions see it.
#[derive(Debug, Clone)]
pub struct RequestContext<'a> {
    pub principal_arn: &'a str,
    pub principal_service: Option<&'a str>,
    pub now: OffsetDateTime,
}

/// Checks a policy document's shape as `PutResourcePolicy` does.
pub fn validate(document: &str) -> Result<Value, String> {
    let doc: Value =
        serde_json::from_str(document).map_err(|e| format!("Invalid policy document: {e}"))?;
    let statements = match &doc["Statement"] {
        Value::Array(s) => s.clone(),
        Value::Object(_) => vec![doc["Statement"].clone()],
        _ => return Err("Invalid policy document: Statement is missing".into()),
    };
    for s in &statements {
        match s["Effect"].as_str() {
            Some("Allow" | "Deny") => {}
            _ => return Err("Invalid policy document: Effect must be Allow or Deny".into()),
        }
        if s.get("Action").is_none() {
            return Err("Invalid policy document: Action is missing".into());
        }
    }
    Ok(doc)
}

/// Whether `document` explicitly denies `action` to the requester.
pub fn denies(document: &str, action: &str, ctx: &RequestContext<'_>) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(document) else {
        return false;
    };
    statements(&doc).into_iter().any(|s| {
        s["Effect"] == "Deny"
            && principal_matches(&s["Principal"], ctx)
            && strings(&s["Action"])
                .iter()
                .any(|a| crate::glob::matches_ignore_case(a, action))
            && conditions_hold(&s["Condition"], ctx)
    })
}

/// A policy document's statements: `Statement` is one object or a list.
pub fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(s) => s.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => Vec::new(),
    }
}

/// A policy field that is one string or a list of them.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn principal_matches(p: &Value, ctx: &RequestContext<'_>) -> bool {
    match p {
        Value::String(s) => s == "*",
        Value::Object(m) => m.iter().any(|(kind, v)| {
            strings(v).iter().any(|who| match kind.as_str() {
                "AWS" => who == "*" || who == ctx.principal_arn,
                "Service" => Some(who.as_str()) == ctx.principal_service,
                _ => false,
            })
        }),
        _ => false,
    }
}

fn context_value(key: &str, ctx: &RequestContext<'_>) -> Option<String> {
    match key.to_ascii_lowercase().as_str() {
        "aws:principalservicename" => ctx.principal_service.map(str::to_owned),
        "aws:principalarn" => Some(ctx.principal_arn.to_owned()),
        "aws:currenttime" => ctx.now.format(&Rfc3339).ok(),
        _ => None,
    }
}

fn conditions_hold(conditions: &Value, ctx: &RequestContext<'_>) -> bool {
    let Value::Object(ops) = conditions else {
        return true;
    };
    ops.iter().all(|(op, pairs)| {
        let Value::Object(pairs) = pairs else {
            return false;
        };
        pairs.iter().all(|(key, wanted)| {
            let wanted = strings(wanted);
            let actual = context_value(key, ctx);
            match op.as_str() {
                "StringEquals" | "ArnEquals" => actual.is_some_and(|a| wanted.contains(&a)),
                "StringLike" | "ArnLike" => {
                    actual.is_some_and(|a| wanted.iter().any(|w| crate::glob::matches(w, &a)))
                }
                "StringNotEquals" => actual.is_none_or(|a| wanted.iter().all(|w| *w != a)),
                "DateLessThan" | "DateGreaterThan" => {
                    let Some(bound) = wanted
                        .first()
                        .and_then(|w| OffsetDateTime::parse(w, &Rfc3339).ok())
                    else {
                        return false;
                    };
                    if op == "DateLessThan" {
                        ctx.now < bound
                    } else {
                        ctx.now > bound
                    }
                }
                // An operator the sandbox does not model never matches, so
                // an unknown Deny is not silently widened.
                _ => false,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fis_policy(until: &str) -> String {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "DoNotModifyFisDynamoDbPauseReplicationEXP1ServicePrincipal",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["dynamodb:ReadDataForReplication", "dynamodb:WriteDataForReplication"],
                "Resource": "arn:aws:dynamodb:eu-west-1:000000000000:table/t",
                "Condition": {
                    "StringEquals": {"aws:PrincipalServiceName": "replication.dynamodb.amazonaws.com"},
                    "DateLessThan": {"aws:CurrentTime": until}
                }
            }]
        })
        .to_string()
    }

    fn ctx(service: Option<&'static str>) -> RequestContext<'static> {
        RequestContext {
            principal_arn: "arn:aws:iam::000000000000:role/x",
            principal_service: service,
            now: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn fis_pause_denies_replication_until_it_lapses() {
        let replication = ctx(Some("replication.dynamodb.amazonaws.com"));
        let live = fis_policy("2999-01-01T00:00:00Z");
        assert!(denies(
            &live,
            "dynamodb:WriteDataForReplication",
            &replication
        ));
        assert!(!denies(&live, "dynamodb:PutItem", &replication));
        assert!(!denies(
            &live,
            "dynamodb:WriteDataForReplication",
            &ctx(None)
        ));
        let lapsed = fis_policy("2000-01-01T00:00:00Z");
        assert!(!denies(
            &lapsed,
            "dynamodb:WriteDataForReplication",
            &replication
        ));
    }

    #[test]
    fn wildcards_and_service_principals() {
        let p = r#"{"Statement":{"Effect":"Deny","Principal":{"Service":"replication.dynamodb.amazonaws.com"},"Action":"dynamodb:*"}}"#;
        assert!(denies(
            p,
            "dynamodb:ReadDataForReplication",
            &ctx(Some("replication.dynamodb.amazonaws.com"))
        ));
        assert!(!denies(p, "dynamodb:ReadDataForReplication", &ctx(None)));
        assert!(validate(p).is_ok());
        assert!(validate("{}").is_err());
        assert!(validate("not json").is_err());
    }
}
