//! STS: who am I, and temporary credentials for a role that every sandbox
//! process then accepts (see `credentials`).

use std::time::Duration;

use http::StatusCode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::authz::{Context, Requester, Verdict};
use crate::credentials::{ACCOUNT_ID, Principal, SandboxSecrets};
use crate::door::{Outcome, Reply, ServiceError};
use crate::query::{QueryRequest, el};
use crate::services::iam::Iam;

pub fn handle(
    req: &QueryRequest,
    caller: &Principal,
    secrets: &SandboxSecrets,
    iam: &Iam,
    context: &Context,
) -> Outcome {
    match req.action() {
        "GetCallerIdentity" => {
            let user_id = match caller {
                Principal::AssumedRole {
                    session_name,
                    role_arn,
                    ..
                } => {
                    let id = iam
                        .role_by_arn(role_arn)
                        .map(|r| r.id)
                        .unwrap_or_else(|| "AROAUNKNOWN".into());
                    format!("{id}:{session_name}")
                }
                _ => "AIDASANDBOXOPERATOR".to_owned(),
            };
            Ok(Reply::query(
                "GetCallerIdentity",
                Some(format!(
                    "{}{}{}",
                    el("Arn", &caller.arn()),
                    el("UserId", &user_id),
                    el("Account", ACCOUNT_ID)
                )),
            ))
        }
        "AssumeRole" => {
            let role_arn = req.get("RoleArn").unwrap_or_default();
            let session = req.get("RoleSessionName").unwrap_or_default();
            if session.is_empty()
                || session.len() > 64
                || !session
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
            {
                return Err(ServiceError::new(
                    StatusCode::BAD_REQUEST,
                    "ValidationError",
                    "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
                ));
            }
            let seconds: u64 = match req.get("DurationSeconds").map(str::parse) {
                None => 3600,
                Some(Ok(s)) if (900..=43200).contains(&s) => s,
                Some(_) => {
                    return Err(ServiceError::new(
                        StatusCode::BAD_REQUEST,
                        "ValidationError",
                        "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200",
                    ));
                }
            };
            let Some(role) = iam.role_by_arn(role_arn) else {
                return Err(ServiceError::new(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    format!(
                        "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                        caller.arn()
                    ),
                ));
            };
            // The role's trust policy must name the caller (its ARN, its
            // role's, the account or everyone); naming the account leaves
            // the rest to the caller's own policies, which the door checked.
            let trust = iam.trust_of(role_arn).unwrap_or_default();
            let mut aws = vec![
                caller.arn(),
                ACCOUNT_ID.to_owned(),
                format!("arn:aws:iam::{ACCOUNT_ID}:root"),
            ];
            if let Principal::AssumedRole { role_arn, .. } = caller {
                aws.push(role_arn.clone());
            }
            let requester = Requester {
                aws,
                ..Requester::default()
            };
            if crate::authz::trusts(&trust, &requester, "sts:AssumeRole", context) != Verdict::Allow
            {
                return Err(ServiceError::new(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    format!(
                        "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                        caller.arn()
                    ),
                ));
            }
            if seconds > u64::from(role.max_session_duration) {
                return Err(ServiceError::new(
                    StatusCode::BAD_REQUEST,
                    "ValidationError",
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                ));
            }
            let creds = secrets.mint(role_arn, session, None, Duration::from_secs(seconds));
            let expiration = OffsetDateTime::from_unix_timestamp(creds.expires_at as i64)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default();
            let assumed_arn = format!(
                "arn:aws:sts::{ACCOUNT_ID}:assumed-role/{}/{session}",
                role.name
            );
            Ok(Reply::query(
                "AssumeRole",
                Some(format!(
                    "<Credentials>{}{}{}{}</Credentials><AssumedRoleUser>{}{}</AssumedRoleUser>",
                    el("AccessKeyId", &creds.access_key_id),
                    el("SecretAccessKey", &creds.secret_access_key),
                    el("SessionToken", &creds.session_token),
                    el("Expiration", &expiration),
                    el("AssumedRoleId", &format!("{}:{session}", role.id)),
                    el("Arn", &assumed_arn),
                )),
            ))
        }
        "" => Err(ServiceError::new(
            StatusCode::BAD_REQUEST,
            "MissingAction",
            "Missing Action",
        )),
        other => Err(ServiceError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("Could not find operation {other} for version 2011-06-15 in the sandbox's STS"),
        )),
    }
}
