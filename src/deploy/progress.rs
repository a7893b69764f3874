//! Progress while a plan runs: one indicatif bar per region (and one for
//! the global resources) on a terminal, plain lines otherwise, on stderr so
//! stdout stays the result.

use std::collections::BTreeMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Reporter, Step, StepReport};

/// Shows nothing (`-q`, and `status`'s drift check).
pub struct Silent;

impl Reporter for Silent {
    fn planned(&self, _: &[Step]) {}
    fn started(&self, _: &Step) {}
    fn finished(&self, _: &StepReport) {}
}

/// One line per finished step, with its time.
pub struct Lines;

/// What a step did, in words (or why it did not run).
pub fn outcome(r: &StepReport) -> String {
    match (&r.action, &r.error, &r.blocked_by) {
        (Some(a), _, _) => match &r.detail {
            Some(d) => format!("{} ({d})", a.as_str()),
            None => a.as_str().to_owned(),
        },
        (_, Some(e), _) => format!("FAILED: {e}"),
        (_, _, Some(dep)) => format!("not run: {dep} failed"),
        _ => "?".to_owned(),
    }
}

impl Reporter for Lines {
    fn planned(&self, _: &[Step]) {}
    fn started(&self, _: &Step) {}
    fn finished(&self, r: &StepReport) {
        eprintln!(
            "{:<15} {:<28} {} ({:.1} s)",
            r.scope,
            r.resource,
            outcome(r),
            r.seconds
        );
    }
}

/// A bar per scope: steps done of steps planned, and the latest news.
#[derive(Default)]
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Reporter for Bars {
    fn planned(&self, steps: &[Step]) {
        self.multi.set_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix:>15} [{bar:20}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> ");
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        let mut order: Vec<&str> = Vec::new();
        for s in steps {
            if !counts.contains_key(s.scope.as_str()) {
                order.push(&s.scope);
            }
            *counts.entry(&s.scope).or_default() += 1;
        }
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        for scope in order {
            let bar = self.multi.add(ProgressBar::new(counts[scope]));
            bar.set_style(style.clone());
            bar.set_prefix(scope.to_owned());
            bars.insert(scope.to_owned(), bar);
        }
    }

    fn started(&self, step: &Step) {
        if let Some(bar) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&step.scope)
        {
            bar.set_message(format!("{}…", step.resource));
        }
    }

    fn finished(&self, r: &StepReport) {
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = bars.get(&r.scope) {
            bar.inc(1);
            bar.set_message(format!("{}: {}", r.resource, outcome(r)));
            if bar.position() == bar.length().unwrap_or(0) {
                bar.finish();
            }
        }
    }
}
