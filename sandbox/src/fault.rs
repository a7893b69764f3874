//! Crash points, a test hook: `WILDRYDES_SANDBOX_FAULT=<point>[:<n>]` in a
//! served process's environment makes it SIGKILL itself the `n`th time
//! (default the first) it passes `<point>`, exactly as `sandbox kill` would
//! kill it, but at a place no signal from outside can hit reliably (between
//! two commits of one replication batch, say). Tests arm one process by
//! prefixing its serve command with `env WILDRYDES_SANDBOX_FAULT=…`.
//!
//! It is not a user feature: the launcher removes the variable from the
//! environment it hands its processes, processes read it once when they
//! start serving ([`arm_from_env`]), and unarmed, a [`point`] is one atomic
//! load. A value naming no known point stops the process from starting
//! instead of being ignored, so a misspelt test fails at once rather than
//! waiting for a crash that never comes.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms a crash point.
pub const ENV: &str = "WILDRYDES_SANDBOX_FAULT";

/// Every crash point the code passes, by name.
pub const POINTS: &[&str] = &[
    // A replication batch's intents are committed; no engine write yet.
    "replication-after-intent",
    // One replicated write is in the engine; its bookkeeping is not.
    "replication-after-engine-write",
];

struct Armed {
    point: &'static str,
    nth: u64,
    hits: AtomicU64,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

/// A `WILDRYDES_SANDBOX_FAULT` value that names no crash point.
#[derive(Debug, thiserror::Error)]
#[error(
    "{ENV}={value:?} is not <point>[:<n>] with n >= 1 and point one of: {}",
    POINTS.join(", ")
)]
pub struct BadFault {
    pub value: String,
}

/// Reads [`ENV`] once; later calls change nothing. Returns the armed point
/// and count, if any.
pub fn arm_from_env() -> Result<Option<(&'static str, u64)>, BadFault> {
    let value = std::env::var_os(ENV).map(|v| v.to_string_lossy().into_owned());
    let parsed = match value.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse(text).ok_or_else(|| BadFault {
            value: text.to_owned(),
        })?),
    };
    let armed = ARMED.get_or_init(|| {
        parsed.map(|(point, nth)| Armed {
            point,
            nth,
            hits: AtomicU64::new(0),
        })
    });
    Ok(armed.as_ref().map(|a| (a.point, a.nth)))
}

fn parse(text: &str) -> Option<(&'static str, u64)> {
    let (name, nth) = match text.split_once(':') {
        Some((name, n)) => (name, n.parse::<u64>().ok().filter(|n| *n >= 1)?),
        None => (text, 1),
    };
    POINTS.iter().find(|p| **p == name).map(|p| (*p, nth))
}

/// Passes the crash point `name`: kills this process if it is the armed
/// point and this is the armed pass.
pub fn point(name: &'static str) {
    debug_assert!(POINTS.contains(&name), "unknown crash point {name}");
    let Some(Some(armed)) = ARMED.get() else {
        return;
    };
    if armed.point != name || armed.hits.fetch_add(1, Ordering::SeqCst) + 1 != armed.nth {
        return;
    }
    // The log is this process's stderr: the test reads this line to know
    // the process died here and not elsewhere.
    eprintln!("fault {name} #{}: killing this process", armed.nth);
    // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, so nothing
    // of this process runs after it (no destructors, no exit handlers).
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // Not reached: a signal sent to oneself is delivered before kill returns.
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_name_a_known_point_and_a_positive_count() {
        assert_eq!(
            parse("replication-after-intent"),
            Some(("replication-after-intent", 1))
        );
        assert_eq!(
            parse("replication-after-engine-write:3"),
            Some(("replication-after-engine-write", 3))
        );
        for bad in [
            "replication-after-engine-write:0",
            "replication-after-engine-write:x",
            "after-engine-write",
            "replication-after-intent:",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_unarmed_point_does_nothing() {
        // Tests never set the variable: ARMED is unset or None here.
        point("replication-after-intent");
        point("replication-after-engine-write");
    }
}
