//! The console lines of the tasks a worker runs, relayed to the pool's scheduler for the deal's
//! client: batched (at most one report a second per task, or a full batch), each line cut to
//! [`MAX_CONSOLE_LINE`] bytes, and capped per task; what the cap drops is counted and told, so
//! the client can say how many lines it missed.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use quorate_evaluator::sandbox::ConsoleLevel as SandboxLevel;
use quorate_p2p::wire::{
    ConsoleLevel, ConsoleLine, MAX_CONSOLE_BATCH, MAX_CONSOLE_LINE, Report, fit_text,
};
use quorate_primitives::TaskId;

/// The shortest time between two console reports of a task.
pub(super) const CONSOLE_EVERY: Duration = Duration::from_secs(1);
/// Lines relayed per task, at most.
pub(super) const TASK_LINES: u32 = 64;
/// Bytes relayed per task, at most.
pub(super) const TASK_BYTES: usize = 16 << 10;

/// The lines waiting to be relayed, per task.
#[derive(Debug, Default)]
pub(super) struct ConsoleRelay {
    tasks: HashMap<TaskId, Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    lines: Vec<ConsoleLine>,
    dropped: u32,
    relayed_lines: u32,
    relayed_bytes: usize,
    last_sent: Option<Instant>,
}

impl ConsoleRelay {
    /// Takes a line of `task`; returns a report to send now when one is due: the first line at
    /// once, then at most one report a second, or when a batch is full.
    pub(super) fn push(
        &mut self,
        task: TaskId,
        level: SandboxLevel,
        text: &str,
        now: Instant,
    ) -> Option<Report> {
        let pending = self.tasks.entry(task).or_default();
        let text = fit_text(text, MAX_CONSOLE_LINE);
        let bytes = pending.relayed_bytes.saturating_add(text.len());
        if pending.relayed_lines >= TASK_LINES || bytes > TASK_BYTES {
            pending.dropped = pending.dropped.saturating_add(1);
            return None;
        }
        pending.relayed_lines = pending.relayed_lines.saturating_add(1);
        pending.relayed_bytes = bytes;
        let level = match level {
            SandboxLevel::Log => ConsoleLevel::Log,
            SandboxLevel::Warn => ConsoleLevel::Warn,
            SandboxLevel::Error => ConsoleLevel::Error,
        };
        pending.lines.push(ConsoleLine { level, text });
        let due = pending.last_sent.is_none_or(|at| now.duration_since(at) >= CONSOLE_EVERY);
        if due || pending.lines.len() >= MAX_CONSOLE_BATCH {
            Self::take(pending, now)
        } else {
            None
        }
    }

    /// The report of what `task` still has to relay, if anything (its run ended).
    pub(super) fn flush(&mut self, task: TaskId, now: Instant) -> Option<Report> {
        self.tasks.get_mut(&task).and_then(|pending| Self::take(pending, now))
    }

    /// The reports of every task whose lines waited a second or more.
    pub(super) fn due(&mut self, now: Instant) -> Vec<(TaskId, Report)> {
        self.tasks
            .iter_mut()
            .filter(|(_, p)| p.last_sent.is_none_or(|at| now.duration_since(at) >= CONSOLE_EVERY))
            .filter_map(|(task, pending)| Self::take(pending, now).map(|report| (*task, report)))
            .collect()
    }

    /// Forgets a task.
    pub(super) fn remove(&mut self, task: TaskId) {
        self.tasks.remove(&task);
    }

    fn take(pending: &mut Pending, now: Instant) -> Option<Report> {
        if pending.lines.is_empty() && pending.dropped == 0 {
            return None;
        }
        pending.last_sent = Some(now);
        Some(Report::Console {
            lines: std::mem::take(&mut pending.lines),
            dropped: std::mem::take(&mut pending.dropped),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(report: Option<Report>) -> (Vec<String>, u32) {
        match report {
            Some(Report::Console { lines, dropped }) => {
                (lines.into_iter().map(|l| l.text).collect(), dropped)
            }
            other => panic!("not a console report: {other:?}"),
        }
    }

    #[test]
    fn the_first_line_goes_at_once_then_a_report_a_second() {
        let mut relay = ConsoleRelay::default();
        let task = TaskId::default();
        let t0 = Instant::now();
        assert_eq!(texts(relay.push(task, SandboxLevel::Log, "a", t0)), (vec!["a".into()], 0));
        assert!(relay.push(task, SandboxLevel::Warn, "b", t0).is_none());
        assert!(relay.push(task, SandboxLevel::Error, "c", t0).is_none());
        assert!(relay.due(t0).is_empty());
        let later = t0 + CONSOLE_EVERY;
        let due = relay.due(later);
        assert_eq!(due.len(), 1);
        assert_eq!(texts(Some(due[0].1.clone())), (vec!["b".into(), "c".into()], 0));
        assert!(relay.flush(task, later).is_none());
        // What is left when the run ends goes with the flush.
        assert!(relay.push(task, SandboxLevel::Log, "d", later).is_none());
        assert_eq!(texts(relay.flush(task, later)), (vec!["d".into()], 0));
    }

    #[test]
    fn a_full_batch_goes_at_once() {
        let mut relay = ConsoleRelay::default();
        let (task, t0) = (TaskId::default(), Instant::now());
        let _ = relay.push(task, SandboxLevel::Log, "first", t0);
        let sent: Vec<_> = (0..MAX_CONSOLE_BATCH)
            .filter_map(|i| relay.push(task, SandboxLevel::Log, &i.to_string(), t0))
            .collect();
        assert_eq!(sent.len(), 1);
        assert_eq!(texts(sent.into_iter().next()).0.len(), MAX_CONSOLE_BATCH);
    }

    #[test]
    fn lines_are_cut_and_the_cap_is_counted() {
        let mut relay = ConsoleRelay::default();
        let (task, t0) = (TaskId::default(), Instant::now());
        let long = "é".repeat(MAX_CONSOLE_LINE);
        let (lines, _) = texts(relay.push(task, SandboxLevel::Log, &long, t0));
        assert!(lines[0].len() <= MAX_CONSOLE_LINE && lines[0].ends_with('…'));
        let mut reports: Vec<_> = (0..200)
            .filter_map(|i| relay.push(task, SandboxLevel::Log, &i.to_string(), t0))
            .collect();
        reports.extend(relay.flush(task, t0));
        let (mut relayed, mut dropped) = (1, 0);
        for report in reports {
            let (lines, d) = texts(Some(report));
            relayed += u32::try_from(lines.len()).unwrap();
            dropped += d;
        }
        assert_eq!(relayed, TASK_LINES);
        assert_eq!(relayed + dropped, 201);
        relay.remove(task);
        assert!(relay.flush(task, t0).is_none());
    }
}
