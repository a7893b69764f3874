//! Playbooks: declarative drills in `playbooks/*.toml`. A file is parsed
//! into raw structs (unknown keys refused) and validated into a typed
//! [`Plan`]; every error names the file, the key and why, so an operator
//! can fix a playbook without reading this code.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{Config, Target};

/// The faults a playbook can inject (DESIGN.md, "Drills").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The primary function's `/health` answers 503 (`WILDRYDES_FAULT`).
    HealthEndpointFailure,
    /// Reserved concurrency 0: every invocation throttled.
    LambdaThrottle,
    /// The Route 53 health check `Inverted`.
    HealthCheckInversion,
    /// A resource policy denying the replication service.
    ReplicationPause,
    /// Throttle and replication pause together.
    RegionImpairment,
    /// The whole region process frozen or killed (sandbox only).
    RegionBlackout,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::HealthEndpointFailure,
        FaultKind::LambdaThrottle,
        FaultKind::HealthCheckInversion,
        FaultKind::ReplicationPause,
        FaultKind::RegionImpairment,
        FaultKind::RegionBlackout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::HealthEndpointFailure => "health-endpoint-failure",
            FaultKind::LambdaThrottle => "lambda-throttle",
            FaultKind::HealthCheckInversion => "health-check-inversion",
            FaultKind::ReplicationPause => "replication-pause",
            FaultKind::RegionImpairment => "region-impairment",
            FaultKind::RegionBlackout => "region-blackout",
        }
    }

    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the target can inject it: AWS offers no way to stop a
    /// whole region, so `region-blackout` is the sandbox's alone.
    pub fn supported_on(self, target: Target) -> bool {
        !(self == FaultKind::RegionBlackout && target == Target::Aws)
    }

    /// Whether the fault makes Route 53 fail the API over.
    pub fn fails_over(self) -> bool {
        !matches!(self, FaultKind::ReplicationPause)
    }
}

/// How `region-blackout` stops the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlackoutMode {
    /// SIGSTOP: connections hang (a network partition, seen from outside).
    Freeze,
    /// SIGKILL: connections are refused; revived with its data.
    Kill,
}

/// A validated playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    pub fault: FaultKind,
    /// The region the fault hits.
    pub region: String,
    pub blackout_mode: BlackoutMode,
    /// The longest the fault stays in place when recovery never comes.
    pub max_duration: Duration,
    /// How long to hold the fault after recovery (to see steady failover).
    pub hold: Duration,
    pub max_replication_lag: Duration,
    pub user_interval: Duration,
    pub writer_interval: Duration,
    pub reader_interval: Duration,
    pub request_timeout: Duration,
    pub steady_timeout: Duration,
    pub failback_timeout: Duration,
    pub settle_timeout: Duration,
    pub rto: Duration,
    pub rpo: Duration,
    pub failback: bool,
    pub expect_failover: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    name: Option<String>,
    description: Option<String>,
    fault: RawFault,
    #[serde(default)]
    steady_state: RawSteady,
    #[serde(default)]
    probes: RawProbes,
    #[serde(default)]
    timeouts: RawTimeouts,
    #[serde(default)]
    objectives: RawObjectives,
    #[serde(default)]
    failback: RawFailback,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: String,
    region: Option<String>,
    max_duration: Option<String>,
    hold: Option<String>,
    mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSteady {
    max_replication_lag: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbes {
    user_interval: Option<String>,
    writer_interval: Option<String>,
    reader_interval: Option<String>,
    request_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    steady_state: Option<String>,
    failback: Option<String>,
    settle: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObjectives {
    rto: Option<String>,
    rpo: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFailback {
    measure: Option<bool>,
}

/// Why a playbook cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    #[error("cannot read playbook {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("playbook {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("playbook {path}: {key} {value:?} is not valid: {reason}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "no playbook {name:?}: `wildrydes failover-test --list` shows the ones in {dir}, or give a path to a .toml file"
    )]
    NotFound { name: String, dir: PathBuf },
}

/// The folder playbooks are looked up in: `WILDRYDES_PLAYBOOKS`, else
/// `./playbooks` when present, else the ones shipped next to this crate.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("WILDRYDES_PLAYBOOKS") {
        return PathBuf::from(d);
    }
    let local = PathBuf::from("playbooks");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks")
}

/// The default drill: the workshop's.
pub const DEFAULT: &str = "health-endpoint-failure";

