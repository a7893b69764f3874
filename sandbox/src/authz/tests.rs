use serde_json::json;

use super::*;

/// A session of the role `r`.
fn session() -> Principal {
    Principal::AssumedRole {
        role_arn: "arn:aws:iam::000000000000:role/r".into(),
        session_name: "s".into(),
        cognito: None,
    }
}

fn need(action: &str, resource: &str) -> Need {
    Need::new(action, resource)
}

const TABLE: &str = "arn:aws:dynamodb:eu-west-1:000000000000:table/tickets";

/// The ticket Lambda's role as `up` writes it.
fn lambda_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem"],
         "Resource": [TABLE, "arn:aws:dynamodb:ap-southeast-1:000000000000:table/tickets"]},
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup"], "Resource": "arn:aws:logs:*:000000000000:log-group:/aws/lambda/tickets:*"}
    ]})
}

#[test]
fn allow_only_what_is_granted() {
    let p = [lambda_policy()];
    let ctx = Context::default();
    assert_eq!(
        evaluate(&p, &need("dynamodb:GetItem", TABLE), &ctx),
        Verdict::Allow
    );
    assert_eq!(
        evaluate(&p, &need("DynamoDB:getitem", TABLE), &ctx),
        Verdict::Allow,
        "actions ignore case"
    );
    assert_eq!(
        evaluate(&p, &need("dynamodb:Scan", TABLE), &ctx),
        Verdict::NoAllow
    );
    assert_eq!(
        evaluate(&p, &need("dynamodb:DeleteTable", TABLE), &ctx),
        Verdict::NoAllow
    );
    assert_eq!(
        evaluate(
            &p,
            &need(
                "dynamodb:GetItem",
                "arn:aws:dynamodb:eu-west-1:000000000000:table/other"
            ),
            &ctx
        ),
        Verdict::NoAllow
    );
    assert_eq!(
        evaluate(
            &p,
            &need(
                "dynamodb:GetItem",
                "arn:aws:dynamodb:eu-west-1:000000000000:table/TICKETS"
            ),
            &ctx
        ),
        Verdict::NoAllow,
        "resources are case-sensitive"
    );
    assert_eq!(
        evaluate(&[], &need("dynamodb:GetItem", TABLE), &ctx),
        Verdict::NoAllow
    );
}

#[test]
fn explicit_deny_wins_over_any_allow() {
    let p = [
        json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}),
        json!({"Statement": [{"Effect": "Deny", "Action": "dynamodb:Delete*", "Resource": "*"}]}),
    ];
    let ctx = Context::default();
    assert_eq!(
        evaluate(&p, &need("dynamodb:DeleteItem", TABLE), &ctx),
        Verdict::ExplicitDeny
    );
    assert_eq!(
        evaluate(&p, &need("dynamodb:PutItem", TABLE), &ctx),
        Verdict::Allow
    );
    let denied = first_denied(
        &p,
        &[
            need("dynamodb:PutItem", TABLE),
            need("dynamodb:DeleteTable", TABLE),
        ],
        &ctx,
        &session(),
    )
    .unwrap();
    assert_eq!(denied.need.action, "dynamodb:DeleteTable");
    assert_eq!(
        denied.message("arn:aws:sts::000000000000:assumed-role/r/s"),
        format!(
            "User: arn:aws:sts::000000000000:assumed-role/r/s is not authorized to perform: dynamodb:DeleteTable on resource: {TABLE} with an explicit deny in an identity-based policy"
        )
    );
    let none = first_denied(
        &[],
        &[need("s3:GetObject", "arn:aws:s3:::b/k")],
        &ctx,
        &session(),
    )
    .unwrap();
    assert!(
        none.message("p")
            .ends_with("because no identity-based policy allows the s3:GetObject action")
    );
}

