//! # quorate-scheduler
//!
//! The pool scheduler's decision core: it turns deals into tasks, tasks into replicas and
//! replicas into worker assignments, and follows each task's consensus through the PoCo mirror
//! of `quorate-poco`. Sans-io: inputs arrive through `handle_*(now, …)`, decisions leave as one
//! [`Ready`] batch of store writes, chain calls and messages that the host applies, store
//! first, then acknowledges with [`Scheduler::advance`] (raft's `Ready`/`advance`). No clock,
//! no I/O, no async; every random choice is keyed by a seed the host provides. Depends only on
//! `quorate-primitives` and `quorate-poco`.
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`config`] | [`SchedulerConfig`] and the [`LongConPolicy`]: replication, timing, back-pressure, defence against the long con |
//! | [`types`] | the inputs: [`Deal`], [`WorkerCaps`] and [`Platform`], [`ChainEvent`] at a [`ChainCursor`] |
//! | [`effect`] | the outputs: [`Ready`] with [`StoreWrite`]s, [`ChainCall`]s and [`Message`]s |
//! | `core` | [`Scheduler`]: its state, the batch, records, the end of a task, backlog and waiting set |
//! | `inputs` | the `handle_*` inputs: chain events, workers, replicas, time |
//! | `step` | the decisions about one task: time out, plan replicas, pick workers under the anti-long-con policy, finalize, reopen, give up |
//! | `task` | one task: the PoCo mirror plus replicas, reports and failures, changed only by [`TaskRecord`]s |
//! | `workers` | the worker registry and the random, load-spreading, eligibility-checked choice |
//! | `draw` | keyed randomness without state (seed, task, counter) |
//! | [`restore`] | [`StoreImage`]: the store's content, and [`Scheduler::restore`] from it |
//! | [`error`] | [`Error`], with `is_stale` / `is_host_bug` |
//! | `sim` | (feature `test-utils`) the Byzantine simulation driving the real core |
//!
//! ## Data flow
//!
//! ```text
//!  chain events ──handle_chain_event(now, cursor, ev)──┐
//!  workers ──handle_worker_joined / heartbeat / lost ──┤
//!  workers ──handle_replica_finished / failed ─────────┼─▶ Scheduler ──poll_ready()──▶ Ready
//!  clock ──handle_tick(now) at poll_timeout() ─────────┘       ▲                        │
//!                                                              └──── advance(number) ◀──┘
//!  Ready: store writes (apply durably first) · chain calls (initialize, finalize, reopen)
//!         · messages (assign: the shell signs its authorization; reveal, upload, abort)
//! ```
//!
//! ## States of a task
//!
//! backlog → initialize asked → ACTIVE (replicas planned by `quorate_poco::planner`, at least
//! `k` distinct workers, one more for a spot-check) → REVEALING (reveals asked) → finalize
//! asked → ended on `Finalized`; or given up (replica cap, machine failures, deadlines) →
//! ended on `Claimed` or at its final deadline.
//!
//! ## Example
//!
//! ```
//! use quorate_scheduler::{ChainCursor, ChainEvent, ChainCall, Deal, Platform, Scheduler, SchedulerConfig, WorkerCaps};
//! use quorate_primitives::{Address, Amount, B256, DealId, U256};
//!
//! # fn main() -> Result<(), quorate_scheduler::Error> {
//! let mut core = Scheduler::new(SchedulerConfig::default(), Address::repeat_byte(0xb0), 42)?;
//! let caps = WorkerCaps {
//!     slots: 4, memory_mib: 512, evaluators: 1, platform: Platform { gpu: 0, fp_probe: 0 },
//!     gpu_memory_mib: 0, gpu_tags: [0; 6],
//! };
//! core.handle_worker_joined(0, Address::with_last_byte(1), caps, U256::ZERO);
//! let deal = Deal {
//!     id: DealId::derive(B256::repeat_byte(1), U256::from(1)), tasks: 3, trust: 1, start: 0,
//!     time_ref: 100, price: Amount::from(1_000u64), scheduler_ratio: 10, evaluator: 0, memory_mib: 256,
//!     gpu_memory_mib: 0, gpu_class: 0,
//! };
//! core.handle_chain_event(1, ChainCursor { block: 1, log: 0, time: 1 }, ChainEvent::DealCreated(deal))?;
//! let ready = core.poll_ready().expect("a batch");
//! assert!(ready.chain.contains(&ChainCall::Initialize { deal: deal.id, first: 0, count: 3 }));
//! core.advance(ready.number)?;
//! # Ok(())
//! # }
//! ```
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod config;
mod core;
mod draw;
pub mod effect;
pub mod error;
mod inputs;
pub mod restore;
#[cfg(any(test, feature = "test-utils"))]
pub mod sim;
mod step;
mod task;
pub mod types;
pub mod view;
mod workers;

pub use config::{ConfigError, LongConPolicy, SchedulerConfig};
pub use core::{Scheduler, Stats};
pub use effect::{
    ChainCall, DealRecord, Message, PendingInit, Ready, Requested, StoreWrite, TaskRecord,
    WorkerRecord,
};
pub use error::Error;
pub use restore::StoreImage;
pub use types::{ChainCursor, ChainEvent, Deal, Platform, WorkerCaps};
pub use view::{TaskView, WorkerView};
