//! What each request asks to do, in IAM's terms: the action (as the
//! Service Authorization Reference names it) and the resource ARN, read
//! from the request as the service reads it. One request can need several
//! (a batch over tables, a function created with a role it passes).
//! Requests the sandbox cannot place get their action on `*`, which only a
//! policy granting the action on every resource allows: an unknown
//! resource is never a wider grant.

use serde_json::Value;

use super::Need;
use crate::credentials::ACCOUNT_ID;
use crate::door::Input;

/// The needs of one authenticated request to the service `input` is for,
/// served in `region` (`us-east-1` for the global services).
pub fn needs(region: &str, input: &Input) -> Vec<Need> {
    match input.service.signing_name {
        "dynamodb" => dynamodb(region, input),
        "s3" => s3(input),
        "lambda" => lambda(region, input),
        "apigateway" => vec![Need::new(
            format!("apigateway:{}", input.method),
            format!("arn:aws:apigateway:{region}::{}", input.path),
        )],
        "acm" => by_target(input, "acm", |body| {
            body["CertificateArn"].as_str().map(str::to_owned)
        }),
        "cognito-identity" => by_target(input, "cognito-identity", |body| {
            body["IdentityPoolId"].as_str().map(|id| {
                format!("arn:aws:cognito-identity:{region}:{ACCOUNT_ID}:identitypool/{id}")
            })
        }),
        "route53" => route53(input),
        "cloudfront" => cloudfront(input),
        "iam" => iam(input),
        "sts" => sts(input),
        other => vec![Need::new(format!("{other}:*"), "*")],
    }
}

/// The operation an awsJson request names in `X-Amz-Target`.
fn target(input: &Input) -> &str {
    input
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit_once('.'))
        .map_or("", |(_, op)| op)
}

fn body(input: &Input) -> Value {
    serde_json::from_slice(&input.body).unwrap_or(Value::Null)
}

fn by_target(
    input: &Input,
    prefix: &str,
    resource: impl Fn(&Value) -> Option<String>,
) -> Vec<Need> {
    let resource = resource(&body(input)).unwrap_or_else(|| "*".into());
    vec![Need::new(format!("{prefix}:{}", target(input)), resource)]
}

fn table_arn(region: &str, table: &str) -> String {
    if table.starts_with("arn:") {
        table.to_owned()
    } else {
        format!("arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}")
    }
}

fn dynamodb(region: &str, input: &Input) -> Vec<Need> {
    let op = target(input);
    let action = |name: &str| format!("dynamodb:{name}");
    let body = body(input);
    let table = |v: &Value| v.as_str().map(|t| table_arn(region, t));
    let mut needs = Vec::new();
    match op {
        "BatchGetItem" | "BatchWriteItem" => {
            if let Value::Object(items) = &body["RequestItems"] {
                for name in items.keys() {
                    needs.push(Need::new(action(op), table_arn(region, name)));
                }
            }
        }
        "TransactGetItems" | "TransactWriteItems" => {
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                for (kind, name) in [
                    ("Get", "GetItem"),
                    ("Put", "PutItem"),
                    ("Update", "UpdateItem"),
                    ("Delete", "DeleteItem"),
                    ("ConditionCheck", "ConditionCheckItem"),
                ] {
                    if let Some(arn) = table(&item[kind]["TableName"]) {
                        needs.push(Need::new(action(name), arn));
                    }
                }
            }
        }
        "Query" | "Scan" => {
            let arn = table(&body["TableName"]).unwrap_or_else(|| "*".into());
            let arn = match body["IndexName"].as_str() {
                Some(index) => format!("{arn}/index/{index}"),
                None => arn,
            };
            needs.push(Need::new(action(op), arn));
        }
        "GetRecords" => {
            // The iterator names the table; the stream label is its own.
            let table = body["ShardIterator"]
                .as_str()
                .and_then(dynoxide::actions::get_shard_iterator::decode_shard_iterator)
                .map(|(table, _, _)| table);
            let arn = table.map_or_else(
                || "*".to_owned(),
                |t| format!("{}/stream/*", table_arn(region, &t)),
            );
            needs.push(Need::new(action(op), arn));
        }
        _ => {
            let arn = table(&body["TableName"])
                .or_else(|| body["ResourceArn"].as_str().map(str::to_owned))
                .or_else(|| body["StreamArn"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "*".into());
            needs.push(Need::new(action(op), arn));
        }
    }
    if needs.is_empty() {
        needs.push(Need::new(action(op), "*"));
    }
    needs
}

