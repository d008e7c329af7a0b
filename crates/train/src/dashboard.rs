//! How a run shows its progress: `bar` (an indicatif progress bar with the latest losses),
//! `tui` (burn-train's dashboard: a plot per metric, the evaluation's PSNR / SSIM next to the
//! training curves, progress and ETA; `q` then `s` stops the run cleanly, as Ctrl-C does), or
//! `none`. `metrics.jsonl` is the record in every case.
//!
//! burn-train's `Learner` is not used: it drives one model with one optimizer, while a
//! cosmotok step updates the tokenizer and, in the adversarial stage, a discriminator with its
//! own optimizer, with schedules, a non-finite guard and roll-backs of its own. What is reused is
//! the dashboard itself ([`TuiMetricsRendererWrapper`], with burn-train's metric definitions
//! and its [`Interrupter`]); what is not: the Learner, its checkpointer (cosmotok's checkpoints
//! hold the GAN state and the data position) and its file loggers (`metrics.jsonl` instead).
//! burn-train's text renderer prints progress snapshots only, so off a terminal `tui` prints
//! plain lines, one per log step.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::Arc;

use burn::train::Interrupter;
use burn::train::logger::TrainingProgressLogger;
use burn::train::metric::{
    MetricAttributes, MetricDefinition, MetricEntry, MetricId, NumericAttributes, NumericEntry,
    SerializedEntry,
};
use burn::train::renderer::tui::TuiMetricsRendererWrapper;
use burn::train::renderer::{MetricState, MetricsRenderer, MetricsRendererTraining};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::eval::EvalReport;
use crate::logger::{progress_bar, summary};

/// The `--dashboard` choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dashboard {
    /// A progress bar on stderr (hidden when stderr is not a terminal).
    #[default]
    Bar,
    /// burn-train's terminal dashboard; plain lines when stdout is not a terminal.
    Tui,
    /// Nothing but `metrics.jsonl` (and the log).
    None,
}

impl std::str::FromStr for Dashboard {
    type Err = String;
    fn from_str(s: &str) -> Result<Dashboard, String> {
        match s {
            "bar" => Ok(Dashboard::Bar),
            "tui" => Ok(Dashboard::Tui),
            "none" => Ok(Dashboard::None),
            _ => Err(format!("dashboard `{s}`: expected tui, bar or none")),
        }
    }
}

/// Whether the TUI can take over this process's terminal.
pub fn tui_available() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// The progress display of one [`crate::Trainer::run`].
pub(crate) enum View {
    Bar(ProgressBar),
    Tui(Box<Tui>),
    Lines,
    Hidden,
}

impl View {
    /// The view for `dashboard`, training steps `start..total`.
    pub(crate) fn new(dashboard: Dashboard, total: u64, start: u64) -> View {
        match dashboard {
            Dashboard::Bar => View::Bar(progress_bar(total, start, false)),
            Dashboard::Tui if tui_available() => View::Tui(Box::new(Tui::new(total, start))),
            Dashboard::Tui => View::Lines,
            Dashboard::None => View::Hidden,
        }
    }

    /// Step `step` is done.
    pub(crate) fn step(&mut self, step: u64) {
        match self {
            View::Bar(bar) => bar.set_position(step),
            View::Tui(t) => t.step(step),
            View::Lines | View::Hidden => {}
        }
    }

    /// A log step's training metrics.
    pub(crate) fn train(&mut self, step: u64, fields: &[(String, f64)]) {
        match self {
            View::Bar(bar) => bar.set_message(summary(fields)),
            View::Tui(t) => {
                for (k, v) in fields {
                    t.push(k, *v, false);
                }
            }
            View::Lines => eprintln!("step {step}: {}", summary(fields)),
            View::Hidden => {}
        }
    }

    /// An evaluation's results.
    pub(crate) fn eval(&mut self, step: u64, report: &EvalReport) {
        match self {
            View::Bar(bar) => bar.println(format!("step {step}: {}", report.summary())),
            View::Tui(t) => {
                for (k, v) in report.fields() {
                    if k != "clips" {
                        t.push(&k, v, true);
                    }
                }
            }
            View::Lines => eprintln!("step {step}: {}", report.summary()),
            View::Hidden => {}
        }
    }

    /// Whether the user asked the dashboard to stop the run.
    pub(crate) fn should_stop(&self) -> bool {
        matches!(self, View::Tui(t) if t.stop.should_stop())
    }

    /// Closes the display (the TUI restores the terminal).
    pub(crate) fn finish(self) {
        match self {
            View::Bar(bar) => bar.finish_and_clear(),
            View::Tui(t) => t.finish(),
            View::Lines | View::Hidden => {}
        }
    }
}

/// burn-train's TUI renderer, fed by the training loop.
pub(crate) struct Tui {
    renderer: TuiMetricsRendererWrapper,
    registered: HashSet<String>,
    stop: Interrupter,
}

impl Tui {
    fn new(total: u64, start: u64) -> Tui {
        let stop = Interrupter::new();
        let mut renderer = TuiMetricsRendererWrapper::new(stop.clone(), None);
        // One "epoch" of `total` steps (burn-train counts epochs from 1).
        renderer.start(1, 1, Some(total as usize), Some("cosmotok"));
        renderer.start_split("train", total as usize);
        renderer.update_split(start as usize);
        Tui {
            renderer,
            registered: HashSet::new(),
            stop,
        }
    }

    fn step(&mut self, step: u64) {
        self.renderer.update_split(step as usize);
        self.renderer.log_event_training("Iteration".into());
    }

    /// One value of metric `name`: a training curve, or (`valid`) an evaluation point.
    fn push(&mut self, name: &str, v: f64, valid: bool) {
        let id = MetricId::new(Arc::new(name.to_string()));
        // burn-train's renderer needs a metric's definition before its first value.
        if self.registered.insert(name.to_string()) {
            let higher_is_better =
                matches!(name, "psnr" | "ssim" | "samples_per_s") || name.starts_with("codebook");
            let unit = match name {
                "psnr" => Some("dB".to_string()),
                n if n.ends_with("_mib") => Some("MiB".to_string()),
                _ => None,
            };
            self.renderer.register_metric(MetricDefinition {
                metric_id: id.clone(),
                name: Arc::new(name.to_string()),
                description: None,
                attributes: MetricAttributes::Numeric(NumericAttributes {
                    unit,
                    higher_is_better,
                }),
            });
        }
        let text = if name == "lr" {
            format!("{v:.3e}")
        } else {
            format!("{v:.4}")
        };
        let state = MetricState::Numeric(
            MetricEntry::new(id, SerializedEntry::new(text, v.to_string())),
            Some(NumericEntry::Value(v)),
        );
        if valid {
            self.renderer.update_valid(state);
        } else {
            self.renderer.update_train(state);
        }
    }

    fn finish(mut self) {
        self.renderer.end_split();
        self.renderer.end();
        let _ = self.renderer.on_train_end(None);
        // Dropping the renderer joins its thread and restores the terminal.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_flag() {
        assert_eq!("tui".parse::<Dashboard>().unwrap(), Dashboard::Tui);
        assert_eq!("none".parse::<Dashboard>().unwrap(), Dashboard::None);
        assert!(
            "fancy"
                .parse::<Dashboard>()
                .unwrap_err()
                .contains("tui, bar or none")
        );
    }
}
