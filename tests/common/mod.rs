//! The CLI's test harness: the real `wildrydes` binary run in a temporary
//! directory, against a sandbox whose processes are the binary's own
//! `wildrydes sandbox serve` (see the shared harness, included by path
//! from the sandbox crate's tests).
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

#[path = "../../sandbox/tests/common/harness.rs"]
mod harness;
pub use harness::*;

/// How the launcher runs a sandbox process in these tests: the CLI's
/// hidden `sandbox serve`, as `wildrydes sandbox start` does.
pub fn serve_command() -> Vec<OsString> {
    vec![
        env!("CARGO_BIN_EXE_wildrydes").into(),
        "sandbox".into(),
        "serve".into(),
    ]
}

/// Runs the real binary in `cwd` with `args`.
pub fn wildrydes(cwd: &Path, args: &[&str]) -> Output {
    wildrydes_with(cwd, args, &[])
}

/// Runs the real binary in `cwd` with `args` and extra environment; none
/// of the caller's `WILDRYDES_*` settings leak in.
pub fn wildrydes_with(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wildrydes"));
    cmd.args(args).current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("WILDRYDES_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run wildrydes")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl TestSandbox {
    /// Runs the binary against this sandbox.
    pub fn cli(&self, args: &[&str]) -> Output {
        wildrydes(self.dir.path(), args)
    }

    /// Runs the binary against this sandbox with extra environment.
    pub fn cli_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        wildrydes_with(self.dir.path(), args, env)
    }
}

/// `up --json` with the ticket Lambda built for this run: the document.
pub fn up_json(sb: &TestSandbox) -> Value {
    let bootstrap = ticket_bootstrap();
    let out = sb.cli_with(
        &["up", "--json"],
        &[
            ("WILDRYDES_LAMBDA_BINARY", bootstrap.to_str().unwrap()),
            ("WILDRYDES_FACEBOOK_APP_ID", APP_ID),
        ],
    );
    assert!(out.status.success(), "up failed: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A test's random seed: `WILDRYDES_TEST_SEED` when set (to replay a
/// run), else the clock's nanoseconds. Tests print it.
pub fn test_seed() -> u64 {
    std::env::var("WILDRYDES_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}
