//! What a client sees on stderr while its deal runs: with `--watch`, a bar for the job and one
//! per task in progress (fed by the work functions' `progress()` through the pool and by the
//! results verified against the chain), redrawn in place on a terminal, or a line per change
//! elsewhere, and the work functions' console lines above them (escaped, as the pool relays
//! them: one replica per task, capped); without it, a count of verified results now and then.

use std::{
    io::{IsTerminal, Write},
    time::{Duration, Instant},
};

use quorate_p2p::wire::{ConsoleLevel, TaskPhase};

use crate::client::JobEvent;

/// Tasks shown with a bar of their own, at most.
const TASK_BARS: usize = 8;
/// The shortest time between two redraws (or two count lines).
const REDRAW: Duration = Duration::from_millis(150);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Bars redrawn in place.
    Bars,
    /// A line per change.
    Lines,
    /// A count of verified results now and then.
    Counts,
}

/// The display of one deal's progress.
#[derive(Debug)]
pub(super) struct Watch {
    mode: Mode,
    tasks: Vec<(TaskPhase, u16)>,
    /// Each task's platform class, once the pool named it.
    platforms: Vec<Option<String>>,
    verified: usize,
    drawn_lines: usize,
    last_drawn: Option<Instant>,
}

impl Watch {
    /// A display for `tasks` tasks; `watch` asks for bars or lines.
    pub(super) fn new(tasks: u32, watch: bool) -> Self {
        let mode = match (watch, std::io::stderr().is_terminal()) {
            (true, true) => Mode::Bars,
            (true, false) => Mode::Lines,
            (false, _) => Mode::Counts,
        };
        Self {
            mode,
            tasks: vec![(TaskPhase::Waiting, 0); tasks as usize],
            platforms: vec![None; tasks as usize],
            verified: 0,
            drawn_lines: 0,
            last_drawn: None,
        }
    }

    /// Shows a task's change or result.
    pub(super) fn event(&mut self, event: &JobEvent) {
        let mut err = std::io::stderr().lock();
        match *event {
            JobEvent::Console { index, level, ref text } if self.mode != Mode::Counts => {
                let tag = match level {
                    ConsoleLevel::Log => "",
                    ConsoleLevel::Warn => " warn",
                    ConsoleLevel::Error => " error",
                };
                self.clear(&mut err);
                for line in super::console_lines(index, tag, text) {
                    let _ = writeln!(err, "{line}");
                }
            }
            JobEvent::ConsoleDropped { lines } if self.mode != Mode::Counts => {
                self.clear(&mut err);
                let _ = writeln!(
                    err,
                    "[{lines} console line{} dropped: the pool keeps a few per task]",
                    if lines == 1 { "" } else { "s" }
                );
            }
            JobEvent::Task { index, phase, per_mille, ref platform } => {
                let (Some(slot), Some(named)) =
                    (self.tasks.get_mut(index as usize), self.platforms.get_mut(index as usize))
                else {
                    return;
                };
                let before = *slot;
                *slot = (phase, per_mille);
                let new_platform = platform.is_some() && named != platform;
                if new_platform {
                    named.clone_from(platform);
                }
                // A line when the phase or the platform changes, or progress moves by a tenth.
                if self.mode == Mode::Lines
                    && (before.0 != phase || per_mille / 100 != before.1 / 100 || new_platform)
                {
                    let on = named
                        .as_deref()
                        .map(|p| format!(" on {}", crate::client::terminal_safe(p)))
                        .unwrap_or_default();
                    let _ = writeln!(
                        err,
                        "[task {index}] {} {}%{on}",
                        phase_name(phase),
                        per_mille / 10
                    );
                }
            }
            JobEvent::Result { index, .. } => {
                if let Some(slot) = self.tasks.get_mut(index as usize) {
                    *slot = (TaskPhase::Completed, 1000);
                }
                self.verified = self.verified.saturating_add(1);
                if self.mode == Mode::Lines {
                    let _ = writeln!(err, "[task {index}] result verified against the chain");
                }
            }
            JobEvent::SchedulerUnreachable => {
                self.clear(&mut err);
                let _ = writeln!(
                    err,
                    "The pool's scheduler is not answering; still trying until the deal's final deadline."
                );
            }
            _ => return,
        }
        let all = self.verified == self.tasks.len();
        let due = self.last_drawn.is_none_or(|t| t.elapsed() >= REDRAW);
        match self.mode {
            Mode::Bars if due || all || self.drawn_lines == 0 => self.draw(&mut err),
            Mode::Counts if (due && self.last_drawn.is_some()) || all => {
                let _ =
                    writeln!(err, "{} of {} results verified.", self.verified, self.tasks.len());
                self.last_drawn = Some(Instant::now());
            }
            Mode::Counts if self.last_drawn.is_none() => self.last_drawn = Some(Instant::now()),
            _ => {}
        }
    }

    /// Leaves the last drawing on screen.
    pub(super) fn finish(&mut self) {
        if self.mode == Mode::Bars {
            let mut err = std::io::stderr().lock();
            self.draw(&mut err);
            self.drawn_lines = 0;
        }
    }

    fn clear(&mut self, err: &mut impl Write) {
        if self.mode == Mode::Bars && self.drawn_lines > 0 {
            let _ = write!(err, "\x1b[{}F\x1b[J", self.drawn_lines);
            self.drawn_lines = 0;
        }
    }

    fn draw(&mut self, err: &mut impl Write) {
        self.clear(err);
        let total = self.tasks.len();
        let count = |phase: TaskPhase| self.tasks.iter().filter(|t| t.0 == phase).count();
        let mut lines = vec![format!(
            "job  {} {}/{} verified · {} running · {} revealing · {} waiting",
            bar(self.verified, total),
            self.verified,
            total,
            count(TaskPhase::Running),
            count(TaskPhase::Revealing),
            count(TaskPhase::Waiting),
        )];
        let active = (0..)
            .zip(&self.tasks)
            .filter(|(_, t)| matches!(t.0, TaskPhase::Running | TaskPhase::Revealing));
        for (index, (phase, per_mille)) in active.take(TASK_BARS) {
            let on = self
                .platforms
                .get(index)
                .and_then(Option::as_deref)
                .map(|p| format!(" on {}", crate::client::terminal_safe(p)))
                .unwrap_or_default();
            lines.push(format!(
                "task {index:<5} {} {:>3}% {}{on}",
                bar(usize::from(*per_mille), 1000),
                per_mille / 10,
                phase_name(*phase)
            ));
        }
        for line in &lines {
            let _ = writeln!(err, "{line}");
        }
        self.drawn_lines = lines.len();
        self.last_drawn = Some(Instant::now());
    }
}

/// `[=======             ]` for `done` of `total`.
fn bar(done: usize, total: usize) -> String {
    let width = 20usize;
    let filled = width.saturating_mul(done.min(total)) / total.max(1);
    format!("[{}{}]", "=".repeat(filled), " ".repeat(width.saturating_sub(filled)))
}

fn phase_name(phase: TaskPhase) -> &'static str {
    match phase {
        TaskPhase::Waiting => "waiting",
        TaskPhase::Running => "running",
        TaskPhase::Revealing => "revealing",
        TaskPhase::Completed => "completed",
        TaskPhase::Failed => "failed",
    }
}
