//! # quorate-contracts
//!
//! The Rust side of Quorate's contracts. The Solidity sources, tests and gas snapshots are the
//! Foundry project beside this crate (`contracts/src`, `contracts/test`,
//! `contracts/snapshots`); `forge build` writes their compiled artifacts to `contracts/out`.
//!
//! May depend on `quorate-primitives` among our crates; the node and the devnet use it to
//! deploy and call the contracts.
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`bindings`] | `sol!` bindings of `QuorateCredit` and `Hub` (calls, events, errors, deploy) |
//! | [`checked_in`] | the ABI and bytecode under `contracts/abi/` the bindings come from, and their drift check |
//! | [`deploy`] | the one deployment sequence ([`deploy::deploy_hub`], over any [`deploy::Sender`]): the token (or an existing ERC-20), the Hub, the categories |
//! | [`sign`] | the pool owner's signatures: EIP-712 pool orders, EIP-191 task authorizations |
//! | [`hashes`] | request hashes and deal ids as the Hub derives them |
//! | [`artifact`] | reading a contract's ABI and bytecode from forge's output |
//! | [`foundry`] | finding the pinned `anvil`, `forge` and `cast` that `scripts/setup` installs |
//!
//! ## Data flow
//!
//! `src/*.sol` → `forge build` → `out/` → (`QUORATE_UPDATE_ABI=1`, test `checked_in`) →
//! `abi/*.json` → `sol!` → [`bindings`]. A test fails when `abi/` no longer matches `out/`.
//!
//! On chain, a task goes `UNSET → ACTIVE → REVEALING → COMPLETED` (or `FAILED` by claim, or
//! back to `ACTIVE` by reopen): the pool owner signs an order ([`sign::sign_pool_order`]) and,
//! once it has checked the job, its consent to it ([`sign::sign_job_consent`]); the client
//! calls `matchOrders` with both, anyone calls `initialize` (or `initializeRange`), workers call
//! `contribute` with the pool owner's authorization for the task's round
//! (`quorate_primitives::TaskAuthorization`, as bytes by [`sign::authorization_bytes`]), then
//! `reveal`; the pool owner calls `finalize`, or anyone once the reveal deadline passed. A task
//! with nothing revealed at its final deadline is claimed by anyone: `claim`, or `claimMany` for
//! a list of tasks in one transaction.
//!
//! ## Example
//!
//! ```no_run
//! use alloy::{primitives::Address, signers::local::PrivateKeySigner};
//! use quorate_contracts::sign::authorization_bytes;
//! use quorate_primitives::{TaskAuthorization, TaskId};
//!
//! let pool_owner = PrivateKeySigner::random();
//! let worker = Address::repeat_byte(7);
//! let auth = authorization_bytes(&pool_owner, &TaskAuthorization::first_round(worker, TaskId::default()))?;
//! assert_eq!(auth.len(), 65);
//! # Ok::<(), quorate_contracts::Error>(())
//! ```

pub mod artifact;
pub mod bindings;
pub mod checked_in;
pub mod deploy;
mod error;
pub mod foundry;
pub mod hashes;
pub mod sign;

pub use error::Error;
