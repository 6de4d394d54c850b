//! Throughput and memory of the scheduler core alone:
//! `cargo run --release -p quorate-scheduler --example bench [-- --full]`.
//!
//! Simulated workers answer at once. Each cell fills the pool to `in flight` tasks, then runs
//! tasks from deal to finalize decision: initialize seen → two replicas assigned (T = 10, the
//! default policy's k = 2, workers of weight 4) → both report and vote → consensus → reveals
//! asked and seen → finalize sent → finalized seen → the next task starts. The harness's own
//! work (keccak for hashes and seals, routing the effects) is inside the timed loop, so the
//! figures are lower bounds for the core. Memory per task in flight is the resident-set growth
//! while the pool fills, divided by the tasks (it includes the harness's queue of task ids, 32
//! bytes a task); each cell runs in a process of its own. `--full` adds 1,000,000 tasks in
//! flight.
//! The last line is `scheduler core tasks/s: <n>` at 10,000 workers and 100,000 tasks in flight.
#![allow(clippy::print_stdout)]

use std::{
    collections::{HashMap, VecDeque},
    time::Instant,
};

use quorate_primitives::{Address, Amount, B256, DealId, ResultDigest, TaskId, U256};
use quorate_scheduler::{
    ChainCall, ChainCursor, ChainEvent, Deal, Message, Platform, Scheduler, SchedulerConfig,
    WorkerCaps,
};

/// Every worker's score: weight 4, so two agreeing replicas reach T = 10 and the default
/// policy's k = 2 admits them.
const SCORE: u64 = 15;

struct Bench {
    core: Scheduler,
    log: u32,
    block: u64,
    now: u64,
    events: VecDeque<ChainEvent>,
    ready_tasks: VecDeque<TaskId>,
    /// Task ids by index, and each task's digest and vote, computed before the timed loop.
    ids: Vec<TaskId>,
    answers: HashMap<TaskId, (ResultDigest, quorate_primitives::ResultHash)>,
}

impl Bench {
    fn cursor(&mut self) -> ChainCursor {
        self.log = self.log.wrapping_add(1);
        if self.log == 0 {
            self.block += 1;
        }
        ChainCursor { block: self.block, log: self.log, time: self.now }
    }

    fn feed(&mut self, event: ChainEvent) {
        let c = self.cursor();
        let _ = self.core.handle_chain_event(self.now, c, event);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(r) = self.core.poll_ready() {
            for call in r.chain {
                match call {
                    ChainCall::Initialize { deal, first, count } => {
                        for index in first..first + u64::from(count) {
                            let Some(&task) =
                                usize::try_from(index).ok().and_then(|i| self.ids.get(i))
                            else {
                                continue;
                            };
                            self.events.push_back(ChainEvent::TaskInitialized {
                                task,
                                deal,
                                index,
                            });
                        }
                    }
                    ChainCall::Finalize { task, .. } => {
                        self.events.push_back(ChainEvent::Finalized { task });
                    }
                    ChainCall::GiveUp { task } => {
                        self.events.push_back(ChainEvent::Claimed { task });
                    }
                    ChainCall::Reopen { task } => {
                        self.events.push_back(ChainEvent::Reopened { task });
                    }
                }
            }
            for m in r.messages {
                // The core keeps who runs what; the harness only queues tasks whose two
                // replicas are out (so its own memory stays out of the per-task figure).
                if let Message::Assign { task, .. } = m
                    && self.core.replicas_of(&task).len() == 2
                {
                    self.ready_tasks.push_back(task);
                }
            }
            let _ = self.core.advance(r.number);
        }
    }

    fn pump_events(&mut self) {
        while let Some(e) = self.events.pop_front() {
            self.feed(e);
        }
    }

