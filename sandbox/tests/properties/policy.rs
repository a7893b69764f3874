//! The IAM evaluator (`authz::{validate, evaluate, trusts}`) on arbitrary
//! JSON and on documents generated from the policy grammar (`Statement`,
//! `Effect`, `Action`/`NotAction`, `Resource`/`NotResource`,
//! `Principal`/`NotPrincipal`, `Condition` with random operators and
//! keys), with the metamorphic properties AWS's evaluation logic implies.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};
use wildrydes_sandbox::authz::{
    Context, Need, Requester, Verdict, evaluate, first_denied, trusts, validate,
};

const ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "s3:GetObject",
    "iam:PassRole",
    "sts:AssumeRole",
    "sts:AssumeRoleWithWebIdentity",
    "execute-api:Invoke",
    "lambda:InvokeFunction",
];
const ACTION_PATTERNS: &[&str] = &[
    "*",
    "dynamodb:*",
    "s3:Get*",
    "DYNAMODB:getitem",
    "?3:*",
    "sts:Assume*",
    "iam:*Role",
    "",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:dynamodb:eu-west-1:000000000000:table/tickets",
    "arn:aws:s3:::site/index.html",
    "arn:aws:s3:::site/é/ß",
    "arn:aws:iam::000000000000:role/r",
    "arn:aws:lambda:eu-west-1:000000000000:function:f",
    "",
];
const RESOURCE_PATTERNS: &[&str] = &[
    "arn:aws:s3:::site/*",
    "arn:aws:dynamodb:*:*:table/*",
    "arn:aws:s3:::site/?/?",
    "arn:aws:*",
    "arn:aws:iam::000000000000:role/?",
];
const KEYS: &[&str] = &[
    "aws:PrincipalArn",
    "aws:RequestedRegion",
    "aws:EpochTime",
    "aws:CurrentTime",
    "aws:SecureTransport",
    "aws:TagKeys",
    "s3:prefix",
    "cognito-identity.amazonaws.com:aud",
];
const VALUES: &[&str] = &[
    "eu-west-1",
    "us-east-1",
    "true",
    "false",
    "1",
    "-5",
    "3.5",
    "1e3",
    "NaN",
    "2024-01-02T03:04:05Z",
    "1700000000",
    "arn:aws:iam::000000000000:role/r",
    "arn:aws:iam::*:role/*",
    "",
    "é",
    "*",
];
const BASE_OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "Null",
];
/// Operators the sandbox does not evaluate (and near misses of ones it
/// does).
const UNKNOWN_OPERATORS: &[&str] = &[
    "IpAddress",
    "NotIpAddress",
    "BinaryEquals",
    "StringEqualz",
    "stringequals",
    "ForAnyValue:",
    "ForSomeValues:StringEquals",
    "",
];

fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(pool).prop_map(str::to_owned)
}

fn action() -> impl Strategy<Value = String> {
    prop_oneof![3 => pick(ACTIONS), 1 => "[a-zA-Z0-9:*?]{0,12}"]
}

fn resource() -> impl Strategy<Value = String> {
    prop_oneof![3 => pick(RESOURCES), 1 => "[a-z0-9:/*?é]{0,16}"]
}

fn need() -> impl Strategy<Value = Need> {
    (action(), resource()).prop_map(|(a, r)| Need::new(a, r))
}

/// One string or a list of them (with the odd non-string among them).
fn one_or_list(item: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => item.clone().prop_map(Value::from),
        2 => prop::collection::vec(item, 0..4).prop_map(|v| json!(v)),
        1 => prop::collection::vec(prop_oneof![Just(json!(1)), Just(Value::Null)], 1..2)
            .prop_map(Value::Array),
    ]
}

fn action_pattern() -> impl Strategy<Value = String> + Clone {
    prop_oneof![pick(ACTIONS), pick(ACTION_PATTERNS), "[a-zA-Z0-9:*?]{0,10}"]
}

