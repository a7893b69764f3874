//! IAM authorization: what a request asks to do ([`Need`]: an action on a
//! resource), the request's context as conditions see it ([`Context`]),
//! and the evaluation of identity-based and trust policies as AWS
//! documents it for one account: an explicit `Deny` in any applicable
//! statement wins, then any `Allow`, else the request is implicitly denied.
//!
//! Modelled: `Effect`, `Action`/`NotAction` (case-insensitive wildcards),
//! `Resource`/`NotResource` (case-sensitive wildcards),
//! `Principal`/`NotPrincipal` for trust policies, and `Condition` with the
//! string, ARN, numeric, date, `Bool` and `Null` operators, their
//! `IfExists` forms and the `ForAnyValue:`/`ForAllValues:` set prefixes. A
//! condition operator the sandbox does not know makes an `Allow` statement
//! not apply and a `Deny` statement apply: unknown never widens access.
//! Not modelled: policy variables (`${aws:username}`), permissions
//! boundaries, session policies, service control policies.
//!
//! Every principal other than the sandbox's own keys (the operator's and
//! the replication service's) is governed: the door asks, before any
//! operation runs, for each [`Need`] the service names (see [`actions`]).

pub mod actions;
mod condition;
pub mod managed;
pub mod regional;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::credentials::{ACCOUNT_ID, Principal};

/// One thing a request asks to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    /// `service:Action`, e.g. `dynamodb:GetItem`.
    pub action: String,
    /// The resource's ARN, or `*` for actions on no resource.
    pub resource: String,
    /// The resource's own policy, where the service keeps one (an S3
    /// bucket policy, a function's permissions, a table's policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy: Option<Value>,
}

impl Need {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Need {
            action: action.into(),
            resource: resource.into(),
            resource_policy: None,
        }
    }
}

/// Condition keys and their values for one request; keys compare
/// case-insensitively, as AWS's do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context(BTreeMap<String, Vec<String>>);

impl Context {
    pub fn with(mut self, key: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.0.insert(
            key.to_ascii_lowercase(),
            values.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// The values of `key`, if the request has it.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.0.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }
}

/// The global condition keys of a request by `principal`, signed for
/// `region`, now.
pub fn request_context(principal: &Principal, region: &str) -> Context {
    let now = time::OffsetDateTime::now_utc();
    let (arn, kind) = match principal {
        Principal::AssumedRole { role_arn, .. } => (role_arn.clone(), "AssumedRole"),
        other => (other.arn(), "User"),
    };
    Context::default()
        .with("aws:PrincipalArn", [arn])
        .with("aws:PrincipalAccount", [ACCOUNT_ID])
        .with("aws:PrincipalType", [kind])
        .with("aws:RequestedRegion", [region])
        .with(
            "aws:CurrentTime",
            now.format(&time::format_description::well_known::Rfc3339)
                .ok(),
        )
        .with("aws:EpochTime", [now.unix_timestamp().to_string()])
        // The sandbox speaks plain HTTP on loopback.
        .with("aws:SecureTransport", ["false"])
}

/// The outcome of evaluating policies for one need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Allow,
    /// No statement allows it (AWS's implicit deny).
    NoAllow,
    /// A statement denies it.
    ExplicitDeny,
}

impl Verdict {
    /// Deny wins over Allow, Allow over nothing.
    fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (ExplicitDeny, _) | (_, ExplicitDeny) => ExplicitDeny,
            (Allow, _) | (_, Allow) => Allow,
            _ => NoAllow,
        }
    }
}

/// A need the caller's policies do not grant, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denied {
    pub need: Need,
    pub verdict: Verdict,
    /// The explicit deny is the resource's policy's.
    #[serde(default)]
    pub by_resource_policy: bool,
}

impl Denied {
    /// AWS's message, naming the principal, the action and the resource.
    pub fn message(&self, principal_arn: &str) -> String {
        self.message_as(principal_arn, false)
    }

