//! Policy `Condition` blocks: every operator's every key must hold. Keys
//! missing from the request fail positive operators and pass negated ones
//! (`…IfExists` passes either way); `ForAnyValue:` needs one request value
//! to match, `ForAllValues:` every one (vacuously true when there are
//! none), as AWS documents.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Context;

/// How an operator compares one request value with one policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(std::cmp::Ordering, bool),
    Date(std::cmp::Ordering, bool),
    Bool,
}

/// A parsed operator: the comparison, whether it is negated, its set
/// prefix and whether it is an `…IfExists` form.
#[derive(Debug, Clone, Copy)]
struct Operator {
    compare: Compare,
    negated: bool,
    set: Set,
    if_exists: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Single,
    AnyValue,
    AllValues,
}

fn parse(op: &str) -> Option<Result<Operator, ()>> {
    use std::cmp::Ordering::*;
    let (set, rest) = if let Some(r) = op.strip_prefix("ForAnyValue:") {
        (Set::AnyValue, r)
    } else if let Some(r) = op.strip_prefix("ForAllValues:") {
        (Set::AllValues, r)
    } else {
        (Set::Single, op)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    if base == "Null" {
        // Handled by the caller: it tests presence, not values.
        return None;
    }
    let (compare, negated) = match base {
        "StringEquals" | "ArnEquals" => (Compare::StringEquals, false),
        "StringNotEquals" | "ArnNotEquals" => (Compare::StringEquals, true),
        "StringEqualsIgnoreCase" => (Compare::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Compare::StringEqualsIgnoreCase, true),
        "StringLike" | "ArnLike" => (Compare::StringLike, false),
        "StringNotLike" | "ArnNotLike" => (Compare::StringLike, true),
        "NumericEquals" => (Compare::Numeric(Equal, true), false),
        "NumericNotEquals" => (Compare::Numeric(Equal, true), true),
        "NumericLessThan" => (Compare::Numeric(Less, false), false),
        "NumericLessThanEquals" => (Compare::Numeric(Less, true), false),
        "NumericGreaterThan" => (Compare::Numeric(Greater, false), false),
        "NumericGreaterThanEquals" => (Compare::Numeric(Greater, true), false),
        "DateEquals" => (Compare::Date(Equal, true), false),
        "DateNotEquals" => (Compare::Date(Equal, true), true),
        "DateLessThan" => (Compare::Date(Less, false), false),
        "DateLessThanEquals" => (Compare::Date(Less, true), false),
        "DateGreaterThan" => (Compare::Date(Greater, false), false),
        "DateGreaterThanEquals" => (Compare::Date(Greater, true), false),
        "Bool" => (Compare::Bool, false),
        _ => return Some(Err(())),
    };
    Some(Ok(Operator {
        compare,
        negated,
        set,
        if_exists,
    }))
}

/// Whether the sandbox evaluates operator `op`.
pub(super) fn known(op: &str) -> bool {
    !matches!(parse(op), Some(Err(())))
}

/// Whether every condition holds; `None` when one names an operator the
/// sandbox does not evaluate.
pub(super) fn all_hold(conditions: &Value, ctx: &Context) -> Option<bool> {
    let Value::Object(ops) = conditions else {
        return Some(true);
    };
    let mut all = true;
    for (op, pairs) in ops {
        let Value::Object(pairs) = pairs else {
            return None;
        };
        for (key, wanted) in pairs {
            let wanted = values(wanted);
            let actual = ctx.get(key);
            let holds = match parse(op) {
                None => null_holds(&wanted, actual),
                Some(Err(())) => return None,
                Some(Ok(operator)) => holds(operator, &wanted, actual),
            };
            all &= holds;
        }
    }
    Some(all)
}

/// A condition value: a string, number or boolean, or a list of them.
fn values(v: &Value) -> Vec<String> {
    let one = |x: &Value| match x {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Value::Array(a) => a.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// `Null`: `"true"` holds when the key is absent, `"false"` when present.
fn null_holds(wanted: &[String], actual: Option<&[String]>) -> bool {
    let absent = actual.is_none_or(<[String]>::is_empty);
    wanted.iter().any(|w| (w == "true") == absent)
}

fn holds(op: Operator, wanted: &[String], actual: Option<&[String]>) -> bool {
    let actual = match actual {
        Some(a) if !a.is_empty() => a,
        // A missing key: set operators are vacuous (AllValues) or false
        // (AnyValue); otherwise negated operators and IfExists pass.
        _ => {
            return match op.set {
                Set::AllValues => true,
                Set::AnyValue => false,
                Set::Single => op.if_exists || op.negated,
            };
        }
    };
    // One request value against the policy's values: positive operators
    // need one match, negated ones none.
    let value_holds = |value: &str| {
        let matched = wanted.iter().any(|w| compare(op.compare, value, w));
        matched != op.negated
    };
    match op.set {
        Set::AllValues => actual.iter().all(|v| value_holds(v)),
        Set::AnyValue | Set::Single => actual.iter().any(|v| value_holds(v)),
    }
}

fn compare(how: Compare, actual: &str, wanted: &str) -> bool {
    match how {
        Compare::StringEquals => actual == wanted,
        Compare::StringEqualsIgnoreCase => actual.eq_ignore_ascii_case(wanted),
        Compare::StringLike => crate::glob::matches(wanted, actual),
        Compare::Bool => actual.eq_ignore_ascii_case(wanted),
        Compare::Numeric(order, or_equal) => match (actual.parse::<f64>(), wanted.parse::<f64>()) {
            (Ok(a), Ok(w)) => a
                .partial_cmp(&w)
                .is_some_and(|o| ordered(o, order, or_equal)),
            _ => false,
        },
        Compare::Date(order, or_equal) => match (date(actual), date(wanted)) {
            (Some(a), Some(w)) => ordered(a.cmp(&w), order, or_equal),
            _ => false,
        },
    }
}

/// `got` against the operator's ordering: `Equal` with `or_equal` is
/// equality; `Less`/`Greater` optionally admit equality.
fn ordered(got: std::cmp::Ordering, want: std::cmp::Ordering, or_equal: bool) -> bool {
    got == want || (or_equal && got == std::cmp::Ordering::Equal)
}

/// An RFC 3339 time or epoch seconds.
fn date(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        s.parse::<i64>()
            .ok()
            .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
    })
}
