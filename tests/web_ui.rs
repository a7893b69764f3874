//! The web UI (`web/`): its JavaScript unit tests (SigV4 against AWS's
//! published vectors, the region-following client, login and renewal, the
//! ticket rules) and an end-to-end run in headless Chromium driven by
//! Playwright (`web/test/e2e/ui.mjs`) against a real sandbox after `up`:
//! log in through the Facebook stand-in, file and list tickets, two users
//! kept apart, markup shown as text, then the primary frozen with the page
//! open (and a new user logging in through the secondary) and thawed again. Needs Node.js and Debian's chromium (`.ci/run`
//! installs them); the npm packages come from `web/package-lock.json`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::TestSandbox;
use serde_json::Value;

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// `npm ci` in web/ unless node_modules already holds the lockfile's
/// packages (npm writes its own copy of the lockfile there).
fn npm_packages() {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let web = web_dir();
    let lock = std::fs::read_to_string(web.join("package-lock.json")).unwrap();
    let installed =
        std::fs::read_to_string(web.join("node_modules/.package-lock.json")).unwrap_or_default();
    let locked_versions = |text: &str| -> Vec<(String, String)> {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let mut out: Vec<(String, String)> = v["packages"]
            .as_object()
            .map(|p| {
                p.iter()
                    .filter(|(k, _)| !k.is_empty())
                    .map(|(k, v)| (k.clone(), v["version"].as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    };
    if locked_versions(&lock) != locked_versions(&installed) {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&web)
            .output()
            .expect("npm (Node.js) must be installed to test the web UI; .ci/run installs it");
        assert!(
            out.status.success(),
            "npm ci in web/ failed: {}",
            common::text(&out)
        );
    }
    *done = true;
}

#[test]
fn web_unit_tests_pass() {
    npm_packages();
    let out = Command::new("npm")
        .args(["test", "--silent"])
        .current_dir(web_dir())
        .output()
        .expect("run npm test");
    let text = common::text(&out);
    assert!(out.status.success(), "web unit tests failed:\n{text}");
    // Every test ran and none failed (node's runner prints the counts).
    assert!(text.contains("# fail 0"), "{text}");
    let passed: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("# pass "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(passed >= 40, "only {passed} web unit tests passed:\n{text}");
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} is missing: the browser test needs Debian's chromium (apt-get install chromium; .ci/run installs it) or CHROMIUM=<path>",
        path.display()
    );
    path
}

#[test]
fn web_ui_works_in_a_browser_and_follows_a_failover() {
    npm_packages();
    let browser = chromium();
    let sb = TestSandbox::start();
    let up = common::up_json(&sb);
    let web_url = up["next"]["webUrl"].as_str().unwrap();

    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-ui");
    let out = Command::new("node")
        .arg(web_dir().join("test/e2e/ui.mjs"))
        .current_dir(web_dir())
        .env("WEB_URL", web_url)
        .env("WILDRYDES_BIN", env!("CARGO_BIN_EXE_wildrydes"))
        .env("WILDRYDES_CWD", sb.dir.path())
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", &browser)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "the browser test failed (screenshots in {}):\n{}",
        screenshots.display(),
        common::text(&out)
    );
    for page in [
        "1-login",
        "2-new-ticket-invalid",
        "3-ticket-detail",
        "4-my-tickets",
        "5-my-tickets-phone",
        "6-failed-over",
        "7-ticket-during-outage",
        "8-failed-back",
        "9-new-user-during-outage",
    ] {
        assert!(screenshots.join(format!("{page}.png")).exists(), "{page}");
    }
}
