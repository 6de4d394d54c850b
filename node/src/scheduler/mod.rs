//! The pool scheduler role: the shell around `quorate-scheduler`'s core that translates
//! between it and the edges (the chain, the store, the network).
//!
//! | module | does |
//! |---|---|
//! | [`service`] | `quorate scheduler run`: the loop between the follower, the network, the core and the store |
//! | [`state`] | the data directory's store: which pool it runs |
//! | [`store`] | the core's records in redb, and the image it restores from |
//! | [`events`] | Hub events to the core's chain events, for this pool's deals |
//! | [`jobs`] | jobs offered: fetched, pinned, checked, consented or refused |
//! | [`sample`] | the check: a few inputs (the first, others at random) run twice each |
//! | [`pool`] | the pool on chain: created with its policy; its signed orders |
//! | [`dashboard`] | the pool's web dashboard, its JSON API and `/metrics`, by role |
//! | [`ledger`] | the pool's record on chain for `status`: deals and tasks by state, workers, earnings |

pub mod console;
pub mod credentials;
pub mod dashboard;
pub mod events;
pub mod jobs;
pub mod ledger;
pub mod platform;
pub mod pool;
pub mod sample;
pub mod service;
pub mod state;
pub mod store;
