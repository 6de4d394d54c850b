//! # quorate-scheduler
//!
//! The pool scheduler's decision core: it turns deals into tasks, tasks into replicas and
//! replicas into worker assignments, and follows each task's consensus through
//! `quorate-poco`. Sans-io like `quorate-poco`: inputs arrive through `handle_*(now, …)`,
//! decisions leave through `poll_*()`; the node crate owns the chain, the network and the store.
//! Depends only on `quorate-primitives` and `quorate-poco`.
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`config`] | [`SchedulerConfig`]: replication and timing policy, with documented defaults and `validate()` |

pub mod config;

pub use config::{ConfigError, SchedulerConfig};
