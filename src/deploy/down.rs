//! `down`'s plan: the remove step of everything `up` made, in reverse
//! dependency order, concurrently where possible. Each remove skips what is
//! already gone and keeps what is not the stack's (see
//! [`crate::resources`]).

use super::{Ctx, Step, deps, key};
use crate::resources::{
    api, auth_role_name, certificate, distribution, domains, function, health_check, identity_pool,
    lambda_role_name, role, site, table, zone,
};

/// Every step of `down`, with its dependencies.
pub fn plan(ctx: &Ctx) -> Vec<Step> {
    let [p, s] = ctx.config.regions();
    let g = "global";
    let d = deps;
    let mut steps = vec![
        Step::new("records", "DNS records", g, &[], zone::remove_records),
        Step::new(
            "health-check",
            "health checks",
            g,
            &d(&["records"]),
            health_check::remove,
        ),
        Step::new(
            "distribution",
            "CloudFront distribution",
            g,
            &[],
            distribution::remove,
        ),
        Step::new("bucket", "web bucket", p, &[], site::remove_bucket),
        Step::regional(
            "identity-pool",
            "Cognito identity pool",
            p,
            &[],
            identity_pool::remove,
        ),
        Step::regional(
            "identity-pool",
            "Cognito identity pool",
            s,
            &[],
            identity_pool::remove,
        ),
        Step::new(
            "auth-role",
            "signed-in users' role",
            g,
            &[key("identity-pool", p), key("identity-pool", s)],
            |c| async move { role::remove(&c, &auth_role_name(&c)).await },
        ),
        Step::new(
            "replica",
            "global-table replica",
            s,
            &[],
            table::remove_replica,
        ),
        Step::new(
            "table",
            "DynamoDB table",
            p,
            &d(&["replica"]),
            table::remove,
        ),
    ];
    for r in [p, s] {
        steps.extend([
            Step::regional(
                "domains",
                "custom domains",
                r,
                &d(&["records"]),
                domains::remove,
            ),
            Step::regional(
                "certificate",
                "ACM certificate",
                r,
                &[key("domains", r)],
                certificate::remove,
            ),
            Step::regional("api", "REST API", r, &[key("domains", r)], api::remove),
            Step::regional(
                "function",
                "Lambda function",
                r,
                &[key("api", r)],
                function::remove,
            ),
        ]);
    }
    steps.extend([
        Step::new(
            "lambda-role",
            "Lambda execution role",
            g,
            &[key("function", p), key("function", s)],
            |c| async move { role::remove(&c, &lambda_role_name(&c)).await },
        ),
        Step::new(
            "zone",
            "hosted zone",
            g,
            &[
                "records".into(),
                "health-check".into(),
                key("certificate", p),
                key("certificate", s),
            ],
            zone::remove,
        ),
    ]);
    steps
}
