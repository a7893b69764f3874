//! Fault hooks for failover drills. `WILDRYDES_FAULT` is read on every
//! invocation so that a drill can inject and lift a fault with one
//! `UpdateFunctionConfiguration` call, on AWS and on the sandbox alike.
//!
//! | value          | effect                                              |
//! |----------------|-----------------------------------------------------|
//! | `none` / unset | normal service                                      |
//! | `health-5xx`   | only `GET /health` answers 503                      |
//! | `all-5xx`      | every route answers 503                             |
//! | `latency:<ms>` | every request is delayed by `<ms>` (at most 60 000) |

use std::time::Duration;

/// Name of the environment variable holding the fault.
pub const FAULT_ENV: &str = "WILDRYDES_FAULT";

/// Longest injectable latency: past this a request would outlive API
/// Gateway's 29 s integration timeout by far anyway.
pub const MAX_LATENCY_MS: u64 = 60_000;

/// A fault the drill engine can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Health5xx,
    All5xx,
    Latency(Duration),
}

impl Fault {
    /// Parses the variable's value; `Err` carries a message for the log.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        match value {
            "" | "none" => Ok(Fault::None),
            "health-5xx" => Ok(Fault::Health5xx),
            "all-5xx" => Ok(Fault::All5xx),
            _ => {
                let Some(ms) = value.strip_prefix("latency:") else {
                    return Err(format!(
                        "unknown {FAULT_ENV} value {value:?}: expected none, health-5xx, all-5xx or latency:<ms>"
                    ));
                };
                match ms.parse::<u64>() {
                    Ok(ms) if ms <= MAX_LATENCY_MS => Ok(Fault::Latency(Duration::from_millis(ms))),
                    _ => Err(format!(
                        "invalid {FAULT_ENV} latency {ms:?}: expected whole milliseconds 0..={MAX_LATENCY_MS}"
                    )),
                }
            }
        }
    }

    /// The fault in force now. An invalid value is logged and ignored, so a
    /// typo in a drill never takes the service down by accident.
    pub fn from_env() -> Self {
        match std::env::var(FAULT_ENV) {
            Err(_) => Fault::None,
            Ok(value) => Fault::parse(&value).unwrap_or_else(|message| {
                tracing::warn!("{message}; serving normally");
                Fault::None
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_value() {
        assert_eq!(Fault::parse("none"), Ok(Fault::None));
        assert_eq!(Fault::parse(""), Ok(Fault::None));
        assert_eq!(Fault::parse("health-5xx"), Ok(Fault::Health5xx));
        assert_eq!(Fault::parse(" all-5xx "), Ok(Fault::All5xx));
        assert_eq!(
            Fault::parse("latency:250"),
            Ok(Fault::Latency(Duration::from_millis(250)))
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(Fault::parse("latency:").is_err());
        assert!(Fault::parse("latency:-1").is_err());
        assert!(Fault::parse("latency:60001").is_err());
        assert!(Fault::parse("explode").is_err());
    }
}
