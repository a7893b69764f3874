//! The stack's settings: `wildrydes.toml` (or `--config`), then
//! `WILDRYDES_*` environment overrides, then built-in defaults, validated
//! for the target they will drive. AWS restricts some values (health-check
//! intervals of 10 or 30 s, real domains) that the sandbox relaxes so drills
//! run fast; this is the one place that knows.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which AWS the commands drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The embedded two-region sandbox on loopback, started on demand.
    Sandbox,
    /// Real AWS, through the standard credential chain.
    Aws,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Sandbox => "sandbox",
            Target::Aws => "aws",
        })
    }
}

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "wildrydes.toml";

/// `wildrydes.toml` as written; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    stack: Option<String>,
    domain: Option<String>,
    facebook_app_id: Option<String>,
    #[serde(default)]
    regions: FileRegions,
    #[serde(default)]
    health_check: FileHealthCheck,
    #[serde(default)]
    dns: FileDns,
    #[serde(default)]
    objectives: FileObjectives,
    #[serde(default)]
    lambda: FileLambda,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLambda {
    architecture: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRegions {
    primary: Option<String>,
    secondary: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHealthCheck {
    interval_seconds: Option<u32>,
    failure_threshold: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDns {
    ttl_seconds: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileObjectives {
    rto: Option<String>,
    rpo: Option<String>,
}

/// The validated settings every command works from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    pub target: Target,
    /// Prefix of every resource name, and the tag value `down` checks.
    pub stack: String,
    /// The app's domain: the API is `api.<domain>`.
    pub domain: String,
    /// The Facebook app the login uses; required by `up` on AWS.
    pub facebook_app_id: Option<String>,
    pub primary_region: String,
    pub secondary_region: String,
    /// Route 53 health check `RequestInterval`.
    pub health_check_interval_seconds: u32,
    /// Route 53 health check `FailureThreshold`.
    pub health_check_failure_threshold: u32,
    /// TTL of the API's DNS records.
    pub dns_ttl_seconds: u32,
    /// Recovery time objective.
    #[serde(serialize_with = "as_seconds")]
    pub rto: Duration,
    /// Recovery point objective.
    #[serde(serialize_with = "as_seconds")]
    pub rpo: Duration,
    /// The Lambda's instruction set: `x86_64` or `arm64`.
    pub lambda_architecture: String,
    /// Where the settings came from: the file, or `None` for defaults only.
    pub source: Option<PathBuf>,
}

fn as_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A setting that cannot be used, with the fix in the message.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{setting} {value:?} is not valid: {reason}")]
    Invalid {
        setting: &'static str,
        value: String,
        reason: String,
    },
    /// A setting from the file that cannot be used: the message names
    /// the file as well as the key.
    #[error("{}: {error}", path.display())]
    InFile {
        path: PathBuf,
        error: Box<ConfigError>,
    },
}

fn invalid(
    setting: &'static str,
    value: impl fmt::Display,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        setting,
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl Config {
    /// Loads the settings for `target`: `explicit` (which must exist) or
    /// `./wildrydes.toml` when present, then `env` overrides.
    pub fn load(
        explicit: Option<&Path>,
        target: Target,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let file = match &path {
            None => FileConfig::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: p.clone(),
                    message: match e.span() {
                        Some(span) => format!(
                            "line {}: {}",
                            text[..span.start.min(text.len())].matches('\n').count() + 1,
                            e.message()
                        ),
                        None => e.message().to_owned(),
                    },
                })?
            }
        };
        let file_path = path.clone();
        Self::resolve(file, path, target, env).map_err(|error| match (error, file_path) {
            // A setting the file gave (an environment variable's error
            // names the variable instead).
            (error @ ConfigError::Invalid { setting, .. }, Some(path))
                if !setting.starts_with("WILDRYDES_") =>
            {
                ConfigError::InFile {
                    path,
                    error: Box::new(error),
                }
            }
            (error, _) => error,
        })
    }

    fn resolve(
        file: FileConfig,
        source: Option<PathBuf>,
        target: Target,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let number =
            |name: &'static str, file_value: Option<u32>| -> Result<Option<u32>, ConfigError> {
                match env(name) {
                    Some(v) => v
                        .trim()
                        .parse()
                        .map(Some)
                        .map_err(|_| invalid(name, &v, "expected a whole number")),
                    None => Ok(file_value),
                }
            };
        let duration = |name: &'static str,
                        setting: &'static str,
                        file_value: Option<String>,
                        default: Duration| {
            let (value, origin) = match (env(name), file_value) {
                (Some(v), _) => (v, name),
                (None, Some(v)) => (v, setting),
                (None, None) => return Ok(default),
            };
            parse_duration(&value).map_err(|reason| invalid(origin, &value, reason))
        };
        // The sandbox accepts what AWS would refuse, so drills there finish
        // in seconds; on AWS the defaults are Route 53's fastest allowed.
        let (interval_default, ttl_default) = match target {
            Target::Sandbox => (1, 1),
            Target::Aws => (10, 60),
        };
        let config = Config {
            target,
            stack: env("WILDRYDES_STACK")
                .or(file.stack)
                .unwrap_or_else(|| "wildrydes".into()),
            domain: env("WILDRYDES_DOMAIN")
                .or(file.domain)
                .unwrap_or_else(|| "wildrydes.test".into())
                .trim_end_matches('.')
                .to_ascii_lowercase(),
            facebook_app_id: env("WILDRYDES_FACEBOOK_APP_ID").or(file.facebook_app_id),
            primary_region: env("WILDRYDES_PRIMARY_REGION")
                .or(file.regions.primary)
                .unwrap_or_else(|| "eu-west-1".into()),
            secondary_region: env("WILDRYDES_SECONDARY_REGION")
                .or(file.regions.secondary)
                .unwrap_or_else(|| "ap-southeast-1".into()),
            health_check_interval_seconds: number(
                "WILDRYDES_HEALTH_CHECK_INTERVAL",
                file.health_check.interval_seconds,
            )?
            .unwrap_or(interval_default),
            health_check_failure_threshold: number(
                "WILDRYDES_HEALTH_CHECK_THRESHOLD",
                file.health_check.failure_threshold,
            )?
            .unwrap_or(3),
            dns_ttl_seconds: number("WILDRYDES_DNS_TTL", file.dns.ttl_seconds)?
                .unwrap_or(ttl_default),
            rto: duration(
                "WILDRYDES_RTO",
                "objectives.rto",
                file.objectives.rto,
                Duration::from_secs(15 * 60),
            )?,
            rpo: duration(
                "WILDRYDES_RPO",
                "objectives.rpo",
                file.objectives.rpo,
                Duration::from_secs(15 * 60),
            )?,
            lambda_architecture: env("WILDRYDES_LAMBDA_ARCHITECTURE")
                .or(file.lambda.architecture)
                .unwrap_or_else(|| "x86_64".into()),
            source,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.lambda_architecture.as_str(), "x86_64" | "arm64") {
            return Err(invalid(
                "lambda.architecture",
                &self.lambda_architecture,
                "expected x86_64 or arm64",
            ));
        }
        let stack_ok = (1..=24).contains(&self.stack.len())
            && self.stack.starts_with(|c: char| c.is_ascii_lowercase())
            && !self.stack.ends_with('-')
            && self
                .stack
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !stack_ok {
            return Err(invalid(
                "stack",
                &self.stack,
                "use 1 to 24 lowercase letters, digits and hyphens, starting with a letter (it names S3 buckets and tables)",
            ));
        }
        for (setting, region) in [
            ("regions.primary", &self.primary_region),
            ("regions.secondary", &self.secondary_region),
        ] {
            if !is_region_name(region) {
                return Err(invalid(
                    setting,
                    region,
                    "expected an AWS region name such as eu-west-1",
                ));
            }
        }
        if self.primary_region == self.secondary_region {
            return Err(invalid(
                "regions.secondary",
                &self.secondary_region,
                "the secondary region must differ from the primary",
            ));
        }
        if !is_domain_name(&self.domain) {
            return Err(invalid(
                "domain",
                &self.domain,
                "expected a DNS name such as example.com (letters, digits and hyphens in dot-separated labels)",
            ));
        }
        if let Some(id) = &self.facebook_app_id
            && (id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(invalid(
                "facebook_app_id",
                id,
                "a Facebook app id is all digits",
            ));
        }
        let threshold = self.health_check_failure_threshold;
        if !(1..=10).contains(&threshold) {
            return Err(invalid(
                "health_check.failure_threshold",
                threshold,
                "Route 53 allows 1 to 10",
            ));
        }
        let interval = self.health_check_interval_seconds;
        match self.target {
            Target::Aws if interval != 10 && interval != 30 => {
                return Err(invalid(
                    "health_check.interval_seconds",
                    interval,
                    "Route 53 allows 10 (fast) or 30 (standard) seconds on AWS",
                ));
            }
            Target::Sandbox if !(1..=30).contains(&interval) => {
                return Err(invalid(
                    "health_check.interval_seconds",
                    interval,
                    "the sandbox allows 1 to 30 seconds",
                ));
            }
            _ => {}
        }
        if self.target == Target::Aws
            && let Some(tld) = RESERVED_TLDS
                .iter()
                .find(|t| self.domain.ends_with(&format!(".{t}")))
        {
            return Err(invalid(
                "domain",
                &self.domain,
                format!(
                    ".{tld} is reserved and never resolves on the internet; on AWS use a domain you own whose hosted zone is in Route 53"
                ),
            ));
        }
        for (setting, value) in [("objectives.rto", self.rto), ("objectives.rpo", self.rpo)] {
            if value.is_zero() || value > Duration::from_secs(24 * 3600) {
                return Err(invalid(
                    setting,
                    humantime::format_duration(value),
                    "an objective must be more than 0 and at most 24h",
                ));
            }
        }
        Ok(())
    }

    /// The API's public name, `api.<domain>`.
    pub fn api_domain(&self) -> String {
        format!("api.{}", self.domain)
    }

    /// Both regions, primary first.
    pub fn regions(&self) -> [&str; 2] {
        [&self.primary_region, &self.secondary_region]
    }
}