    /// The message with the resource in double quotes (as S3 writes it)
    /// or bare.
    pub fn message_as(&self, principal_arn: &str, quoted: bool) -> String {
        let Need {
            action, resource, ..
        } = &self.need;
        let resource = if quoted {
            format!("\"{resource}\"")
        } else {
            resource.clone()
        };
        let why = match self.verdict {
            Verdict::ExplicitDeny if self.by_resource_policy => {
                " with an explicit deny in a resource-based policy".to_owned()
            }
            Verdict::ExplicitDeny => {
                " with an explicit deny in an identity-based policy".to_owned()
            }
            _ => format!(" because no identity-based policy allows the {action} action"),
        };
        format!(
            "User: {principal_arn} is not authorized to perform: {action} on resource: {resource}{why}"
        )
    }
}

/// Who is asking, as a trust policy's `Principal` sees it.
#[derive(Debug, Clone, Default)]
pub struct Requester {
    /// ARNs (and the account id) that `"AWS"` principals may name.
    pub aws: Vec<String>,
    /// A service principal, e.g. `lambda.amazonaws.com`.
    pub service: Option<String>,
    /// A federated principal, e.g. `cognito-identity.amazonaws.com`.
    pub federated: Option<String>,
}

/// A policy document's statements: `Statement` is one object or a list.
fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(s) => s.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => Vec::new(),
    }
}

/// A policy field that is one string or a list of them.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn any_action(patterns: &Value, action: &str) -> bool {
    strings(patterns)
        .iter()
        .any(|p| crate::glob::matches_ignore_case(p, action))
}

fn any_resource(patterns: &Value, resource: &str) -> bool {
    strings(patterns)
        .iter()
        .any(|p| *p == "*" || crate::glob::matches(p, resource))
}

fn principal_matches(p: &Value, who: &Requester) -> bool {
    match p {
        Value::String(s) => s == "*",
        Value::Object(kinds) => kinds.iter().any(|(kind, names)| {
            strings(names).iter().any(|name| match kind.as_str() {
                "AWS" => *name == "*" || who.aws.iter().any(|a| a == name),
                "Service" => who.service.as_deref() == Some(*name),
                "Federated" => who.federated.as_deref() == Some(*name),
                _ => false,
            })
        }),
        _ => false,
    }
}

/// What one statement says about `need`: `None` when it does not apply.
fn statement_verdict(
    st: &Value,
    need: &Need,
    ctx: &Context,
    requester: Option<&Requester>,
) -> Option<Verdict> {
    let deny = match st["Effect"].as_str() {
        Some("Deny") => true,
        Some("Allow") => false,
        _ => return None,
    };
    let action = if st.get("NotAction").is_some() {
        !any_action(&st["NotAction"], &need.action)
    } else {
        any_action(&st["Action"], &need.action)
    };
    // Trust policies name no resource: the role is it.
    let resource = if st.get("NotResource").is_some() {
        !any_resource(&st["NotResource"], &need.resource)
    } else {
        st.get("Resource").is_none() && requester.is_some()
            || any_resource(&st["Resource"], &need.resource)
    };
    let principal = match requester {
        None => true,
        Some(who) if st.get("NotPrincipal").is_some() => {
            !principal_matches(&st["NotPrincipal"], who)
        }
        Some(who) => principal_matches(&st["Principal"], who),
    };
    if !(action && resource && principal) {
        return None;
    }
    let holds = match condition::all_hold(&st["Condition"], ctx) {
        Some(holds) => holds,
        // An operator not modelled: Deny applies, Allow does not.
        None => deny,
    };
    holds.then_some(if deny {
        Verdict::ExplicitDeny
    } else {
        Verdict::Allow
    })
}

/// Evaluates identity-based policies (each a parsed document) for `need`.
pub fn evaluate(policies: &[Value], need: &Need, ctx: &Context) -> Verdict {
    policies
        .iter()
        .flat_map(statements)
        .filter_map(|st| statement_verdict(st, need, ctx, None))
        .fold(Verdict::NoAllow, Verdict::and)
}