    fn complete(&mut self, task: TaskId) {
        let workers = self.core.replicas_of(&task);
        let Some(&(digest, hash)) = self.answers.get(&task) else { return };
        for w in &workers {
            let seal = digest.seal(*w, task);
            let _ = self.core.handle_replica_finished(self.now, task, *w, hash, seal);
            self.feed(ChainEvent::Contributed {
                task,
                worker: *w,
                hash,
                seal,
                score: U256::from(SCORE),
            });
        }
        for w in &workers {
            self.feed(ChainEvent::Revealed { task, worker: *w, digest });
        }
        self.pump_events();
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

struct Cell {
    tasks_per_s: f64,
    bytes_per_task: f64,
    bytes_per_worker: f64,
}

fn cell(workers: u32, in_flight: u64, measured: u64) -> Cell {
    let per_worker =
        u32::try_from((in_flight * 2).div_ceil(u64::from(workers)) + 4).unwrap_or(u32::MAX);
    let config = SchedulerConfig {
        max_tasks_in_flight: in_flight,
        max_tasks_per_worker: per_worker,
        initialize_batch: 256,
        ..SchedulerConfig::default()
    };
    let before_workers = rss_bytes();
    let core =
        Scheduler::new(config, Address::repeat_byte(0xb0), 1).unwrap_or_else(|e| panic!("{e}"));
    let mut b = Bench {
        core,
        log: 0,
        block: 1,
        now: 1,
        events: VecDeque::new(),
        ready_tasks: VecDeque::new(),
        ids: Vec::new(),
        answers: HashMap::new(),
    };
    let caps = WorkerCaps {
        slots: per_worker,
        memory_mib: 4096,
        evaluators: 1,
        platform: Platform { gpu: 0, fp_probe: 0 },
        gpu_memory_mib: 0,
        gpu_tags: [0; 6],
    };
    for i in 0..workers {
        let a = Address::from_word(B256::from(U256::from(u64::from(i) + 1)));
        b.core.handle_worker_joined(1, a, caps, U256::from(SCORE));
    }
    b.drain();
    let workers_done = rss_bytes();
    let total = in_flight + measured;
    let deal = Deal {
        id: DealId::derive(B256::repeat_byte(7), U256::from(total)),
        tasks: total,
        trust: 10,
        start: 1,
        time_ref: 1_000_000,
        price: Amount::from(1_000u64),
        scheduler_ratio: 10,
        evaluator: 0,
        memory_mib: 256,
        gpu_memory_mib: 0,
        gpu_class: 0,
    };
    b.ids = (0..total).map(|i| TaskId::derive(deal.id, i)).collect();
    b.answers = b
        .ids
        .iter()
        .map(|t| {
            let digest = ResultDigest::of(*t, b"right");
            (*t, (digest, digest.vote(*t)))
        })
        .collect();
    let after_workers = rss_bytes();
    b.feed(ChainEvent::DealCreated(deal));
    b.pump_events();
    let filled = rss_bytes();
    let started = Instant::now();
    let mut done = 0u64;
    while done < measured {
        let Some(task) = b.ready_tasks.pop_front() else { break };
        b.complete(task);
        done += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    Cell {
        tasks_per_s: done as f64 / secs,
        bytes_per_task: filled.saturating_sub(after_workers) as f64 / in_flight as f64,
        bytes_per_worker: workers_done.saturating_sub(before_workers) as f64 / f64::from(workers),
    }
}

/// Each cell runs in its own process, so that memory freed by one cell does not hide the next
/// one's growth.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, workers, in_flight] = args.as_slice()
        && flag == "--cell"
    {
        let (Ok(workers), Ok(in_flight)) = (workers.parse(), in_flight.parse()) else { return };
        let c = cell(workers, in_flight, 50_000);
        println!(
            "| {workers} | {in_flight} | {:.0} | {:.0} | {:.0} |",
            c.tasks_per_s, c.bytes_per_task, c.bytes_per_worker
        );
        return;
    }
    let full = args.iter().any(|a| a == "--full");
    let mut cells: Vec<(u32, u64)> = Vec::new();
    for workers in [1_000u32, 10_000, 100_000] {
        for in_flight in [10_000u64, 100_000] {
            cells.push((workers, in_flight));
        }
    }
    if full {
        cells.push((10_000, 1_000_000));
    }
    println!(
        "| workers | tasks in flight | tasks/s (deal to finalize decision) | bytes per task in flight | bytes per worker |"
    );
    println!("|---|---|---|---|---|");
    let mut headline = String::from("0");
    let Ok(exe) = std::env::current_exe() else { return };
    for (workers, in_flight) in cells {
        let out = std::process::Command::new(&exe)
            .args(["--cell", &workers.to_string(), &in_flight.to_string()])
            .output();
        let line =
            out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
        println!("{line}");
        if workers == 10_000 && in_flight == 100_000 {
            headline = line.split('|').nth(3).map(|v| v.trim().to_string()).unwrap_or_default();
        }
    }
    println!("scheduler core tasks/s: {headline}");
}
