//! `quorate job run-local`: a job on this machine's sandboxes, no chain (DCP's `localExec`).

use std::{
    io::{IsTerminal, Write},
    process::ExitCode,
    time::{Duration, Instant},
};

use quorate_evaluator::sandbox::{ConsoleLevel, Event};
use quorate_primitives::TaskOutcome;

use super::{RunLocalArgs, count, result_line};
use crate::{
    cli::Args,
    job::local::{self, LocalConfig, LocalOutcome, LocalReport},
};

pub(super) fn run_local(args: &Args, run: &RunLocalArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let job = run.job.job()?;
    let local = LocalConfig {
        program: config.evaluator.program(),
        sandboxes: run.cores.unwrap_or_else(|| config.evaluator.sandboxes()).max(1),
        nice: i32::try_from(config.evaluator.nice).unwrap_or(19),
    };
    let tasks = job.task_count();
    let started = Instant::now();
    let mut progress = Progress::new(tasks);
    let outcomes = local::run(&job, &local, |report| progress.report(report))?;
    progress.finish();

    let mut text = String::new();
    for (index, outcome) in outcomes.iter().enumerate() {
        text.push_str(&result_line(index, outcome));
        text.push('\n');
    }
    match &run.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write the results to {}: {e}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }

    let errors = outcomes
        .iter()
        .filter(|o| matches!(o, LocalOutcome::Agreed(TaskOutcome::Error { .. })))
        .count();
    let failed = outcomes.iter().filter(|o| matches!(o, LocalOutcome::Failed { .. })).count();
    let mut err = std::io::stderr().lock();
    let results = tasks.saturating_sub(errors).saturating_sub(failed);
    writeln!(
        err,
        "{} in {:.2} s on {}: {}, {} of the work function, {failed} failed on this machine",
        count(tasks, "task"),
        started.elapsed().as_secs_f64(),
        count(local.sandboxes.min(tasks), "sandbox"),
        count(results, "result"),
        count(errors, "error"),
    )?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// What the user sees on stderr while the job runs: console lines as `[task i] …`, and on a
/// terminal one progress line.
struct Progress {
    tasks: usize,
    done: usize,
    terminal: bool,
    last_drawn: Option<Instant>,
}

impl Progress {
    fn new(tasks: usize) -> Self {
        Self { tasks, done: 0, terminal: std::io::stderr().is_terminal(), last_drawn: None }
    }

    fn report(&mut self, report: &LocalReport) {
        let mut err = std::io::stderr().lock();
        match report {
            LocalReport::Event { index, event: Event::Console { level, text } } => {
                let tag = match level {
                    ConsoleLevel::Log => "",
                    ConsoleLevel::Warn => " warn",
                    ConsoleLevel::Error => " error",
                };
                self.clear(&mut err);
                let index = u32::try_from(*index).unwrap_or(u32::MAX);
                for line in super::console_lines(index, tag, text) {
                    let _ = writeln!(err, "{line}");
                }
            }
            LocalReport::Event { .. } => {}
            LocalReport::Done { index, outcome, took } => {
                self.done = self.done.saturating_add(1);
                if let LocalOutcome::Failed { kind, message } = outcome {
                    self.clear(&mut err);
                    let _ = writeln!(
                        err,
                        "[task {index}] failed on this machine ({kind}) after {took:.1?}: {message}"
                    );
                }
            }
        }
        self.draw(&mut err);
    }

    fn clear(&self, err: &mut impl Write) {
        if self.terminal && self.last_drawn.is_some() {
            let _ = write!(err, "\r\x1b[2K");
        }
    }

    fn draw(&mut self, err: &mut impl Write) {
        let due = self.last_drawn.is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if !self.terminal || !(due || self.done == self.tasks) {
            return;
        }
        let width = 30usize;
        let filled = width.saturating_mul(self.done) / self.tasks.max(1);
        let bar = format!("{}{}", "=".repeat(filled), " ".repeat(width.saturating_sub(filled)));
        let _ = write!(err, "\r\x1b[2K[{bar}] {}/{} tasks", self.done, self.tasks);
        self.last_drawn = Some(Instant::now());
    }

    fn finish(&self) {
        if self.terminal && self.last_drawn.is_some() {
            let _ = writeln!(std::io::stderr().lock());
        }
    }
}