/// Evaluates a role's trust policy: may `requester` perform `action`
/// (`sts:AssumeRole`, `sts:AssumeRoleWithWebIdentity`) on the role?
pub fn trusts(trust: &Value, requester: &Requester, action: &str, ctx: &Context) -> Verdict {
    let need = Need::new(action, "*");
    statements(trust)
        .into_iter()
        .filter_map(|st| statement_verdict(st, &need, ctx, Some(requester)))
        .fold(Verdict::NoAllow, Verdict::and)
}

/// The first of `needs` that a caller may not do, as AWS decides within
/// one account: an explicit deny in the identity-based `policies` or in
/// the need's resource policy refuses; else an allow in either grants (a
/// resource policy's allow must name the caller itself: its session, its
/// role, or everyone; naming the account leaves it to the caller's own
/// policies); else the implicit deny.
pub fn first_denied(
    policies: &[Value],
    needs: &[Need],
    ctx: &Context,
    caller: &Principal,
) -> Option<Denied> {
    needs.iter().find_map(|need| {
        let identity = evaluate(policies, need, ctx);
        let resource = need
            .resource_policy
            .as_ref()
            .map_or((Verdict::NoAllow, Verdict::NoAllow), |doc| {
                resource_verdicts(doc, need, ctx, caller)
            });
        let (verdict, by_resource_policy) = match (identity, resource) {
            (_, (Verdict::ExplicitDeny, _)) => (Verdict::ExplicitDeny, true),
            (Verdict::ExplicitDeny, _) => (Verdict::ExplicitDeny, false),
            (Verdict::Allow, _) | (_, (_, Verdict::Allow)) => return None,
            _ => (Verdict::NoAllow, false),
        };
        Some(Denied {
            need: need.clone(),
            verdict,
            by_resource_policy,
        })
    })
}

/// What a resource policy says to `caller`: (whether a statement denies
/// it, naming it or its account; whether one allows it by name).
fn resource_verdicts(
    doc: &Value,
    need: &Need,
    ctx: &Context,
    caller: &Principal,
) -> (Verdict, Verdict) {
    let mut named = vec![caller.arn()];
    if let Principal::AssumedRole { role_arn, .. } = caller {
        named.push(role_arn.clone());
    }
    let by_name = Requester {
        aws: named.clone(),
        ..Requester::default()
    };
    named.extend([
        ACCOUNT_ID.to_owned(),
        format!("arn:aws:iam::{ACCOUNT_ID}:root"),
    ]);
    let in_account = Requester {
        aws: named,
        ..Requester::default()
    };
    let verdict = |who: &Requester, effect: &str| {
        statements(doc)
            .into_iter()
            .filter(|st| st["Effect"] == effect)
            .filter_map(|st| statement_verdict(st, need, ctx, Some(who)))
            .fold(Verdict::NoAllow, Verdict::and)
    };
    (verdict(&in_account, "Deny"), verdict(&by_name, "Allow"))
}

/// Checks a policy document's grammar as IAM does when it is stored:
/// JSON, statements with `Effect` Allow or Deny, an action element, and
/// only condition operators the sandbox evaluates.
pub fn validate(doc: &Value) -> Result<(), String> {
    if !matches!(doc["Statement"], Value::Array(_) | Value::Object(_)) {
        return Err("Syntax errors in policy.".into());
    }
    for st in statements(doc) {
        if !matches!(st["Effect"].as_str(), Some("Allow" | "Deny")) {
            return Err("Syntax errors in policy.".into());
        }
        if st.get("Action").is_none() && st.get("NotAction").is_none() {
            return Err("Policy statement must contain actions.".into());
        }
        if let Value::Object(ops) = &st["Condition"] {
            for op in ops.keys() {
                if !condition::known(op) {
                    return Err(format!("Unknown operator {op}."));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
