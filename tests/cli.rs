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
fn failover_test_without_a_sandbox_says_so_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = wildrydes(dir.path(), &["failover-test"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("sandbox is not running"),
        "{}",
        text(&out)
    );
    assert!(
        !dir.path().join(".wildrydes/sandbox").exists(),
        "a drill must never start the sandbox"
    );
}

#[test]
fn failover_test_lists_playbooks_and_dry_runs_without_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = wildrydes(dir.path(), &["failover-test", "--list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for name in [
        "health-endpoint-failure",
        "lambda-throttle",
        "health-check-inversion",
        "replication-pause",
        "region-impairment",
        "region-blackout",
    ] {
        assert!(
            text(&out).contains(name),
            "--list lacks {name}: {}",
            text(&out)
        );
    }
    let out = wildrydes(
        dir.path(),
        &[
            "failover-test",
            "--dry-run",
            "--playbook",
            "region-blackout",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = text(&out);
    assert!(
        plan.contains("region-blackout in eu-west-1") && plan.contains("nothing was touched"),
        "{plan}"
    );
    assert!(
        !dir.path().join(".wildrydes").exists(),
        "a dry run writes nothing"
    );
    // AWS cannot stop a region: refused before anything runs.
    let aws = tempfile::tempdir().unwrap();
    std::fs::write(
        aws.path().join("wildrydes.toml"),
        "domain = \"example.com\"\n",
    )
    .unwrap();
    let out = wildrydes(
        aws.path(),
        &[
            "--target",
            "aws",
            "failover-test",
            "--dry-run",
            "--playbook",
            "region-blackout",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("fault.kind"), "{}", text(&out));
}

#[test]
fn bad_playbooks_exit_2_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "typo.toml",
            "[fault]\nkind = \"lambda-throttle\"\n\n[probes]\nuser_intervall = \"1s\"\n",
            &["user_intervall", "line 5"],
        ),
        ("empty.toml", "", &["missing field `fault`"]),
        (
            "truncated.toml",
            "[fault]\nkind = \"lambda-thr",
            &["not valid TOML"],
        ),
        (
            "contradictory.toml",
            "[fault]\nkind = \"lambda-throttle\"\nmode = \"kill\"\n",
            &["fault.mode", "only region-blackout"],
        ),
        (
            "duration.toml",
            "[fault]\nkind = \"health-check-inversion\"\nmax_duration = \"0s\"\n",
            &["fault.max_duration"],
        ),
    ];
    for (file, body, wants) in cases {
        std::fs::write(dir.path().join(file), body).unwrap();
        let out = wildrydes(
            dir.path(),
            &[
                "failover-test",
                "--dry-run",
                "--playbook",
                &format!("./{file}"),
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{file}: {}", text(&out));
        let msg = text(&out);
        assert!(
            msg.contains(file),
            "{file}: message does not name the file: {msg}"
        );
        for want in wants {
            assert!(msg.contains(want), "{file}: no {want:?} in {msg}");
        }
    }
    let out = wildrydes(
        dir.path(),
        &["failover-test", "--playbook", "no-such-drill"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--list"), "{}", text(&out));
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

/// Every command refuses a config it cannot use before touching anything:
/// exit 2, and the message names the file and the key (or the line).
#[test]
fn every_command_refuses_a_bad_config_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Option<&str>, &[&str]); 4] = [
        ("missing.toml", None, &["missing.toml", "cannot read"]),
        (
            "truncated.toml",
            Some("stack = \"wild\n[regions]\nprimary = "),
            &["truncated.toml", "line 1"],
        ),
        (
            "typo.toml",
            Some("stack = \"drill\"\n[regions]\nprimray = \"eu-west-1\"\n"),
            &["typo.toml", "primray", "line 3"],
        ),
        (
            "contradictory.toml",
            Some("[regions]\nprimary = \"eu-west-1\"\nsecondary = \"eu-west-1\"\n"),
            &["contradictory.toml", "regions.secondary"],
        ),
    ];
    let commands: [&[&str]; 6] = [
        &["up"],
        &["down"],
        &["status"],
        &["failover-test", "--dry-run"],
        &["config"],
        &["sandbox", "start"],
    ];
    for (file, body, wants) in cases {
        if let Some(body) = body {
            std::fs::write(dir.path().join(file), body).unwrap();
        }
        for command in commands {
            let args = [&["--config", file][..], command].concat();
            let out = wildrydes(dir.path(), &args);
            let msg = text(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {msg}");
            for want in wants {
                assert!(msg.contains(want), "{args:?}: no {want:?} in {msg}");
            }
        }
    }
    assert!(
        !dir.path().join(".wildrydes").exists(),
        "a refused command touched nothing"
    );
}
