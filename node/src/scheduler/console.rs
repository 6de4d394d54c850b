//! What the pool's work functions wrote to their console, kept for each deal's client to read
//! (`quorate job submit --watch`). Workers relay the lines of the tasks they run
//! (`Report::Console`); the scheduler keeps one replica's lines per task (the first to speak:
//! replicas of a task print the same thing), numbers them per deal, and hands them out from a
//! sequence number on. Nothing here is persisted: a console is a debugging aid, not a result.
//!
//! Every bound is the scheduler's own, whatever the workers send: lines per task and bytes per
//! task; lines and bytes per deal (the oldest go first); bytes across all deals (the oldest
//! deal's console goes first). A line dropped anywhere still takes its sequence number, so the
//! client sees a gap and says how many lines it missed.

use std::collections::{HashMap, VecDeque};

use alloy::primitives::Address;
use quorate_p2p::wire::{ConsoleEntry, ConsoleLine, MAX_CONSOLE_ENTRIES};
use quorate_primitives::DealId;

/// The caps, per task, per deal and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleCaps {
    /// Lines kept per task.
    pub task_lines: u32,
    /// Bytes kept per task.
    pub task_bytes: usize,
    /// Lines kept per deal.
    pub deal_lines: usize,
    /// Bytes kept per deal.
    pub deal_bytes: usize,
    /// Bytes kept across every deal.
    pub total_bytes: usize,
}

impl Default for ConsoleCaps {
    fn default() -> Self {
        Self {
            task_lines: 64,
            task_bytes: 20 << 10,
            deal_lines: 2048,
            deal_bytes: 256 << 10,
            total_bytes: 16 << 20,
        }
    }
}

/// Bytes a kept line counts for beyond its text (its entry and queue slot).
const ENTRY_OVERHEAD: usize = 48;

/// The consoles of every deal with one.
#[derive(Debug, Default)]
pub struct Consoles {
    caps: ConsoleCaps,
    deals: HashMap<DealId, DealConsole>,
    /// Deals in the order their consoles began: the oldest goes first when all are too big.
    order: VecDeque<DealId>,
    bytes: usize,
}

#[derive(Debug, Default)]
struct DealConsole {
    lines: VecDeque<ConsoleEntry>,
    bytes: usize,
    next: u64,
    tasks: HashMap<u32, Speaker>,
}

/// The replica whose lines a task's console keeps, and how much it said.
#[derive(Debug)]
struct Speaker {
    worker: Address,
    lines: u32,
    bytes: usize,
}

impl Consoles {
    /// Empty, with these caps.
    pub fn new(caps: ConsoleCaps) -> Self {
        Self { caps, ..Self::default() }
    }

    /// Keeps `lines` that `worker` relayed for task `index` of `deal`, after `dropped` lines it
    /// could not relay. Lines from a second replica of the task are ignored.
    pub fn record(
        &mut self,
        deal: DealId,
        index: u32,
        worker: Address,
        lines: Vec<ConsoleLine>,
        dropped: u32,
    ) {
        if !self.deals.contains_key(&deal) {
            self.order.push_back(deal);
        }
        let caps = self.caps;
        let console = self.deals.entry(deal).or_default();
        let speaker = console.tasks.entry(index).or_insert(Speaker { worker, lines: 0, bytes: 0 });
        if speaker.worker != worker {
            return;
        }
        console.next = console.next.saturating_add(u64::from(dropped));
        let before = console.bytes;
        for line in lines {
            let seq = console.next;
            console.next = console.next.saturating_add(1);
            let size = line.text.len().saturating_add(ENTRY_OVERHEAD);
            if speaker.lines >= caps.task_lines
                || speaker.bytes.saturating_add(size) > caps.task_bytes
            {
                continue;
            }
            speaker.lines = speaker.lines.saturating_add(1);
            speaker.bytes = speaker.bytes.saturating_add(size);
            console.bytes = console.bytes.saturating_add(size);
            console.lines.push_back(ConsoleEntry { seq, index, line });
        }
        while console.lines.len() > caps.deal_lines || console.bytes > caps.deal_bytes {
            let Some(old) = console.lines.pop_front() else { break };
            console.bytes =
                console.bytes.saturating_sub(old.line.text.len().saturating_add(ENTRY_OVERHEAD));
        }
        self.bytes = self.bytes.saturating_sub(before).saturating_add(console.bytes);
        // Over the cap in all: whole consoles go, oldest first, but never the one just written.
        while self.bytes > caps.total_bytes {
            let Some(oldest) = self.order.front().copied() else { break };
            if oldest == deal {
                break;
            }
            self.forget(oldest);
        }
    }

    /// The lines of `deal` from sequence number `from` on, at most [`MAX_CONSOLE_ENTRIES`].
    pub fn read(&self, deal: DealId, from: u64) -> Vec<ConsoleEntry> {
        let Some(console) = self.deals.get(&deal) else { return Vec::new() };
        let start = console.lines.partition_point(|entry| entry.seq < from);
        console.lines.range(start..).take(MAX_CONSOLE_ENTRIES).cloned().collect()
    }

