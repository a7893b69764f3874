//! IAM's actions: one function per action, found through the operation
//! table [`OPERATIONS`] by `Action`, each given the parsed awsQuery
//! request and the locked state, and returning the action's result
//! element (the parent module wraps it in the response).

use std::collections::{BTreeMap, BTreeSet};

use http::StatusCode;
use rand::Rng;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Iam, IamState, Outcome, Role, err, no_such_role, valid_name, valid_policy};
use crate::door::table::{Operation, named};
use crate::query::{QueryRequest, el, percent_encode};

type Handler = fn(&Iam, &QueryRequest, &mut IamState) -> Outcome;

/// IAM's actions, by the name `Action` gives.
pub(super) const OPERATIONS: &[Operation<Handler>] = &[
    named("CreateRole", create_role),
    named("GetRole", get_role),
    named("DeleteRole", delete_role),
    named("UpdateAssumeRolePolicy", update_assume_role_policy),
    named("TagRole", tag_role),
    named("PutRolePolicy", put_role_policy),
    named("GetRolePolicy", get_role_policy),
    named("DeleteRolePolicy", delete_role_policy),
    named("ListRolePolicies", list_role_policies),
    named("AttachRolePolicy", attach_role_policy),
    named("DetachRolePolicy", detach_role_policy),
    named("ListAttachedRolePolicies", list_attached_role_policies),
];

/// CreateRole.
fn create_role(iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    if !valid_name(name) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            format!("The specified value for roleName is invalid: {name}"),
        ));
    }
    if state.roles.contains_key(name) {
        return Err(err(
            StatusCode::CONFLICT,
            "EntityAlreadyExists",
            format!("Role with name {name} already exists."),
        ));
    }
    let doc = req.get("AssumeRolePolicyDocument").ok_or_else(|| {
        err(StatusCode::BAD_REQUEST, "ValidationError", "1 validation error detected: Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null")
    })?;
    valid_policy(doc)?;
    let suffix: String = (0..17)
        .map(|_| b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[rand::rng().random_range(0..32)] as char)
        .collect();
    let role = Role {
        name: name.to_owned(),
        id: format!("AROA{suffix}"),
        path: req.get("Path").unwrap_or("/").to_owned(),
        created: OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(OffsetDateTime::now_utc())
            .format(&Rfc3339)
            .unwrap_or_default(),
        assume_role_policy: doc.to_owned(),
        description: req.get("Description").map(str::to_owned),
        max_session_duration: req
            .get("MaxSessionDuration")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3600),
        tags: req.members("Tags"),
        inline: BTreeMap::new(),
        attached: BTreeSet::new(),
    };
    let xml = role.xml();
    state.roles.insert(name.to_owned(), role);
    iam.save(state)?;
    Ok(Some(xml))
}

/// GetRole.
fn get_role(_iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let role = state.roles.get(name).ok_or_else(|| no_such_role(name))?;
    Ok(Some(role.xml()))
}

/// DeleteRole.
fn delete_role(iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let role = state.roles.get(name).ok_or_else(|| no_such_role(name))?;
    if !role.inline.is_empty() {
        return Err(err(
            StatusCode::CONFLICT,
            "DeleteConflict",
            "Cannot delete entity, must delete policies first.",
        ));
    }
    if !role.attached.is_empty() {
        return Err(err(
            StatusCode::CONFLICT,
            "DeleteConflict",
            "Cannot delete entity, must detach all policies first.",
        ));
    }
    state.roles.remove(name);
    iam.save(state)?;
    Ok(None)
}

/// UpdateAssumeRolePolicy.
fn update_assume_role_policy(iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let doc = req.get("PolicyDocument").unwrap_or_default().to_owned();
    valid_policy(&doc)?;
    let role = state
        .roles
        .get_mut(name)
        .ok_or_else(|| no_such_role(name))?;
    role.assume_role_policy = doc;
    iam.save(state)?;
    Ok(None)
}

