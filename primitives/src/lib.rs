//! # quorate-primitives
//!
//! The types every other Quorate crate speaks, and the hash functions both the contract and the
//! Rust side must compute identically. Pure: no I/O, no clock, no async; it depends only on
//! `alloy-primitives` (256-bit integers, addresses, keccak256), `blake3` (content hashes),
//! `serde` and `thiserror`.
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`ids`] | [`PoolId`] (the chain's `uint64`), [`DealId`], [`TaskId`], [`ContentHash`] and how they are derived |
//! | [`content`] | [`Outline`]: a blob's BLAKE3 piece hashes, to check each piece on arrival |
//! | [`amount`] | [`Amount`]: a token amount whose arithmetic is checked and never panics |
//! | [`result`] | [`ResultDigest`], [`ResultHash`], [`ResultSeal`] |
//! | [`job`] | [`JobManifest`]: a job's code, inputs, arguments, limits and evaluator, its canonical bytes and [`JobHash`]; [`TaskOutcome`]: a task's value or agreed error as the bytes voted on |
//! | [`gpu`] | [`GpuNeeds`]: what a WebGPU job needs of a worker's GPU (memory, an adapter class) and how an adapter class meets it |
//! | [`authorization`] | [`TaskAuthorization`]: the pool owner's permission for a worker to vote on a task in a round; its message, digest, signing and checking |
//! | [`frame`] | length-prefixed frames (`version ‖ len ‖ payload`) shared by the p2p wire and the evaluator pipe |
//! | [`error`] | [`Error`]: the structured reasons an operation is refused |
//!
//! ## Data flow of one task's vote (docs/poco.md)
//!
//! ```text
//! requestHash, nonce ──keccak──▶ DealId ──(index)──▶ TaskId
//! canonical result bytes ──keccak──▶ ResultDigest
//! (TaskId, ResultDigest) ──keccak──▶ ResultHash           the vote, equal for all who agree
//! (worker, TaskId, ResultDigest) ──keccak──▶ ResultSeal   binds the vote to one worker
//! ```
//!
//! ## Example
//!
//! ```
//! use quorate_primitives::{Address, DealId, ResultDigest, TaskId, B256};
//!
//! let deal = DealId::derive(B256::repeat_byte(0x11), 0u64.into());
//! let task = TaskId::derive(deal, 2);
//! let digest = ResultDigest::of(task, b"{\"answer\":42}");
//! let worker = Address::repeat_byte(0x77);
//! // Every worker that computed the same bytes casts the same vote…
//! assert_eq!(digest.vote(task), ResultDigest::of(task, b"{\"answer\":42}").vote(task));
//! // …and a digest is bound to its task.
//! assert_ne!(digest, ResultDigest::of(TaskId::derive(deal, 3), b"{\"answer\":42}"));
//! // …but the seal differs per worker, so a vote cannot be copied.
//! assert_ne!(digest.seal(worker, task), digest.seal(Address::ZERO, task));
//! ```

pub mod amount;
pub mod authorization;
pub mod content;
pub mod error;
pub mod frame;
pub mod gpu;
pub mod ids;
pub mod job;
pub mod result;

pub use alloy_primitives::{Address, B256, U256, keccak256};
pub use amount::Amount;
pub use authorization::TaskAuthorization;
pub use content::{Outline, PIECE_LEN};
pub use error::Error;
pub use gpu::GpuNeeds;
pub use ids::{ContentHash, DealId, PoolId, TaskId};
pub use job::{EvaluatorKind, JobHash, JobLimits, JobManifest, Module, TaskOutcome};
pub use result::{ResultDigest, ResultHash, ResultSeal};
