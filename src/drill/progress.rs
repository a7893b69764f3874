//! Live progress while a drill runs, on stderr (stdout is the report's):
//! the phase, the time since the drill started, the region serving the
//! user probes and the failed requests so far. A spinner on a terminal,
//! plain lines otherwise (a phase change, then every 5 s).

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::probes::{Clock, Recorder};

pub struct Progress {
    enabled: bool,
    bar: Option<ProgressBar>,
    begun: Instant,
    phase: Arc<Mutex<String>>,
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Progress {
    /// `enabled` false (quiet, or JSON on a pipe) shows nothing.
    pub fn new(enabled: bool, title: &str) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(title.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if enabled && bar.is_none() {
            eprintln!("{title}");
        }
        Progress {
            enabled,
            bar,
            begun: Instant::now(),
            phase: Arc::new(Mutex::new(String::new())),
            ticker: Mutex::new(None),
        }
    }

    fn line(&self, text: &str) {
        if !self.enabled {
            return;
        }
        let at = self.begun.elapsed().as_secs_f64();
        match &self.bar {
            Some(bar) => bar.println(format!("[{at:7.1} s] {text}")),
            None => eprintln!("[{at:7.1} s] {text}"),
        }
    }

    pub fn phase(&self, name: &str) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = name.to_owned();
        self.line(&format!("phase: {name}"));
    }

    pub fn note(&self, text: &str) {
        self.line(text);
    }

    /// Keeps the status current from the recorder until [`finish`].
    pub fn watch(&self, recorder: Arc<Recorder>, clock: Clock) {
        if !self.enabled {
            return;
        }
        let bar = self.bar.clone();
        let phase = self.phase.clone();
        let task = tokio::spawn(async move {
            let mut last_line = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let status = format!(
                    "{} · {:.1} s · serving {} · {} requests failed",
                    phase.lock().unwrap_or_else(|p| p.into_inner()),
                    clock.now() / 1000.0,
                    recorder.serving().unwrap_or_else(|| "?".into()),
                    recorder.failed_requests()
                );
                match &bar {
                    Some(b) => b.set_message(status),
                    None if last_line.elapsed() >= Duration::from_secs(5) => {
                        last_line = Instant::now();
                        eprintln!("           {status}");
                    }
                    None => {}
                }
            }
        });
        *self.ticker.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    pub fn finish(&self) {
        if let Some(t) = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
