//! # quorate-node
//!
//! The `quorate` binary and the library behind it: the one crate that wires the pure cores
//! (`quorate-poco`, `quorate-scheduler`) to the chain, the network, the evaluator and the store.
//! Roles: `quorate scheduler …` (pool operators), `quorate worker …` (workers),
//! `quorate wallet …` / `quorate job …` (clients), as they land (docs/architecture.md §4).
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`doctor`] | `quorate doctor`: checks that every tool and library the node needs is installed |

pub mod doctor;