fn s3(input: &Input) -> Vec<Need> {
    let params = input.params();
    let trimmed = input.path.trim_start_matches('/');
    let (bucket, key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    if bucket.is_empty() {
        return vec![Need::new("s3:ListAllMyBuckets", "*")];
    }
    let key = crate::services::lambda::percent_decode(key);
    let path = [bucket, key.as_str()];
    let segments = if key.is_empty() {
        &path[..1]
    } else {
        &path[..]
    };
    let op = crate::services::s3::operation_of(input.method.as_str(), segments, |p| {
        params.contains_key(p)
    })
    .map_or("", |(name, _)| name);
    let action = match op {
        "HeadBucket" | "ListObjects" => "ListBucket",
        "HeadObject" => "GetObject",
        "DeleteObjects" => "DeleteObject",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "PutBucketPublicAccessBlock",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "DeleteBucketWebsite" => "DeleteBucketWebsite",
        "" => "*",
        other => other,
    };
    let resource = if key.is_empty() {
        format!("arn:aws:s3:::{bucket}")
    } else {
        format!("arn:aws:s3:::{bucket}/{key}")
    };
    vec![Need::new(format!("s3:{action}"), resource)]
}

fn lambda(region: &str, input: &Input) -> Vec<Need> {
    let segments: Vec<&str> = input.path.trim_matches('/').split('/').collect();
    let function = |raw: &str| {
        format!(
            "arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{}",
            crate::services::lambda::function_name(raw)
        )
    };
    let method = input.method.as_str();
    let (action, resource) = match (method, segments.as_slice()) {
        ("POST", [_, "functions"]) => {
            let body = body(input);
            let name = body["FunctionName"].as_str().unwrap_or("*");
            let mut needs = vec![Need::new("lambda:CreateFunction", function(name))];
            needs.extend(pass_role(&body));
            return needs;
        }
        ("GET", [_, "functions"]) => ("ListFunctions", "*".to_owned()),
        ("GET", [_, "functions", name]) => ("GetFunction", function(name)),
        ("DELETE", [_, "functions", name]) => ("DeleteFunction", function(name)),
        ("GET", [_, "functions", name, "configuration"]) => {
            ("GetFunctionConfiguration", function(name))
        }
        ("PUT", [_, "functions", name, "configuration"]) => {
            let mut needs = vec![Need::new(
                "lambda:UpdateFunctionConfiguration",
                function(name),
            )];
            needs.extend(pass_role(&body(input)));
            return needs;
        }
        ("PUT", [_, "functions", name, "code"]) => ("UpdateFunctionCode", function(name)),
        ("PUT", [_, "functions", name, "concurrency"]) => {
            ("PutFunctionConcurrency", function(name))
        }
        ("GET", [_, "functions", name, "concurrency"]) => {
            ("GetFunctionConcurrency", function(name))
        }
        ("DELETE", [_, "functions", name, "concurrency"]) => {
            ("DeleteFunctionConcurrency", function(name))
        }
        ("POST", [_, "functions", name, "policy"]) => ("AddPermission", function(name)),
        ("GET", [_, "functions", name, "policy"]) => ("GetPolicy", function(name)),
        ("DELETE", [_, "functions", name, "policy", _]) => ("RemovePermission", function(name)),
        ("POST", [_, "functions", name, "invocations"]) => ("InvokeFunction", function(name)),
        _ => ("*", "*".to_owned()),
    };
    vec![Need::new(format!("lambda:{action}"), resource)]
}

/// Giving a function a role is passing it: `iam:PassRole` on the role.
fn pass_role(body: &Value) -> Option<Need> {
    body["Role"]
        .as_str()
        .map(|role| Need::new("iam:PassRole", role))
}

fn route53(input: &Input) -> Vec<Need> {
    let segments: Vec<&str> = input.path.trim_matches('/').split('/').collect();
    let params = input.params();
    let Some((op, labels)) =
        crate::services::route53::operation_of(input.method.as_str(), &segments, |p| {
            params.contains_key(p)
        })
    else {
        return vec![Need::new("route53:*", "*")];
    };
    let id = labels.get("Id");
    let resource = match segments.get(1) {
        _ if id.is_empty() => "*".to_owned(),
        Some(&"hostedzone") => format!("arn:aws:route53:::hostedzone/{id}"),
        Some(&"change") => format!("arn:aws:route53:::change/{id}"),
        Some(&"healthcheck") => format!("arn:aws:route53:::healthcheck/{id}"),
        _ => "*".to_owned(),
    };
    // Health-check status and reasons are read under GetHealthCheckStatus
    // and GetHealthCheckLastFailureReason, as their operation names say.
    vec![Need::new(format!("route53:{op}"), resource)]
}

fn cloudfront(input: &Input) -> Vec<Need> {
    let segments: Vec<&str> = input.path.trim_matches('/').split('/').collect();
    let distribution = |id: &str| format!("arn:aws:cloudfront::{ACCOUNT_ID}:distribution/{id}");
    let params = input.params();
    let tagged = || {
        params
            .get("Resource")
            .cloned()
            .unwrap_or_else(|| "*".into())
    };
    let (action, resource) = match (input.method.as_str(), &segments[1.min(segments.len())..]) {
        ("POST", ["distribution"]) => ("CreateDistribution", "*".to_owned()),
        ("GET", ["distribution"]) => ("ListDistributions", "*".to_owned()),
        ("GET", ["distribution", id]) => ("GetDistribution", distribution(id)),
        ("DELETE", ["distribution", id]) => ("DeleteDistribution", distribution(id)),
        ("GET", ["distribution", id, "config"]) => ("GetDistributionConfig", distribution(id)),
        ("PUT", ["distribution", id, "config"]) => ("UpdateDistribution", distribution(id)),
        ("POST", ["distribution", id, "invalidation"]) => ("CreateInvalidation", distribution(id)),
        ("GET", ["distribution", id, "invalidation"]) => ("ListInvalidations", distribution(id)),
        ("GET", ["distribution", id, "invalidation", _]) => ("GetInvalidation", distribution(id)),
        ("GET", ["tagging"]) => ("ListTagsForResource", tagged()),
        ("POST", ["tagging"]) if params.get("Operation").map(String::as_str) == Some("Untag") => {
            ("UntagResource", tagged())
        }
        ("POST", ["tagging"]) => ("TagResource", tagged()),
        _ => ("*", "*".to_owned()),
    };
    vec![Need::new(format!("cloudfront:{action}"), resource)]
}

fn query_params(input: &Input) -> crate::query::QueryRequest {
    crate::query::QueryRequest::parse(&input.body, input.query.as_deref())
}

fn iam(input: &Input) -> Vec<Need> {
    let req = query_params(input);
    let action = req.action().to_owned();
    let resource = req.get("RoleName").map_or_else(
        || "*".to_owned(),
        |name| {
            let path = req.get("Path").unwrap_or("/");
            format!("arn:aws:iam::{ACCOUNT_ID}:role{path}{name}")
        },
    );
    vec![Need::new(format!("iam:{action}"), resource)]
}

fn sts(input: &Input) -> Vec<Need> {
    let req = query_params(input);
    match req.action() {
        // AWS answers GetCallerIdentity whatever the policies say.
        "GetCallerIdentity" => Vec::new(),
        action => vec![Need::new(
            format!("sts:{action}"),
            req.get("RoleArn").unwrap_or("*").to_owned(),
        )],
    }
}
