//! `up`'s plan: the ensure step of every resource (DESIGN.md, "Resources
//! `up` ensures"), with the dependencies that order them; both regions'
//! steps run concurrently. The steps themselves live in
//! [`crate::resources`].

use super::{Ctx, Step, deps, key};
use crate::resources::{
    api, certificate, distribution, domains, function, health_check, identity_pool, role, site,
    table, zone,
};

/// Every step of `up`, with its dependencies.
pub fn plan(ctx: &Ctx) -> Vec<Step> {
    let [p, s] = ctx.config.regions();
    let g = "global";
    let d = deps;
    let mut steps = vec![
        Step::new("table", "DynamoDB table", p, &[], table::ensure),
        Step::new(
            "replica",
            "global-table replica",
            s,
            &d(&["table"]),
            table::ensure_replica,
        ),
        Step::new(
            "lambda-role",
            "Lambda execution role",
            g,
            &[],
            role::ensure_lambda_role,
        ),
        Step::new("zone", "hosted zone", g, &[], zone::ensure),
        Step::new("bucket", "web bucket", p, &[], site::ensure_bucket),
        Step::new(
            "distribution",
            "CloudFront distribution",
            g,
            &d(&["bucket"]),
            distribution::ensure,
        ),
    ];
    for r in [p, s] {
        let mut function_deps = d(&["lambda-role", "table", "distribution"]);
        if r == s {
            function_deps.push("replica".into());
        }
        steps.extend([
            Step::regional(
                "function",
                "Lambda function",
                r,
                &function_deps,
                function::ensure,
            ),
            Step::regional(
                "api",
                "REST API + stage prod",
                r,
                &[key("function", r), "distribution".into()],
                api::ensure,
            ),
            Step::regional(
                "certificate",
                "ACM certificate",
                r,
                &d(&["zone"]),
                certificate::ensure,
            ),
            Step::regional(
                "identity-pool",
                "Cognito identity pool",
                r,
                &[],
                identity_pool::ensure,
            ),
            Step::regional(
                "domains",
                "custom domains",
                r,
                &[key("certificate", r), key("api", r)],
                domains::ensure,
            ),
        ]);
    }
    let both = |kind: &str| [key(kind, p), key(kind, s)];
    let mut records_deps = d(&["zone"]);
    records_deps.extend(both("domains"));
    let mut auth_deps = both("identity-pool").to_vec();
    auth_deps.extend(both("api"));
    let mut site_deps = d(&["bucket", "distribution"]);
    site_deps.extend(both("identity-pool"));
    steps.extend([
        Step::new(
            "regional-records",
            "regional DNS records",
            g,
            &records_deps,
            zone::ensure_regional_records,
        ),
        Step::new(
            "health-check",
            "primary health check",
            g,
            &d(&["regional-records"]),
            health_check::ensure,
        ),
        Step::new(
            "failover-records",
            "failover DNS records",
            g,
            &d(&["health-check", "regional-records"]),
            zone::ensure_failover_records,
        ),
        Step::new(
            "auth-role",
            "signed-in users' role",
            g,
            &auth_deps,
            role::ensure_auth_role,
        ),
        Step::new("site", "web UI files", p, &site_deps, site::ensure),
    ]);
    steps
}