/// Top-level domains reserved by RFC 2606 and RFC 6761/6762: fine on the
/// sandbox, never delegated on the internet.
const RESERVED_TLDS: &[&str] = &["test", "localhost", "invalid", "example", "local"];

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e}; write a duration such as 15m, 90s or 1h30m"))
}

fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

fn is_domain_name(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253 - "api.".len()
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(["setting", "value"]);
        let source = self.source.as_ref().map_or_else(
            || "built-in defaults".to_owned(),
            |p| p.display().to_string(),
        );
        let [primary, secondary] = self.regions();
        let rows: [(&str, String); 13] = [
            ("target", self.target.to_string()),
            ("source", source),
            ("stack", self.stack.clone()),
            ("domain", self.domain.clone()),
            ("API name", self.api_domain()),
            (
                "regions",
                format!("{primary} (primary), {secondary} (secondary)"),
            ),
            (
                "health check interval",
                format!("{} s", self.health_check_interval_seconds),
            ),
            (
                "health check failure threshold",
                self.health_check_failure_threshold.to_string(),
            ),
            ("DNS TTL", format!("{} s", self.dns_ttl_seconds)),
            ("Lambda architecture", self.lambda_architecture.clone()),
            (
                "RTO objective",
                humantime::format_duration(self.rto).to_string(),
            ),
            (
                "RPO objective",
                humantime::format_duration(self.rpo).to_string(),
            ),
            (
                "Facebook app id",
                self.facebook_app_id
                    .clone()
                    .unwrap_or_else(|| "(not set)".into()),
            ),
        ];
        for (k, v) in rows {
            table.add_row([k, v.as_str()]);
        }
        write!(f, "{table}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn from_toml(
        text: &str,
        target: Target,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "t.toml".into(),
            message: e.message().to_owned(),
        })?;
        Config::resolve(file, None, target, env)
    }

    #[test]
    fn defaults_suit_each_target() {
        let sandbox = from_toml("", Target::Sandbox, no_env).unwrap();
        assert_eq!(sandbox.stack, "wildrydes");
        assert_eq!(sandbox.regions(), ["eu-west-1", "ap-southeast-1"]);
        assert_eq!(sandbox.domain, "wildrydes.test");
        assert_eq!(sandbox.health_check_interval_seconds, 1);
        assert_eq!(sandbox.rto, Duration::from_secs(900));
        assert_eq!(sandbox.api_domain(), "api.wildrydes.test");
        // The default domain is a sandbox one: AWS refuses it with the fix.
        let err = from_toml("", Target::Aws, no_env).unwrap_err().to_string();
        assert!(err.contains("domain") && err.contains("reserved"), "{err}");
        let aws = from_toml("domain = \"rides.example.com\"", Target::Aws, no_env).unwrap();
        assert_eq!(aws.health_check_interval_seconds, 10);
        assert_eq!(aws.dns_ttl_seconds, 60);
    }

    #[test]
    fn file_values_then_env_overrides() {
        let text = r#"
            stack = "drill"
            domain = "Rides.Example.COM."
            [regions]
            primary = "us-east-1"
            secondary = "us-west-2"
            [health_check]
            interval_seconds = 30
            failure_threshold = 2
            [dns]
            ttl_seconds = 5
            [objectives]
            rto = "5m"
            rpo = "90s"
        "#;
        let c = from_toml(text, Target::Aws, no_env).unwrap();
        assert_eq!(c.domain, "rides.example.com");
        assert_eq!(
            (
                c.health_check_interval_seconds,
                c.health_check_failure_threshold
            ),
            (30, 2)
        );
        assert_eq!(c.rpo, Duration::from_secs(90));
        let env = |name: &str| match name {
            "WILDRYDES_HEALTH_CHECK_INTERVAL" => Some("10".into()),
            "WILDRYDES_RTO" => Some("2m".into()),
            "WILDRYDES_STACK" => Some("other".into()),
            _ => None,
        };
        let c = from_toml(text, Target::Aws, env).unwrap();
        assert_eq!(c.health_check_interval_seconds, 10);
        assert_eq!(c.rto, Duration::from_secs(120));
        assert_eq!(c.stack, "other");
    }

    #[test]
    fn aws_restricts_what_the_sandbox_allows() {
        let fast = "domain = \"rides.example.com\"\n[health_check]\ninterval_seconds = 1";
        assert!(from_toml(fast, Target::Sandbox, no_env).is_ok());
        let err = from_toml(fast, Target::Aws, no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("10 (fast) or 30"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (text, setting) in [
            ("stack = \"Bad_Name\"", "stack"),
            ("stack = \"\"", "stack"),
            ("domain = \"nodots\"", "domain"),
            ("domain = \"-bad-.example.com\"", "domain"),
            ("facebook_app_id = \"abc\"", "facebook_app_id"),
            ("[regions]\nprimary = \"mars-1\"", "regions.primary"),
            ("[regions]\nsecondary = \"eu-west-1\"", "regions.secondary"),
            (
                "[health_check]\nfailure_threshold = 11",
                "health_check.failure_threshold",
            ),
            (
                "[health_check]\ninterval_seconds = 0",
                "health_check.interval_seconds",
            ),
            ("[objectives]\nrto = \"soon\"", "objectives.rto"),
            ("[objectives]\nrpo = \"0s\"", "objectives.rpo"),
        ] {
            let err = from_toml(text, Target::Sandbox, no_env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(setting), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_env_numbers_are_refused() {
        let err = from_toml("stak = \"x\"", Target::Sandbox, no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
        let env = |name: &str| (name == "WILDRYDES_DNS_TTL").then(|| "soon".into());
        let err = from_toml("", Target::Sandbox, env).unwrap_err().to_string();
        assert!(err.contains("WILDRYDES_DNS_TTL"), "{err}");
    }
}
