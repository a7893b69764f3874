//! The real `wildrydes` binary: its help, its settings, its exit codes.

use std::process::{Command, Output};

fn wildrydes(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wildrydes"))
        .args(args)
        .current_dir(dir)
        .env_remove("WILDRYDES_CONFIG")
        .env_remove("WILDRYDES_TARGET")
        .env_remove("RUST_LOG")
        .output()
        .expect("run wildrydes")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help_lists_every_subcommand_and_global_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = wildrydes(dir.path(), &["--help"]);
    assert!(out.status.success());
    let help = text(&out);
    for word in [
        "up",
        "down",
        "status",
        "failover-test",
        "sandbox",
        "config",
        "--target",
        "--config",
        "--verbose",
        "--quiet",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    for sub in ["up", "down", "status", "failover-test", "sandbox", "config"] {
        let out = wildrydes(dir.path(), &[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help: {}", text(&out));
    }
}

#[test]
fn failover_test_is_not_built_yet_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = wildrydes(dir.path(), &["failover-test"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains("not built yet") && msg.contains("nothing was done"),
        "{msg}"
    );
}

#[test]
fn config_reads_the_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wildrydes.toml"),
        "stack = \"drill\"\n[health_check]\nfailure_threshold = 2\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wildrydes"))
        .args(["config", "--json"])
        .current_dir(dir.path())
        .env_remove("WILDRYDES_CONFIG")
        .env_remove("WILDRYDES_TARGET")
        .env("WILDRYDES_DNS_TTL", "7")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schemaVersion"], 1);
    let c = &doc["config"];
    assert_eq!(c["stack"], "drill");
    assert_eq!(c["target"], "sandbox");
    assert_eq!(c["health_check_failure_threshold"], 2);
    assert_eq!(c["dns_ttl_seconds"], 7);
    assert_eq!(c["rto"], 900.0);

    let out = wildrydes(dir.path(), &["config"]);
    assert!(out.status.success());
    assert!(text(&out).contains("api.wildrydes.test"), "{}", text(&out));
}

#[test]
fn bad_settings_are_usage_errors_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = wildrydes(dir.path(), &["--config", "missing.toml", "config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("missing.toml"), "{}", text(&out));

    std::fs::write(
        dir.path().join("fast.toml"),
        "domain = \"rides.example.com\"\n[health_check]\ninterval_seconds = 1\n",
    )
    .unwrap();
    let out = wildrydes(
        dir.path(),
        &["--config", "fast.toml", "--target", "aws", "config"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("10 (fast) or 30"), "{}", text(&out));
    // The same file is fine on the sandbox.
    let out = wildrydes(dir.path(), &["--config", "fast.toml", "config"]);
    assert!(out.status.success(), "{}", text(&out));

    let out = wildrydes(dir.path(), &["--target", "gcp", "config"]);
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2 too");
}