fn resource_pattern() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        pick(RESOURCES),
        pick(RESOURCE_PATTERNS),
        "[a-z0-9:/*?é]{0,12}"
    ]
}

fn known_operator() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&["", "ForAnyValue:", "ForAllValues:"][..]),
        prop::sample::select(BASE_OPERATORS),
        any::<bool>(),
    )
        .prop_map(|(set, base, if_exists)| {
            format!("{set}{base}{}", if if_exists { "IfExists" } else { "" })
        })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => pick(KEYS),
        1 => pick(KEYS).prop_map(|k| k.to_ascii_uppercase()),
        1 => "[a-z:]{0,8}",
    ]
}

fn condition_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => pick(VALUES).prop_map(Value::from),
        2 => prop::collection::vec(pick(VALUES), 0..3).prop_map(|v| json!(v)),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => crate::any_json(),
    ]
}

/// A `Condition` block with operators from `operator`.
fn condition(operator: impl Strategy<Value = String>) -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        operator,
        prop::collection::btree_map(key(), condition_value(), 1..3)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1..3,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn principal() -> impl Strategy<Value = Value> {
    let names = prop_oneof![
        pick(&[
            "*",
            "000000000000",
            "arn:aws:iam::000000000000:role/r",
            "arn:aws:sts::000000000000:assumed-role/r/s",
        ]),
        "[a-z:/*]{0,8}",
    ];
    prop_oneof![
        Just(json!("*")),
        (
            prop::sample::select(&["AWS", "Service", "Federated", "CanonicalUser"][..]),
            one_or_list(prop_oneof![
                names,
                pick(&["lambda.amazonaws.com", "cognito-identity.amazonaws.com"]),
            ]),
        )
            .prop_map(|(kind, names)| json!({ kind: names })),
        crate::any_json(),
    ]
}

/// A statement as IAM stores them: `Effect` Allow or Deny, an action
/// element, a resource element, known operators only.
fn well_formed_statement() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&["Allow", "Deny"][..]),
        any::<bool>(),
        one_or_list(action_pattern()),
        any::<bool>(),
        one_or_list(resource_pattern()),
        prop::option::of(condition(known_operator())),
        prop::option::of("[A-Za-z0-9]{0,8}"),
    )
        .prop_map(
            |(effect, not_action, actions, not_resource, resources, cond, sid)| {
                let mut st = Map::new();
                st.insert("Effect".into(), effect.into());
                let a = if not_action { "NotAction" } else { "Action" };
                st.insert(a.into(), actions);
                let r = if not_resource {
                    "NotResource"
                } else {
                    "Resource"
                };
                st.insert(r.into(), resources);
                if let Some(c) = cond {
                    st.insert("Condition".into(), c);
                }
                if let Some(s) = sid {
                    st.insert("Sid".into(), s.into());
                }
                Value::Object(st)
            },
        )
}

/// Any statement: each element from its grammar, absent, or any JSON;
/// operators known or not; sometimes not an object at all.
fn any_statement() -> BoxedStrategy<Value> {
    let effect = prop_oneof![
        pick(&["Allow", "Deny", "allow", "DENY", ""]).prop_map(Value::from),
        crate::any_json(),
    ];
    let element =
        |s: BoxedStrategy<Value>| prop::option::of(prop_oneof![4 => s, 1 => crate::any_json()]);
    let fields = (
        prop::option::of(effect),
        element(one_or_list(action_pattern()).boxed()),
        element(one_or_list(action_pattern()).boxed()),
        element(one_or_list(resource_pattern()).boxed()),
        element(one_or_list(resource_pattern()).boxed()),
        element(principal().boxed()),
        element(principal().boxed()),
        element(
            condition(prop_oneof![3 => known_operator(), 1 => pick(UNKNOWN_OPERATORS)]).boxed(),
        ),
    )
        .prop_map(|(e, a, na, r, nr, p, np, c)| {
            let mut st = Map::new();
            let named = [
                ("Effect", e),
                ("Action", a),
                ("NotAction", na),
                ("Resource", r),
                ("NotResource", nr),
                ("Principal", p),
                ("NotPrincipal", np),
                ("Condition", c),
            ];
            for (name, value) in named {
                if let Some(v) = value {
                    st.insert(name.into(), v);
                }
            }
            Value::Object(st)
        });
    prop_oneof![
        8 => fields,
        2 => well_formed_statement(),
        1 => crate::any_json(),
    ]
    .boxed()
}

