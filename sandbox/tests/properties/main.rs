//! Property tests for the sandbox's hostile-input surface (issue 15): what
//! any local process or web page can send reaches these parsers and the
//! policy evaluator before anything else, so none of them may panic, hang
//! or answer wrongly on any input.
//!
//! - [`sigv4`]: `Authorization` headers, random and mutated from genuine
//!   ones, arbitrary `X-Amz-Date`s and bodies never panic and never pass
//!   unless the signature is genuine; requests signed by the official
//!   `aws-sigv4` crate verify, and any flipped byte fails them; every
//!   protocol encodes every failure well-formed.
//! - [`xml`]: arbitrary bytes and generated documents (attributes,
//!   entities, character references, CDATA, comments, deep nesting,
//!   entity bombs) parse without panicking, within [`MAX_DEPTH`], into no
//!   more than the document held, and generated trees parse back to
//!   themselves.
//! - [`bodies`]: awsJson bodies (`Input::json`), awsQuery forms
//!   (`QueryRequest::parse`), the door's routing (`door::identify`) and
//!   what each request needs (`authz::actions::needs`) on arbitrary input.
//! - [`policy`]: the IAM evaluator (`validate`, `evaluate`, `trusts`) on
//!   arbitrary and grammar-generated documents, with metamorphic
//!   properties (a matching `Deny` wins, an `Allow` never lifts a deny, no
//!   statements allow nothing, order does not matter, unknown operators
//!   never widen access, negated operators are complements).
//! - [`glob`]: the wildcard matcher agrees with a reference
//!   implementation and stays linear on `*a*a*…*b` patterns.
//!
//! Time: no property measures it. Generators instead build inputs on
//! which an exponential algorithm (a backtracking matcher, an expanding
//! entity resolver) would run for hours and a recursive one (a parser, a
//! drop) would overflow its stack, so a regression hangs or crashes the
//! test instead of passing it.
//!
//! Reproducing a failure: proptest shrinks it and prints the minimal
//! input, and saves the failing seed as a `cc …` line in
//! `<module>.proptest-regressions` next to the module's file (it prints
//! the line too, for failures seen in CI: add it to that file). Every
//! later run replays the saved seeds first, so
//! `cargo test --workspace --test properties <name>` reproduces it
//! (`PROPTEST_RNG_SEED=<n>` fixes the seed of a fresh run); commit the file to
//! keep it as a regression case. `PROPTEST_CASES=<n>` runs every property
//! `n` times instead of its bounded default (e.g. for a longer local or
//! nightly run).
//!
//! [`MAX_DEPTH`]: wildrydes_sandbox::xml::MAX_DEPTH

mod bodies;
mod glob;
mod policy;
mod sigv4;
mod xml;

use proptest::test_runner::{Config, FailurePersistence, FileFailurePersistence};

/// The configuration every property runs with: `cases` cases (or
/// `PROPTEST_CASES`), failures saved next to the property's source
/// (unless `PROPTEST_DISABLE_FAILURE_PERSISTENCE` is set).
pub fn config(cases: u32) -> Config {
    let defaults = Config::default();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let persistence: Option<Box<dyn FailurePersistence>> = defaults
        .failure_persistence
        .as_ref()
        .map(|_| Box::new(FileFailurePersistence::WithSource("proptest-regressions")) as _);
    Config {
        cases,
        failure_persistence: persistence,
        ..defaults
    }
}

/// Any JSON value, nested a few levels: what a hostile body or policy
/// document can hold.
pub fn any_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        // NaN and infinities become null.
        any::<f64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The text of a response the door encoded (bodies are buffered, so
/// ready at once).
pub fn body_text(resp: axum::response::Response) -> String {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let future = axum::body::to_bytes(resp.into_body(), usize::MAX);
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(bytes)) => String::from_utf8(bytes.to_vec()).expect("UTF-8 bodies"),
        other => panic!("a buffered body is ready at once: {other:?}"),
    }
}
