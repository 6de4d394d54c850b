//! The pool scheduler role: the shell around `quorate-scheduler`'s core that translates
//! between it and the edges (the chain, the store, the network).
//!
//! | module | does |
//! |---|---|
//! | [`state`] | the data directory's store: which pool it runs |
//! | [`store`] | the core's records in redb, and the image it restores from |
//! | [`events`] | Hub events to the core's chain events, for this pool's deals |
//! | [`pool`] | the pool on chain: created with its policy; its signed orders |

pub mod events;
pub mod pool;
pub mod state;
pub mod store;