/// A document holding `statements`: a list, a single object, or (rarely)
/// something that is no document at all.
fn document(statements: Vec<Value>, form: u8) -> Value {
    match (form, statements.as_slice()) {
        (0, [one]) => json!({"Version": "2012-10-17", "Statement": one}),
        (1, _) => json!({"Statement": statements, "Id": "x"}),
        _ => json!({"Version": "2012-10-17", "Statement": statements}),
    }
}

fn documents(statement: impl Strategy<Value = Value>) -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        prop_oneof![
            8 => (prop::collection::vec(statement, 0..4), 0u8..3)
                .prop_map(|(s, form)| document(s, form)),
            1 => crate::any_json(),
        ],
        0..4,
    )
}

/// A request context: a few keys with zero or more values each.
fn context() -> impl Strategy<Value = Context> {
    prop::collection::btree_map(
        pick(KEYS),
        prop::collection::vec(prop_oneof![4 => pick(VALUES), 1 => ".{0,6}"], 0..3),
        0..5,
    )
    .prop_map(|keys| {
        keys.into_iter()
            .fold(Context::default(), |ctx, (k, v)| ctx.with(&k, v))
    })
}

fn requester() -> impl Strategy<Value = Requester> {
    (
        prop::collection::vec(
            pick(&[
                "000000000000",
                "arn:aws:iam::000000000000:role/r",
                "arn:aws:sts::000000000000:assumed-role/r/s",
            ]),
            0..3,
        ),
        prop::option::of(pick(&["lambda.amazonaws.com", "ec2.amazonaws.com"])),
        prop::option::of(pick(&[
            "cognito-identity.amazonaws.com",
            "graph.facebook.com",
        ])),
    )
        .prop_map(|(aws, service, federated)| Requester {
            aws,
            service,
            federated,
        })
}

