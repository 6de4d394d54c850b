//! # quorate-poco
//!
//! Proof of Contribution, off-chain and exactly as the contract decides it (docs/poco.md):
//! weights from scores, the consensus test, payouts and score updates, the task state machine
//! and the replication planner. Sans-io: no clock reads, no I/O, no async; the caller passes
//! `now` in and reads decisions out. Depends only on `quorate-primitives` (and `serde_json` for
//! the test vectors).
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`weight`] | `w(s) = max(floor(s/3), 3) − 1`, the payout weight `floor(log2 w)`, score updates |
//! | [`consensus`] | [`Trust`](consensus::Trust), the per-task [`Tally`](consensus::Tally) (`total`, `group[h]`) and the test `group·T > total·(T−1)` |
//! | [`payout`] | finalize, claim and the `T = 1` fast path as one [`Settlement`](payout::Settlement) batch that conserves value |
//! | [`task`] | the [`Task`](task::Task) state machine: `handle_*(now, …)` in, `poll_deadline()` / `poll_actions()` out |
//! | [`planner`] | "how many replicas now?": pending replicas assumed to agree, a cap, the theoretical minimum |
//! | [`vectors`] | the JSON vectors the Solidity tests replay (`poco/vectors/poco.json`) |
//! | [`sim`] | the Byzantine simulation (`cargo run --release -p quorate-poco --example simulate`) |
//! | [`error`] | [`Error`]: one structured reason per refused input, with classifiers |
//!
//! All consensus and money arithmetic is checked 256-bit ([`U256`](quorate_primitives::U256)
//! and [`Amount`](quorate_primitives::Amount)): an overflow is an [`Error`], as it is a revert
//! in the contract, and never a panic or a wrap.
//!
//! ## Data flow (one task, as the scheduler drives it)
//!
//! ```text
//!   poll_actions() ── NeedReplicas{n} ──▶ scheduler picks workers ──▶ handle_assign(now, worker, score, class)
//!        ▲                                                                      │
//!        │   chain events: handle_contribution / handle_reveal (now, …)  ◀──────┘
//!        │   clock:        handle_timeout(now) at poll_deadline()
//!        └── RequestReveal{workers} · Finalize · Reopen · Failed(reason)
//!                              │
//!            handle_finalize / handle_claim ──▶ Settlement (transfers + score changes, one batch)
//! ```
//!
//! ## States
//!
//! Task: `ACTIVE → REVEALING → COMPLETED`, `REVEALING → ACTIVE` (reopen), `ACTIVE | REVEALING →
//! FAILED` (claim). Contribution: `CONTRIBUTED → PROVED | REJECTED`. Deadlines from the deal
//! start in units of the category time reference `t`: contributions before `start + 7t`, reveals
//! before `consensus + 2t`, claim from `start + 10t` of a task nothing was revealed for (a task
//! with a reveal is finalized, by anyone once its reveal deadline passed); the multipliers are
//! the Hub's, named once in [`task`] (`CONTRIBUTION_WINDOW`, `REVEAL_WINDOW`, `FINAL_WINDOW`). A
//! task takes at most 255 contributions, the Hub's `MAX_CONTRIBUTORS`. An authorization
//! (an assigned replica) votes only in the round it was given for: a reopen starts a new one.
//! Scores belong to the pool owner's trust domain: the host keeps them per pool owner and
//! passes the score of that domain in.
//!
//! ## Example
//!
//! ```
//! use quorate_poco::{
//!     consensus::Trust,
//!     payout::PayoutTerms,
//!     task::{Action, Task, TaskConfig, TaskStatus},
//! };
//! use quorate_primitives::{Address, Amount, B256, DealId, ResultDigest, TaskId, U256};
//!
//! # fn main() -> Result<(), quorate_poco::Error> {
//! let id = TaskId::derive(DealId::derive(B256::repeat_byte(1), U256::ZERO), 0);
//! let owner = Address::repeat_byte(0xb0);
//! let terms = PayoutTerms::new(Amount::from(1_000u64), 10);
//! let mut task = Task::new(TaskConfig::new(id, Trust::from_u64(3)?, 0, 100, owner, terms))?;
//! // Fresh workers weigh 2: T = 3 needs two agreeing votes.
//! assert_eq!(task.poll_actions(), vec![Action::NeedReplicas { count: 2 }]);
//!
//! let digest = ResultDigest::of(id, b"42");
//! for worker in [Address::with_last_byte(1), Address::with_last_byte(2)] {
//!     task.handle_assign(1, worker, U256::ZERO, 0)?;
//!     task.handle_contribution(10, worker, digest.vote(id), digest.seal(worker, id), U256::ZERO)?;
//! }
//! assert_eq!(task.status(), TaskStatus::Revealing);
//! for worker in [Address::with_last_byte(1), Address::with_last_byte(2)] {
//!     task.handle_reveal(20, worker, digest)?;
//! }
//! let settlement = task.handle_finalize(30, owner, |_| U256::ZERO)?;
//! assert_eq!(settlement.paid()?, settlement.locked); // conservation
//! assert_eq!(settlement.workers[0].reward, Amount::from(450u64)); // 90 % split by weight
//! # Ok(())
//! # }
//! ```
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod consensus;
pub mod error;
pub mod payout;
pub mod planner;
pub mod sim;
pub mod task;
pub mod vectors;
pub mod weight;

pub use error::Error;
