//! What a command prints, decided once: the [`Printer`] knows whether the
//! run is quiet, normal, verbose or JSON, and every command's output goes
//! through it (results on stdout, notes and progress on stderr), so no
//! command checks `-q` or `--json` itself. Tables are made here too, to fit
//! the terminal.

use std::fmt::Display;
use std::io::IsTerminal;

use comfy_table::{ContentArrangement, Table};

use crate::cli::GlobalArgs;
use crate::deploy::Reporter;
use crate::deploy::progress;

/// How much a command says, and in what form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printer {
    /// `-q`: results only, no notes or progress.
    Quiet,
    /// Results, notes and progress (bars on a terminal).
    Normal,
    /// `-v`: as normal, progress as one line per step with its time.
    Verbose,
    /// `--json`: one JSON document on stdout; progress on stderr unless quiet.
    Json { quiet: bool },
}

impl Printer {
    /// The printer the global flags and a command's `--json` ask for.
    pub fn new(global: &GlobalArgs, json: bool) -> Printer {
        match (json, global.quiet, global.verbose) {
            (true, quiet, _) => Printer::Json { quiet },
            (false, true, _) => Printer::Quiet,
            (false, false, 0) => Printer::Normal,
            (false, false, _) => Printer::Verbose,
        }
    }

    /// Whether the result is JSON.
    pub fn json(self) -> bool {
        matches!(self, Printer::Json { .. })
    }

    fn quiet(self) -> bool {
        matches!(self, Printer::Quiet | Printer::Json { quiet: true })
    }

    /// A line of the human-readable result (stdout; nothing in JSON mode).
    pub fn result(self, text: impl Display) {
        if !self.json() {
            println!("{text}");
        }
    }

    /// Human-readable text with its own line ends (stdout; not in JSON mode).
    pub fn result_raw(self, text: impl Display) {
        if !self.json() {
            print!("{text}");
        }
    }

    /// The JSON result (stdout; only in JSON mode).
    pub fn document(self, doc: &impl serde::Serialize) -> anyhow::Result<()> {
        if self.json() {
            println!("{}", serde_json::to_string_pretty(doc)?);
        }
        Ok(())
    }

    /// A note about what is happening (stderr; not when quiet or JSON).
    pub fn note(self, text: impl Display) {
        if matches!(self, Printer::Normal | Printer::Verbose) {
            eprintln!("{text}");
        }
    }

    /// A warning or a refusal the user must see (stderr; even when quiet).
    pub fn warn(self, text: impl Display) {
        eprintln!("{text}");
    }

    /// How a plan's progress shows: nothing when quiet, bars on a
    /// terminal, else (or verbose) a line per step.
    pub fn progress(self) -> Box<dyn Reporter> {
        if self.quiet() {
            Box::new(progress::Silent)
        } else if self != Printer::Verbose && std::io::stderr().is_terminal() {
            Box::new(progress::Bars::default())
        } else {
            Box::new(progress::Lines)
        }
    }
}

/// A table with `header`, arranged to fit the terminal's width when
/// stdout is one (piped output keeps every cell whole).
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(header.to_vec());
    t
}

/// Each ARN in a comma-separated id list cut to its resource part
/// (`certificate/…` of an ACM ARN), which is what a person reads; other
/// ids unchanged. JSON keeps the whole ARN.
pub fn short_id(ids: &str) -> String {
    ids.split(", ")
        .map(|id| match id.strip_prefix("arn:") {
            Some(_) => id.rsplit(':').next().unwrap_or(id),
            None => id,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_keep_the_resource_part_of_arns() {
        assert_eq!(
            short_id("arn:aws:acm:eu-west-1:123456789012:certificate/abc-123"),
            "certificate/abc-123"
        );
        assert_eq!(short_id("abc123"), "abc123");
        assert_eq!(short_id("arn:a:b:c:d:e/1, arn:a:b:c:d:e/2"), "e/1, e/2");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a longer text", 6), "a lon…");
    }
}
