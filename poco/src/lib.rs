//! # quorate-poco
//!
//! Proof of Contribution, off-chain and exactly as the contract decides it (docs/poco.md):
//! weights from scores, the consensus test, payouts and score updates, the task state machine
//! and the replication planner. Sans-io: no clock reads, no I/O, no async; the caller passes
//! `now` in and reads decisions out. Depends only on `quorate-primitives`.
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`weight`] | `w(s) = max(floor(s/3), 3) − 1` and the payout weight `floor(log2 w)` |

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod weight;