/// TagRole.
fn tag_role(iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let role = state
        .roles
        .get_mut(name)
        .ok_or_else(|| no_such_role(name))?;
    for (k, v) in req.members("Tags") {
        role.tags.retain(|(key, _)| *key != k);
        role.tags.push((k, v));
    }
    iam.save(state)?;
    Ok(None)
}

/// PutRolePolicy.
fn put_role_policy(iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let policy = req.get("PolicyName").unwrap_or_default().to_owned();
    let doc = req.get("PolicyDocument").unwrap_or_default().to_owned();
    if !valid_name(&policy) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "The specified value for policyName is invalid",
        ));
    }
    valid_policy(&doc)?;
    let role = state
        .roles
        .get_mut(name)
        .ok_or_else(|| no_such_role(name))?;
    role.inline.insert(policy, doc);
    iam.save(state)?;
    Ok(None)
}

/// GetRolePolicy.
fn get_role_policy(_iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let policy = req.get("PolicyName").unwrap_or_default();
    let role = state.roles.get(name).ok_or_else(|| no_such_role(name))?;
    let doc = role.inline.get(policy).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            "NoSuchEntity",
            format!("The role policy with name {policy} cannot be found."),
        )
    })?;
    Ok(Some(format!(
        "{}{}{}",
        el("RoleName", name),
        el("PolicyName", policy),
        el("PolicyDocument", &percent_encode(doc))
    )))
}

/// DeleteRolePolicy.
fn delete_role_policy(iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let policy = req.get("PolicyName").unwrap_or_default();
    let role = state
        .roles
        .get_mut(name)
        .ok_or_else(|| no_such_role(name))?;
    if role.inline.remove(policy).is_none() {
        return Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchEntity",
            format!("The role policy with name {policy} cannot be found."),
        ));
    }
    iam.save(state)?;
    Ok(None)
}

/// ListRolePolicies.
fn list_role_policies(_iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let role = state.roles.get(name).ok_or_else(|| no_such_role(name))?;
    let members: String = role.inline.keys().map(|n| el("member", n)).collect();
    Ok(Some(format!(
        "<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>"
    )))
}

/// AttachRolePolicy.
fn attach_role_policy(iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let arn = req.get("PolicyArn").unwrap_or_default().to_owned();
    // Only AWS managed policies whose documents the sandbox has: one it
    // could not evaluate would look attached and grant nothing.
    if crate::authz::managed::document(&arn).is_none() {
        return Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchEntity",
            format!("Policy {arn} does not exist or is not attachable."),
        ));
    }
    let role = state
        .roles
        .get_mut(name)
        .ok_or_else(|| no_such_role(name))?;
    role.attached.insert(arn);
    iam.save(state)?;
    Ok(None)
}

/// DetachRolePolicy.
fn detach_role_policy(iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let arn = req.get("PolicyArn").unwrap_or_default();
    let role = state
        .roles
        .get_mut(name)
        .ok_or_else(|| no_such_role(name))?;
    if !role.attached.remove(arn) {
        return Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchEntity",
            format!("Policy {arn} was not found."),
        ));
    }
    iam.save(state)?;
    Ok(None)
}

/// ListAttachedRolePolicies.
fn list_attached_role_policies(_iam: &Iam, req: &QueryRequest, state: &mut IamState) -> Outcome {
    let name = Iam::role_name(req)?;
    let role = state.roles.get(name).ok_or_else(|| no_such_role(name))?;
    let members: String = role
        .attached
        .iter()
        .map(|arn| {
            let policy = arn.rsplit('/').next().unwrap_or(arn);
            format!(
                "<member>{}{}</member>",
                el("PolicyName", policy),
                el("PolicyArn", arn)
            )
        })
        .collect();
    Ok(Some(format!(
        "<AttachedPolicies>{members}</AttachedPolicies><IsTruncated>false</IsTruncated>"
    )))
}