/// The statements a document holds, as IAM reads them.
fn statements_of(doc: &Value) -> Vec<Value> {
    match &doc["Statement"] {
        Value::Array(s) => s.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `policies` with `statement` added: into an existing list of
/// statements when there is one at `at`, else as a document of its own.
fn with_statement(policies: &[Value], statement: Value, at: Index) -> Vec<Value> {
    let mut out = policies.to_vec();
    let lists: Vec<usize> = (0..out.len())
        .filter(|&i| out[i]["Statement"].is_array())
        .collect();
    if lists.is_empty() || at.index(2) == 0 {
        let i = at.index(out.len() + 1);
        out.insert(i, json!({"Statement": [statement]}));
    } else {
        let doc = lists[at.index(lists.len())];
        let list = out[doc]["Statement"].as_array_mut().expect("a list");
        let i = at.index(list.len() + 1);
        list.insert(i, statement);
    }
    out
}

/// A pattern `text` matches, by construction: characters kept (actions
/// in either case), turned into `?`, or swallowed by `*`, and stars
/// inserted that match nothing.
fn matching_pattern(text: &str, fold: bool) -> impl Strategy<Value = String> + use<> {
    let chars: Vec<char> = text.chars().collect();
    (prop::collection::vec(0u8..6, chars.len()), any::<bool>()).prop_map(
        move |(choices, trailing_star)| {
            let mut p = String::new();
            for (c, choice) in chars.iter().zip(choices) {
                match choice {
                    0 => p.push('?'),
                    1 => p.push('*'),
                    2 => {
                        p.push('*');
                        p.push(*c);
                    }
                    3 if fold => p.push(if c.is_ascii_lowercase() {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }),
                    _ => p.push(*c),
                }
            }
            if trailing_star {
                p.push('*');
            }
            p
        },
    )
}

/// A `Condition` that holds in `ctx` (or that names an operator the
/// sandbox does not know, which a `Deny` obeys too), or none.
fn holding_condition(ctx: &Context) -> BoxedStrategy<Option<Value>> {
    let mut holding = vec![
        None,
        Some(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
        Some(json!({"Null": {"sandbox:absent": "true"}})),
        Some(json!({"StringNotEquals": {"sandbox:absent": "x"}})),
        Some(json!({"StringEqualsIfExists": {"SANDBOX:ABSENT": ["x", "y"]}})),
        Some(json!({"ForAllValues:StringLike": {"sandbox:absent": "x"}})),
    ];
    for key in KEYS {
        match ctx.get(key) {
            Some(values) if !values.is_empty() => {
                let upper = key.to_ascii_uppercase();
                holding.extend([
                    Some(json!({"StringEquals": {*key: values[values.len() - 1]}})),
                    Some(json!({"StringLike": {upper.clone(): "*"}})),
                    Some(json!({"Null": {*key: false}})),
                    Some(json!({"ForAnyValue:StringEquals": {*key: [values[0].clone()]}})),
                    Some(json!({"ForAllValues:StringEquals": {upper: values}})),
                ]);
            }
            _ => holding.extend([
                Some(json!({"Null": {*key: "true"}})),
                Some(json!({"ArnNotLike": {*key: "arn:*"}})),
            ]),
        }
    }
    prop::sample::select(holding).boxed()
}

/// A `Deny` statement that applies to `need` in `ctx`, in one of the
/// many shapes that can.
fn matching_deny(need: &Need, ctx: &Context) -> impl Strategy<Value = Value> + use<> {
    let action = prop_oneof![
        Just(("Action", json!(need.action))),
        Just(("Action", json!(["nothing:Matches", "*"]))),
        matching_pattern(&need.action, true).prop_map(|p| ("Action", json!([p]))),
        // `#` is in no generated action or resource.
        Just(("NotAction", json!("#"))),
    ];
    let resource = prop_oneof![
        Just(("Resource", json!(need.resource))),
        Just(("Resource", json!("*"))),
        matching_pattern(&need.resource, false).prop_map(|p| ("Resource", json!(p))),
        Just(("NotResource", json!(["#", "##"]))),
    ];
    (action, resource, holding_condition(ctx)).prop_map(|((a, av), (r, rv), cond)| {
        let mut st = json!({"Effect": "Deny", a: av, r: rv});
        if let Some(c) = cond {
            st["Condition"] = c;
        }
        st
    })
}

fn regroup(statements: Vec<Value>, sizes: &[usize]) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut rest = statements.as_slice();
    for &n in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (now, later) = rest.split_at(n.clamp(1, rest.len()));
        docs.push(json!({"Statement": now}));
        rest = later;
    }
    docs
}

proptest! {
    #![proptest_config(crate::config(1000))]

    /// No document, however malformed, makes the evaluator panic.
    #[test]
    fn arbitrary_documents_never_panic(
        policies in prop_oneof![
            documents(any_statement()),
            prop::collection::vec(crate::any_json(), 0..3),
        ],
        need in need(),
        ctx in context(),
        who in requester(),
    ) {
        for doc in &policies {
            let _ = validate(doc);
            let _ = trusts(doc, &who, &need.action, &ctx);
        }
        let verdict = evaluate(&policies, &need, &ctx);
        let caller = wildrydes_sandbox::credentials::Principal::AssumedRole {
            role_arn: "arn:aws:iam::000000000000:role/r".into(),
            session_name: "s".into(),
            cognito: None,
        };
        let denied = first_denied(&policies, std::slice::from_ref(&need), &ctx, &caller);
        prop_assert_eq!(denied.map(|d| d.verdict), (verdict != Verdict::Allow).then_some(verdict));
    }

    /// IAM's grammar, as the sandbox checks it when a policy is stored,
    /// accepts well-formed documents and refuses any unknown operator.
    #[test]
    fn well_formed_documents_validate(
        statements in prop::collection::vec(well_formed_statement(), 1..4),
        form in 0u8..3,
        unknown in pick(UNKNOWN_OPERATORS),
        at in any::<Index>(),
    ) {
        let doc = document(statements.clone(), form);
        prop_assert_eq!(validate(&doc), Ok(()));
        let mut statements = statements;
        let i = at.index(statements.len());
        statements[i]["Condition"] = json!({unknown: {"aws:RequestedRegion": "x"}});
        prop_assert!(validate(&document(statements, form)).is_err());
    }

    /// A `Deny` that applies wins over whatever else the policies say,
    /// wherever it sits.
    #[test]
    fn a_matching_deny_always_wins(
        (policies, need, ctx, deny) in (documents(any_statement()), need(), context())
            .prop_flat_map(|(p, n, c)| {
                let deny = matching_deny(&n, &c);
                (Just(p), Just(n), Just(c), deny)
            }),
        at in any::<Index>(),
    ) {
        let policies = with_statement(&policies, deny, at);
        prop_assert_eq!(evaluate(&policies, &need, &ctx), Verdict::ExplicitDeny);
    }

    /// A trust policy's `Deny` for anyone wins too.
    #[test]
    fn a_matching_deny_in_a_trust_policy_wins(
        statements in prop::collection::vec(any_statement(), 0..4),
        who in requester(),
        action in action(),
        ctx in context(),
        principal in prop::sample::select(vec![json!("*"), json!({"AWS": "*"}), json!({"AWS": ["x", "*"]})]),
        at in any::<Index>(),
    ) {
        let mut statements = statements;
        let deny = json!({"Effect": "Deny", "Principal": principal, "Action": action});
        statements.insert(at.index(statements.len() + 1), deny);
        let trust = json!({"Statement": statements});
        prop_assert_eq!(trusts(&trust, &who, &action, &ctx), Verdict::ExplicitDeny);
    }

    /// Adding a statement never lifts an explicit deny and never takes
    /// an allow away; adding an `Allow` never denies.
    #[test]
    fn adding_a_statement_is_monotone(
        policies in documents(any_statement()),
        extra in any_statement(),
        need in need(),
        ctx in context(),
        at in any::<Index>(),
    ) {
        let before = evaluate(&policies, &need, &ctx);
        let after = evaluate(&with_statement(&policies, extra.clone(), at), &need, &ctx);
        match before {
            Verdict::ExplicitDeny => prop_assert_eq!(after, Verdict::ExplicitDeny),
            Verdict::Allow => prop_assert_ne!(after, Verdict::NoAllow),
            Verdict::NoAllow => {}
        }
        if extra["Effect"] == "Allow" {
            prop_assert_eq!(after == Verdict::ExplicitDeny, before == Verdict::ExplicitDeny);
        }
    }

    /// Documents with no statements allow nothing.
    #[test]
    fn no_statements_allow_nothing(
        policies in documents(any_statement()),
        emptied in prop::sample::select(vec![json!([]), Value::Null, json!("Allow"), json!(1)]),
        need in need(),
        ctx in context(),
        who in requester(),
    ) {
        let emptied: Vec<Value> = policies
            .iter()
            .map(|doc| {
                let mut doc = doc.clone();
                if let Some(fields) = doc.as_object_mut() {
                    fields.insert("Statement".into(), emptied.clone());
                }
                doc
            })
            .collect();
        prop_assert_eq!(evaluate(&emptied, &need, &ctx), Verdict::NoAllow);
        prop_assert_eq!(evaluate(&[], &need, &ctx), Verdict::NoAllow);
        for doc in &emptied {
            prop_assert_eq!(trusts(doc, &who, &need.action, &ctx), Verdict::NoAllow);
        }
    }

    /// The verdict depends on the statements, not on their order or on
    /// how they are grouped into documents.
    #[test]
    fn order_and_grouping_do_not_matter(
        (policies, shuffled) in documents(any_statement()).prop_flat_map(|p| {
            let all: Vec<Value> = p.iter().flat_map(statements_of).collect();
            (Just(p), Just(all).prop_shuffle())
        }),
        sizes in prop::collection::vec(1usize..4, 1..4),
        need in need(),
        ctx in context(),
        who in requester(),
    ) {
        let verdict = evaluate(&policies, &need, &ctx);
        prop_assert_eq!(evaluate(&regroup(shuffled.clone(), &sizes), &need, &ctx), verdict);
        let one = json!({"Statement": shuffled});
        prop_assert_eq!(evaluate(std::slice::from_ref(&one), &need, &ctx), verdict);
        let all: Vec<Value> = policies.iter().flat_map(statements_of).collect();
        let trust = |statements: Vec<Value>| trusts(&json!({"Statement": statements}), &who, &need.action, &ctx);
        prop_assert_eq!(trust(one["Statement"].as_array().unwrap().clone()), trust(all));
    }

    /// An operator the sandbox does not know never widens access: an
    /// `Allow` naming one changes nothing.
    #[test]
    fn unknown_operators_never_allow(
        policies in documents(any_statement()),
        allow in well_formed_statement(),
        unknown in pick(UNKNOWN_OPERATORS),
        need in need(),
        ctx in context(),
        at in any::<Index>(),
    ) {
        let mut allow = allow;
        allow["Effect"] = json!("Allow");
        let mut cond = allow["Condition"].as_object().cloned().unwrap_or_default();
        cond.insert(unknown, json!({"aws:RequestedRegion": ["eu-west-1"]}));
        allow["Condition"] = Value::Object(cond);
        prop_assert_eq!(
            evaluate(&with_statement(&policies, allow, at), &need, &ctx),
            evaluate(&policies, &need, &ctx)
        );
    }

    /// On a key with one value or none, an operator and its negation
    /// disagree; an `…IfExists` form is the operator when the key is
    /// present and holds when it is not.
    #[test]
    fn negations_and_if_exists_are_consistent(
        pair in prop::sample::select(vec![
            ("StringEquals", "StringNotEquals"),
            ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"),
            ("StringLike", "StringNotLike"),
            ("ArnEquals", "ArnNotEquals"),
            ("ArnLike", "ArnNotLike"),
            ("NumericEquals", "NumericNotEquals"),
            ("DateEquals", "DateNotEquals"),
        ]),
        key in pick(KEYS),
        value in prop::option::of(prop_oneof![4 => pick(VALUES), 1 => ".{0,6}"]),
        wanted in condition_value(),
        need in need(),
    ) {
        let ctx = match &value {
            Some(v) => Context::default().with(&key, [v.clone()]),
            None => Context::default(),
        };
        let allowed = |op: &str| {
            let doc = json!({"Statement": {
                "Effect": "Allow", "Action": "*", "Resource": "*",
                "Condition": {op: {key.clone(): wanted.clone()}},
            }});
            evaluate(&[doc], &need, &ctx) == Verdict::Allow
        };
        let (positive, negative) = pair;
        prop_assert_ne!(allowed(positive), allowed(negative));
        for op in [positive, negative] {
            let if_exists = allowed(&format!("{op}IfExists"));
            prop_assert_eq!(if_exists, value.is_none() || allowed(op));
        }
    }
}

/// Found by `a_matching_deny_always_wins`: a `Deny` whose resource
/// pattern had a `?` for a non-ASCII character did not apply.
#[test]
fn a_deny_with_a_question_mark_applies_to_non_ascii_resources() {
    let policies = [json!({"Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/?/?"},
    ]})];
    let need = Need::new("s3:GetObject", "arn:aws:s3:::site/é/ß");
    assert_eq!(
        evaluate(&policies, &need, &Context::default()),
        Verdict::ExplicitDeny
    );
}