/// Finds a playbook by name (in [`dir`]) or path.
pub fn locate(name_or_path: &str) -> Result<PathBuf, PlaybookError> {
    let as_path = Path::new(name_or_path);
    if name_or_path.ends_with(".toml") || name_or_path.contains('/') {
        return Ok(as_path.to_path_buf());
    }
    let dir = dir();
    let path = dir.join(format!("{name_or_path}.toml"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(PlaybookError::NotFound {
            name: name_or_path.to_owned(),
            dir,
        })
    }
}

/// Every playbook in [`dir`], sorted by file name.
pub fn all() -> Result<Vec<PathBuf>, PlaybookError> {
    let dir = dir();
    let entries = std::fs::read_dir(&dir).map_err(|source| PlaybookError::Read {
        path: dir.clone(),
        source,
    })?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    out.sort();
    Ok(out)
}

/// Reads and validates the playbook at `path` for `config`.
pub fn load(path: &Path, config: &Config) -> Result<Plan, PlaybookError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlaybookError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path, config)
}

/// Validates playbook `text` (read from `path`) for `config`.
pub fn parse(text: &str, path: &Path, config: &Config) -> Result<Plan, PlaybookError> {
    let raw: RawPlaybook = toml::from_str(text).map_err(|e| PlaybookError::Parse {
        path: path.to_path_buf(),
        message: match e.span() {
            Some(span) => format!(
                "{} (line {})",
                e.message(),
                text[..span.start.min(text.len())].matches('\n').count() + 1
            ),
            None => e.message().to_owned(),
        },
    })?;
    let invalid = |key: &'static str, value: &str, reason: &str| PlaybookError::Invalid {
        path: path.to_path_buf(),
        key,
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let duration = |key: &'static str,
                    value: &Option<String>,
                    default: Duration,
                    min: Duration,
                    max: Duration|
     -> Result<Duration, PlaybookError> {
        let Some(v) = value else { return Ok(default) };
        let d = humantime::parse_duration(v.trim()).map_err(|e| {
            invalid(
                key,
                v,
                &format!("{e}; write e.g. \"500ms\", \"2s\", \"5m\""),
            )
        })?;
        if d < min || d > max {
            return Err(invalid(
                key,
                v,
                &format!(
                    "must be between {} and {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            ));
        }
        Ok(d)
    };
    let ms = Duration::from_millis;
    let secs = Duration::from_secs;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("playbook")
        .to_owned();
    let name = raw.name.unwrap_or(stem);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(
            "name",
            &name,
            "use letters, digits, '-' and '_' (it names report files)",
        ));
    }
    let fault = FaultKind::parse(&raw.fault.kind).ok_or_else(|| {
        let kinds: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
        invalid(
            "fault.kind",
            &raw.fault.kind,
            &format!("expected one of {}", kinds.join(", ")),
        )
    })?;
    if !fault.supported_on(config.target) {
        return Err(invalid(
            "fault.kind",
            fault.as_str(),
            "AWS has no way to stop a whole region; run it on the sandbox (`--target sandbox`), or use region-impairment on AWS",
        ));
    }
    let region = match raw.fault.region.as_deref() {
        None | Some("primary") => config.primary_region.clone(),
        Some("secondary") => config.secondary_region.clone(),
        Some(r) if r == config.primary_region || r == config.secondary_region => r.to_owned(),
        Some(r) => {
            return Err(invalid(
                "fault.region",
                r,
                &format!(
                    "expected primary, secondary, {} or {}",
                    config.primary_region, config.secondary_region
                ),
            ));
        }
    };
    let blackout_mode = match (fault, raw.fault.mode.as_deref()) {
        (FaultKind::RegionBlackout, None | Some("freeze")) => BlackoutMode::Freeze,
        (FaultKind::RegionBlackout, Some("kill")) => BlackoutMode::Kill,
        (FaultKind::RegionBlackout, Some(m)) => {
            return Err(invalid("fault.mode", m, "expected freeze or kill"));
        }
        (_, Some(m)) => {
            return Err(invalid(
                "fault.mode",
                m,
                "only region-blackout takes a mode",
            ));
        }
        (_, None) => BlackoutMode::Freeze,
    };
    let expect_failover = fault.fails_over() && region == config.primary_region;
    let probes = &raw.probes;
    let user_interval = duration(
        "probes.user_interval",
        &probes.user_interval,
        ms(250),
        ms(50),
        secs(60),
    )?;
    let writer_interval = duration(
        "probes.writer_interval",
        &probes.writer_interval,
        ms(250),
        ms(50),
        secs(60),
    )?;
    let reader_interval = duration(
        "probes.reader_interval",
        &probes.reader_interval,
        ms(100),
        ms(20),
        secs(60),
    )?;
    let request_timeout = duration(
        "probes.request_timeout",
        &probes.request_timeout,
        secs(2),
        ms(100),
        secs(60),
    )?;
    Ok(Plan {
        name,
        path: path.to_path_buf(),
        description: raw.description.unwrap_or_default(),
        fault,
        region,
        blackout_mode,
        max_duration: duration(
            "fault.max_duration",
            &raw.fault.max_duration,
            secs(10 * 60),
            secs(1),
            secs(3600),
        )?,
        hold: duration("fault.hold", &raw.fault.hold, secs(3), ms(0), secs(3600))?,
        max_replication_lag: duration(
            "steady_state.max_replication_lag",
            &raw.steady_state.max_replication_lag,
            secs(5),
            ms(10),
            secs(3600),
        )?,
        user_interval,
        writer_interval,
        reader_interval,
        request_timeout,
        steady_timeout: duration(
            "timeouts.steady_state",
            &raw.timeouts.steady_state,
            secs(60),
            secs(1),
            secs(3600),
        )?,
        failback_timeout: duration(
            "timeouts.failback",
            &raw.timeouts.failback,
            secs(10 * 60),
            secs(1),
            secs(3600),
        )?,
        settle_timeout: duration(
            "timeouts.settle",
            &raw.timeouts.settle,
            secs(120),
            secs(1),
            secs(3600),
        )?,
        rto: duration(
            "objectives.rto",
            &raw.objectives.rto,
            config.rto,
            ms(1),
            secs(24 * 3600),
        )?,
        rpo: duration(
            "objectives.rpo",
            &raw.objectives.rpo,
            config.rpo,
            ms(1),
            secs(24 * 3600),
        )?,
        failback: raw.failback.measure.unwrap_or(true),
        expect_failover,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(target: Target) -> Config {
        Config::load(None, target, |name| {
            (name == "WILDRYDES_DOMAIN").then(|| "example.com".to_owned())
        })
        .unwrap()
    }

    fn plan(text: &str) -> Result<Plan, PlaybookError> {
        parse(
            text,
            Path::new("playbooks/x.toml"),
            &config(Target::Sandbox),
        )
    }

    #[test]
    fn minimal_playbook_takes_defaults() {
        let p = plan("[fault]\nkind = \"health-endpoint-failure\"\n").unwrap();
        assert_eq!(p.name, "x");
        assert_eq!(p.region, "eu-west-1");
        assert!(p.expect_failover);
        assert_eq!(p.rto, Duration::from_secs(900));
        assert_eq!(p.request_timeout, Duration::from_secs(2));
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let e = plan("[fault]\nkind = \"meteor\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("playbooks/x.toml") && e.contains("fault.kind"),
            "{e}"
        );
        let e = plan("[fault]\nkind = \"lambda-throttle\"\nmax_duration = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fault.max_duration"), "{e}");
        let e = plan("[fault]\nkind = \"lambda-throttle\"\nregion = \"us-east-2\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fault.region"), "{e}");
        let e = plan("[fault]\nkind = \"lambda-throttle\"\nmode = \"kill\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fault.mode"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let e = plan("[fault]\nkind = \"lambda-throttle\"\n\n[probes]\nuser_intervall = \"1s\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("user_intervall") && e.contains("line 5"), "{e}");
        let e = plan("").unwrap_err().to_string();
        assert!(e.contains("fault"), "{e}");
    }

    #[test]
    fn blackout_is_sandbox_only() {
        let text = "[fault]\nkind = \"region-blackout\"\nmode = \"kill\"\n";
        let p = plan(text).unwrap();
        assert_eq!(p.blackout_mode, BlackoutMode::Kill);
        let e = parse(text, Path::new("b.toml"), &config(Target::Aws))
            .unwrap_err()
            .to_string();
        assert!(e.contains("AWS has no way"), "{e}");
    }

    #[test]
    fn replication_pause_expects_no_failover() {
        let p = plan("[fault]\nkind = \"replication-pause\"\nregion = \"secondary\"\n").unwrap();
        assert!(!p.expect_failover);
        assert_eq!(p.region, "ap-southeast-1");
    }

    #[test]
    fn shipped_playbooks_are_valid() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playbooks");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                load(&path, &config(Target::Sandbox)).unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 6, "{seen} playbooks");
    }
}
