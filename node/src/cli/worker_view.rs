//! A running worker's status as text: `quorate worker status` prints it once,
//! `quorate worker run --dashboard` redraws it every second (as the DCP worker's screen:
//! the pool, the sandboxes, the tasks with their progress, what was earned).

use std::fmt::Write as _;

use alloy::primitives::U256;

use crate::{
    http::balances::Balances,
    units::{Currency, short},
    worker::status::WorkerStatus,
};

fn qcr(wei: &str) -> String {
    short(wei.parse::<U256>().unwrap_or_default(), Currency::Qcr)
}

/// A progress bar of `width` cells for `per_mille`.
fn bar(per_mille: u16, width: usize) -> String {
    let filled = usize::from(per_mille.min(1000)).saturating_mul(width) / 1000;
    format!("{}{}", "#".repeat(filled), ".".repeat(width.saturating_sub(filled)))
}

/// The status as lines of text.
pub(super) fn render(s: &WorkerStatus, b: &Balances) -> String {
    let mut out = String::new();
    let scheduler =
        s.scheduler.as_deref().map_or("none".to_owned(), |p| p.chars().take(16).collect());
    let _ = writeln!(
        out,
        "Quorate worker {}  pool {}  {}  scheduler {scheduler}",
        s.address, s.pool, s.state
    );
    let _ = writeln!(
        out,
        "Sandboxes: {} of {} slots busy, {} MiB per task{}",
        s.busy,
        s.slots,
        s.memory_mib,
        if s.gpu { ", WebGPU" } else { "" }
    );
    let c = &s.counts;
    let _ = writeln!(
        out,
        "Since start: {} taken, {} computed, {} failed, {} voted, {} revealed, {} uploaded; earned {} QCR, lost {} QCR",
        c.assigned,
        c.computed,
        c.failed,
        c.contributions,
        c.reveals,
        c.uploads,
        qcr(&c.earned),
        qcr(&c.seized)
    );
    if b.at > 0 {
        let _ = writeln!(
            out,
            "Balances: {} QCR free in the Hub, {} QCR staked, {} QCR in the wallet, {} ETH for gas",
            qcr(&b.hub_free),
            qcr(&b.hub_frozen),
            qcr(&b.wallet),
            short(b.eth.parse::<U256>().unwrap_or_default(), Currency::Eth)
        );
    }
    if let Some(e) = &b.error {
        let _ = writeln!(out, "Balances not read: {e}");
    }
    if !c.errors.is_empty() {
        let errors: Vec<String> = c.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "Errors: {}", errors.join(", "));
    }
    let _ = writeln!(out);
    if s.tasks.is_empty() {
        let _ = writeln!(out, "No task held.");
    } else {
        let _ = writeln!(out, "{:<20} {:<22} {:<24} {:>6}", "TASK", "PHASE", "PROGRESS", "HELD");
        for t in &s.tasks {
            let id = t.task.to_string();
            let progress = if t.phase == "assigned" {
                format!("{} {:>3}%", bar(t.progress, 16), t.progress / 10)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{:<20} {:<22} {:<24} {:>5}s",
                id.get(..18).unwrap_or(&id),
                t.phase,
                progress,
                t.held_secs
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_a_screen() {
        let mut s = WorkerStatus {
            pool: 3,
            state: "joined".into(),
            slots: 4,
            busy: 1,
            memory_mib: 512,
            ..WorkerStatus::default()
        };
        s.counts.computed = 7;
        s.counts.earned = "1500000000000000000".into();
        s.tasks.push(crate::worker::status::TaskRow {
            task: quorate_primitives::TaskId::default(),
            phase: "assigned".into(),
            progress: 500,
            held_secs: 3,
        });
        let text = render(&s, &Balances::default());
        assert!(text.contains("pool 3  joined"), "{text}");
        assert!(text.contains("1 of 4 slots busy"), "{text}");
        assert!(text.contains("7 computed") && text.contains("earned 1.5 QCR"), "{text}");
        assert!(text.contains("########........  50%"), "{text}");
    }
}