#[test]
fn not_action_and_not_resource_invert_the_match() {
    let p = [json!({"Statement": [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::public/*"}
    ]})];
    let ctx = Context::default();
    assert_eq!(
        evaluate(&p, &need("iam:AttachRolePolicy", "*"), &ctx),
        Verdict::NoAllow
    );
    assert_eq!(
        evaluate(&p, &need("dynamodb:Scan", TABLE), &ctx),
        Verdict::Allow
    );
    assert_eq!(
        evaluate(&p, &need("s3:GetObject", "arn:aws:s3:::public/x"), &ctx),
        Verdict::Allow
    );
    assert_eq!(
        evaluate(&p, &need("s3:GetObject", "arn:aws:s3:::secret/x"), &ctx),
        Verdict::ExplicitDeny
    );
}

#[test]
fn conditions_follow_aws_rules() {
    let allow_if = |cond: Value| {
        [
            json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": cond}}),
        ]
    };
    let n = need("dynamodb:GetItem", TABLE);
    let eu = Context::default().with("aws:RequestedRegion", ["eu-west-1"]);
    let none = Context::default();
    let check = |cond: Value, ctx: &Context| evaluate(&allow_if(cond), &n, ctx) == Verdict::Allow;
    assert!(
        check(
            json!({"StringEquals": {"aws:requestedregion": ["eu-west-1", "x"]}}),
            &eu
        ),
        "keys ignore case"
    );
    assert!(
        !check(
            json!({"StringEquals": {"aws:RequestedRegion": "EU-WEST-1"}}),
            &eu
        ),
        "values do not"
    );
    assert!(check(
        json!({"StringEqualsIgnoreCase": {"aws:RequestedRegion": "EU-WEST-1"}}),
        &eu
    ));
    assert!(check(
        json!({"StringLike": {"aws:RequestedRegion": "eu-*"}}),
        &eu
    ));
    assert!(!check(
        json!({"StringNotLike": {"aws:RequestedRegion": "eu-*"}}),
        &eu
    ));
    assert!(
        !check(
            json!({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}),
            &none
        ),
        "missing key fails"
    );
    assert!(
        check(
            json!({"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}),
            &none
        ),
        "…a negated one passes"
    );
    assert!(check(
        json!({"StringEqualsIfExists": {"aws:RequestedRegion": "us-east-1"}}),
        &none
    ));
    assert!(!check(
        json!({"StringEqualsIfExists": {"aws:RequestedRegion": "us-east-1"}}),
        &eu
    ));
    assert!(check(
        json!({"Null": {"aws:RequestedRegion": "true"}}),
        &none
    ));
    assert!(!check(
        json!({"Null": {"aws:RequestedRegion": "true"}}),
        &eu
    ));
    assert!(check(json!({"Null": {"aws:RequestedRegion": false}}), &eu));
    let amr = Context::default().with(
        "cognito-identity.amazonaws.com:amr",
        ["authenticated", "graph.facebook.com"],
    );
    assert!(check(
        json!({"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}),
        &amr
    ));
    assert!(!check(
        json!({"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "unauthenticated"}}),
        &amr
    ));
    assert!(!check(
        json!({"ForAllValues:StringEquals": {"cognito-identity.amazonaws.com:amr": "authenticated"}}),
        &amr
    ));
    assert!(
        check(
            json!({"ForAllValues:StringEquals": {"cognito-identity.amazonaws.com:amr": "authenticated"}}),
            &none
        ),
        "vacuous"
    );
    assert!(!check(
        json!({"ForAnyValue:StringEquals": {"cognito-identity.amazonaws.com:amr": "authenticated"}}),
        &none
    ));
    let t = Context::default()
        .with("aws:CurrentTime", ["2026-12-07T00:00:00Z"])
        .with("aws:EpochTime", ["1796601600"])
        .with("aws:SecureTransport", ["false"]);
    assert!(check(
        json!({"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}),
        &t
    ));
    assert!(!check(
        json!({"DateGreaterThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}),
        &t
    ));
    assert!(check(
        json!({"DateGreaterThanEquals": {"aws:CurrentTime": "2026-12-07T00:00:00Z"}}),
        &t
    ));
    assert!(check(
        json!({"NumericLessThanEquals": {"aws:EpochTime": 1796601600}}),
        &t
    ));
    assert!(!check(
        json!({"NumericLessThan": {"aws:EpochTime": "1796601600"}}),
        &t
    ));
    assert!(check(json!({"Bool": {"aws:SecureTransport": "false"}}), &t));
    assert!(!check(json!({"Bool": {"aws:SecureTransport": true}}), &t));
    // Every operator and every key must hold.
    assert!(!check(
        json!({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}, "Bool": {"aws:SecureTransport": "true"}}),
        &t.clone().with("aws:RequestedRegion", ["eu-west-1"])
    ));
}

#[test]
fn an_unknown_operator_never_widens_access() {
    let cond = json!({"StringSoundsLike": {"aws:RequestedRegion": "eu"}});
    let allow = [
        json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": cond}}),
    ];
    let deny = [
        json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}),
        json!({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": cond}}),
    ];
    let n = need("s3:GetObject", "arn:aws:s3:::b/k");
    assert_eq!(evaluate(&allow, &n, &Context::default()), Verdict::NoAllow);
    assert_eq!(
        evaluate(&deny, &n, &Context::default()),
        Verdict::ExplicitDeny
    );
    assert!(
        validate(&allow[0])
            .unwrap_err()
            .contains("StringSoundsLike")
    );
}

#[test]
fn trust_policies_name_their_principals() {
    let lambda = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let operator = Requester {
        aws: vec![
            "arn:aws:iam::000000000000:user/wildrydes-sandbox".into(),
            "000000000000".into(),
        ],
        ..Requester::default()
    };
    let service = Requester {
        service: Some("lambda.amazonaws.com".into()),
        ..Requester::default()
    };
    let ctx = Context::default();
    assert_eq!(
        trusts(&lambda, &service, "sts:AssumeRole", &ctx),
        Verdict::Allow
    );
    assert_eq!(
        trusts(&lambda, &operator, "sts:AssumeRole", &ctx),
        Verdict::NoAllow
    );
    let account = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "000000000000"}, "Action": "sts:AssumeRole"}});
    assert_eq!(
        trusts(&account, &operator, "sts:AssumeRole", &ctx),
        Verdict::Allow
    );
    assert_eq!(
        trusts(&account, &operator, "sts:AssumeRoleWithWebIdentity", &ctx),
        Verdict::NoAllow
    );
    // The auth role's trust as `up` writes it.
    let cognito = json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": ["eu-west-1:p1", "ap-southeast-1:p2"]},
                      "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}}}]});
    let federated = Requester {
        federated: Some("cognito-identity.amazonaws.com".into()),
        ..Requester::default()
    };
    let login = |pool: &str, amr: &str| {
        Context::default()
            .with("cognito-identity.amazonaws.com:aud", [pool])
            .with("cognito-identity.amazonaws.com:amr", [amr])
    };
    let web = "sts:AssumeRoleWithWebIdentity";
    assert_eq!(
        trusts(
            &cognito,
            &federated,
            web,
            &login("ap-southeast-1:p2", "authenticated")
        ),
        Verdict::Allow
    );
    assert_eq!(
        trusts(
            &cognito,
            &federated,
            web,
            &login("eu-west-1:other", "authenticated")
        ),
        Verdict::NoAllow
    );
    assert_eq!(
        trusts(
            &cognito,
            &federated,
            web,
            &login("eu-west-1:p1", "unauthenticated")
        ),
        Verdict::NoAllow
    );
    assert_eq!(
        trusts(
            &cognito,
            &operator,
            web,
            &login("eu-west-1:p1", "authenticated")
        ),
        Verdict::NoAllow
    );
}

#[test]
fn managed_policies_are_the_documents_aws_publishes() {
    let basic =
        managed::document("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
            .unwrap();
    let ctx = Context::default();
    assert_eq!(
        evaluate(
            std::slice::from_ref(&basic),
            &need("logs:PutLogEvents", "arn:aws:logs:eu-west-1:0:log-group:x"),
            &ctx
        ),
        Verdict::Allow
    );
    assert_eq!(
        evaluate(&[basic], &need("dynamodb:GetItem", TABLE), &ctx),
        Verdict::NoAllow
    );
    let admin = managed::document("arn:aws:iam::aws:policy/AdministratorAccess").unwrap();
    assert_eq!(
        evaluate(&[admin], &need("iam:AttachRolePolicy", "*"), &ctx),
        Verdict::Allow
    );
    assert!(managed::document("arn:aws:iam::aws:policy/MadeUpAccess").is_none());
    assert!(managed::document("arn:aws:iam::000000000000:policy/Mine").is_none());
}

#[test]
fn hostile_patterns_stay_linear() {
    let pattern = format!("{}b", "*a".repeat(200));
    let p = [json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": pattern}})];
    // Exponential matching would hang here; the matcher is linear.
    let text = "a".repeat(5000);
    assert_eq!(
        evaluate(&p, &need("s3:GetObject", &text), &Context::default()),
        Verdict::NoAllow
    );
}

#[test]
fn resource_policies_grant_by_name_and_deny_by_name_or_account() {
    let ctx = Context::default();
    let with = |doc: Value| Need {
        resource_policy: Some(doc),
        ..need("s3:GetObject", "arn:aws:s3:::site/index.html")
    };
    let public = json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"}});
    assert_eq!(
        first_denied(&[], &[with(public)], &ctx, &session()),
        None,
        "a public read needs no identity policy"
    );
    let to_role = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:role/r"}, "Action": "s3:*", "Resource": "*"}});
    assert_eq!(first_denied(&[], &[with(to_role)], &ctx, &session()), None);
    // Naming the account only delegates to the caller's own policies.
    let to_account = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "s3:*", "Resource": "*"}});
    let denied = first_denied(&[], &[with(to_account.clone())], &ctx, &session()).unwrap();
    assert_eq!(denied.verdict, Verdict::NoAllow);
    let allow_all = json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}});
    assert_eq!(
        first_denied(
            std::slice::from_ref(&allow_all),
            &[with(to_account)],
            &ctx,
            &session()
        ),
        None
    );
    // A deny naming the account reaches everyone in it, and says where it is.
    let deny_account = json!({"Statement": {"Effect": "Deny", "Principal": {"AWS": "000000000000"}, "Action": "s3:GetObject", "Resource": "*"}});
    let denied = first_denied(&[allow_all], &[with(deny_account)], &ctx, &session()).unwrap();
    assert_eq!(denied.verdict, Verdict::ExplicitDeny);
    assert!(denied.by_resource_policy);
    assert!(
        denied
            .message("p")
            .ends_with("with an explicit deny in a resource-based policy")
    );
    // Another principal's grant is not this caller's.
    let to_other = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:role/other"}, "Action": "s3:*", "Resource": "*"}});
    assert!(first_denied(&[], &[with(to_other)], &ctx, &session()).is_some());
}