    /// The sequence number the next line of `deal` will take: the lines before it not kept
    /// were dropped.
    pub fn end(&self, deal: DealId) -> u64 {
        self.deals.get(&deal).map_or(0, |console| console.next)
    }

    /// Drops a deal's console.
    pub fn forget(&mut self, deal: DealId) {
        if let Some(console) = self.deals.remove(&deal) {
            self.bytes = self.bytes.saturating_sub(console.bytes);
            self.order.retain(|d| *d != deal);
        }
    }

    /// Bytes kept in all.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::B256;
    use quorate_p2p::wire::ConsoleLevel;

    use super::*;

    fn line(text: &str) -> ConsoleLine {
        ConsoleLine { level: ConsoleLevel::Log, text: text.into() }
    }

    fn lines(n: usize) -> Vec<ConsoleLine> {
        (0..n).map(|i| line(&format!("line {i}"))).collect()
    }

    fn deal(n: u8) -> DealId {
        DealId(B256::repeat_byte(n))
    }

    const A: Address = Address::repeat_byte(0xa);
    const B: Address = Address::repeat_byte(0xb);

    #[test]
    fn lines_are_numbered_per_deal_and_read_from_a_sequence_number() {
        let mut consoles = Consoles::default();
        consoles.record(deal(1), 0, A, lines(3), 0);
        consoles.record(deal(1), 1, B, vec![line("other task")], 0);
        consoles.record(deal(2), 0, A, vec![line("other deal")], 0);
        let read = consoles.read(deal(1), 0);
        let seqs: Vec<_> = read.iter().map(|e| (e.seq, e.index)).collect();
        assert_eq!(seqs, [(0, 0), (1, 0), (2, 0), (3, 1)]);
        assert_eq!(read[3].line.text, "other task");
        assert_eq!(consoles.read(deal(1), 2).len(), 2);
        assert!(consoles.read(deal(1), 4).is_empty());
        assert_eq!(consoles.read(deal(2), 0)[0].seq, 0);
        assert!(consoles.read(deal(3), 0).is_empty());
    }

    #[test]
    fn one_replica_speaks_for_a_task() {
        let mut consoles = Consoles::default();
        consoles.record(deal(1), 0, A, vec![line("a")], 0);
        consoles.record(deal(1), 0, B, vec![line("b")], 5);
        consoles.record(deal(1), 0, A, vec![line("a2")], 0);
        let texts: Vec<_> = consoles.read(deal(1), 0).into_iter().map(|e| e.line.text).collect();
        assert_eq!(texts, ["a", "a2"]);
    }

    #[test]
    fn dropped_lines_leave_gaps_the_client_can_count() {
        let caps = ConsoleCaps { task_lines: 2, ..ConsoleCaps::default() };
        let mut consoles = Consoles::new(caps);
        // The worker dropped 4 lines before these; the task's cap keeps 2 of the 3.
        consoles.record(deal(1), 0, A, lines(3), 4);
        consoles.record(deal(1), 1, A, lines(1), 0);
        let seqs: Vec<_> = consoles.read(deal(1), 0).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [4, 5, 7]);
        // Lines dropped at the end show in the deal's end.
        consoles.record(deal(1), 0, A, lines(1), 3);
        assert_eq!(consoles.end(deal(1)), 12);
        assert_eq!(consoles.end(deal(2)), 0);
    }

    #[test]
    fn every_cap_holds_and_the_oldest_goes_first() {
        let caps = ConsoleCaps {
            task_lines: 1000,
            task_bytes: 1 << 20,
            deal_lines: 10,
            deal_bytes: 1 << 20,
            total_bytes: 25 * (ENTRY_OVERHEAD + 7),
        };
        let mut consoles = Consoles::new(caps);
        consoles.record(deal(1), 0, A, lines(25), 0);
        let read = consoles.read(deal(1), 0);
        assert_eq!(read.len(), 10);
        assert_eq!(read[0].seq, 15);
        // A read returns at most a message's worth.
        let caps = ConsoleCaps { deal_lines: 1000, total_bytes: 1 << 30, ..caps };
        let mut big = Consoles::new(caps);
        big.record(deal(1), 0, A, lines(200), 0);
        assert_eq!(big.read(deal(1), 0).len(), MAX_CONSOLE_ENTRIES);
        // Three deals of 10 lines: the third pushes the oldest out.
        consoles.record(deal(2), 0, A, lines(10), 0);
        consoles.record(deal(3), 0, A, lines(10), 0);
        assert!(consoles.read(deal(1), 0).is_empty());
        assert_eq!(consoles.read(deal(2), 0).len(), 10);
        assert!(consoles.bytes() <= caps.total_bytes);
        consoles.forget(deal(2));
        consoles.forget(deal(3));
        assert_eq!(consoles.bytes(), 0);
    }

    #[test]
    fn per_task_bytes_are_capped() {
        let caps = ConsoleCaps { task_bytes: 3 * ENTRY_OVERHEAD + 30, ..ConsoleCaps::default() };
        let mut consoles = Consoles::new(caps);
        let long = ConsoleLine { level: ConsoleLevel::Warn, text: "x".repeat(10) };
        consoles.record(deal(1), 0, A, vec![long; 5], 0);
        assert_eq!(consoles.read(deal(1), 0).len(), 3);
    }
}
