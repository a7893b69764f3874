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

/// Validation of one file: every error names it and the key.
struct Check<'a> {
    path: &'a Path,
}

impl Check<'_> {
    fn invalid(&self, key: &'static str, value: &str, reason: &str) -> PlaybookError {
        PlaybookError::Invalid {
            path: self.path.to_path_buf(),
            key,
            value: value.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// `value` as a duration within `min..=max`, or `default` when unset.
    fn duration(
        &self,
        key: &'static str,
        value: &Option<String>,
        default: Duration,
        (min, max): (Duration, Duration),
    ) -> Result<Duration, PlaybookError> {
        let Some(v) = value else { return Ok(default) };
        let d = humantime::parse_duration(v.trim()).map_err(|e| {
            self.invalid(
                key,
                v,
                &format!("{e}; write e.g. \"500ms\", \"2s\", \"5m\""),
            )
        })?;
        if d < min || d > max {
            return Err(self.invalid(
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
    }

    fn name(&self, raw: Option<String>) -> Result<String, PlaybookError> {
        let stem = self.path.file_stem().and_then(|s| s.to_str());
        let name = raw.unwrap_or_else(|| stem.unwrap_or("playbook").to_owned());
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(self.invalid(
                "name",
                &name,
                "use letters, digits, '-' and '_' (it names report files)",
            ));
        }
        Ok(name)
    }

    /// The fault's kind, region and blackout mode.
    fn fault(
        &self,
        raw: &RawFault,
        config: &Config,
    ) -> Result<(FaultKind, String, BlackoutMode), PlaybookError> {
        let fault = FaultKind::parse(&raw.kind).ok_or_else(|| {
            let kinds: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
            self.invalid(
                "fault.kind",
                &raw.kind,
                &format!("expected one of {}", kinds.join(", ")),
            )
        })?;
        if !fault.supported_on(config.target) {
            return Err(self.invalid(
                "fault.kind",
                fault.as_str(),
                "AWS has no way to stop a whole region; run it on the sandbox (`--target sandbox`), or use region-impairment on AWS",
            ));
        }
        let (p, s) = (&config.primary_region, &config.secondary_region);
        let region = match raw.region.as_deref() {
            None | Some("primary") => p.clone(),
            Some("secondary") => s.clone(),
            Some(r) if r == p || r == s => r.to_owned(),
            Some(r) => {
                let why = format!("expected primary, secondary, {p} or {s}");
                return Err(self.invalid("fault.region", r, &why));
            }
        };
        let mode = match (fault, raw.mode.as_deref()) {
            (FaultKind::RegionBlackout, None | Some("freeze")) => BlackoutMode::Freeze,
            (FaultKind::RegionBlackout, Some("kill")) => BlackoutMode::Kill,
            (FaultKind::RegionBlackout, Some(m)) => {
                return Err(self.invalid("fault.mode", m, "expected freeze or kill"));
            }
            (_, Some(m)) => {
                return Err(self.invalid("fault.mode", m, "only region-blackout takes a mode"));
            }
            (_, None) => BlackoutMode::Freeze,
        };
        Ok((fault, region, mode))
    }
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
    let check = Check { path };
    let name = check.name(raw.name)?;
    let (fault, region, blackout_mode) = check.fault(&raw.fault, config)?;
    let ms = Duration::from_millis;
    let secs = Duration::from_secs;
    let probe_range = (ms(50), secs(60));
    let long = (secs(1), secs(3600));
    let objective = (ms(1), secs(24 * 3600));
    let (p, t, o) = (&raw.probes, &raw.timeouts, &raw.objectives);
    Ok(Plan {
        name,
        path: path.to_path_buf(),
        description: raw.description.unwrap_or_default(),
        expect_failover: fault.fails_over() && region == config.primary_region,
        fault,
        region,
        blackout_mode,
        max_duration: check.duration(
            "fault.max_duration",
            &raw.fault.max_duration,
            secs(10 * 60),
            long,
        )?,
        hold: check.duration("fault.hold", &raw.fault.hold, secs(3), (ms(0), secs(3600)))?,
        max_replication_lag: check.duration(
            "steady_state.max_replication_lag",
            &raw.steady_state.max_replication_lag,
            secs(5),
            (ms(10), secs(3600)),
        )?,
        user_interval: check.duration(
            "probes.user_interval",
            &p.user_interval,
            ms(250),
            probe_range,
        )?,
        writer_interval: check.duration(
            "probes.writer_interval",
            &p.writer_interval,
            ms(250),
            probe_range,
        )?,
        reader_interval: check.duration(
            "probes.reader_interval",
            &p.reader_interval,
            ms(100),
            (ms(20), secs(60)),
        )?,
        request_timeout: check.duration(
            "probes.request_timeout",
            &p.request_timeout,
            secs(2),
            (ms(100), secs(60)),
        )?,
        steady_timeout: check.duration("timeouts.steady_state", &t.steady_state, secs(60), long)?,
        failback_timeout: check.duration("timeouts.failback", &t.failback, secs(600), long)?,
        settle_timeout: check.duration("timeouts.settle", &t.settle, secs(120), long)?,
        rto: check.duration("objectives.rto", &o.rto, config.rto, objective)?,
        rpo: check.duration("objectives.rpo", &o.rpo, config.rpo, objective)?,
        failback: raw.failback.measure.unwrap_or(true),
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
