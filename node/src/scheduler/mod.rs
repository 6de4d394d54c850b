//! The pool scheduler role: the shell around `quorate-scheduler`'s core that translates
//! between it and the edges (the chain, the store, the network).
//!
//! | module | does |
//! |---|---|
//! | [`store`] | the core's records in redb, and the image it restores from |
//! | [`events`] | Hub events to the core's chain events, for this pool's deals |

pub mod events;
pub mod store;
