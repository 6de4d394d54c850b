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
//! | [`artifact`] | reading a contract's ABI and bytecode from forge's output |
//! | [`foundry`] | finding the pinned `anvil`, `forge` and `cast` that `scripts/setup` installs |
//!
//! ## Example
//!
//! ```no_run
//! use quorate_contracts::artifact::{Artifact, foundry_project_dir};
//!
//! let credit = Artifact::load(&foundry_project_dir(), "QuorateCredit")?;
//! assert!(credit.has_function("mint"));
//! # Ok::<(), quorate_contracts::artifact::ArtifactError>(())
//! ```

pub mod artifact;
pub mod foundry;
