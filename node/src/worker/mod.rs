//! The worker role (so far: a held task's state machine and the worker's transactions).
//!
//! | module | does |
//! |---|---|
//! | [`task`] | one held task: assigned → computed (stored) → contributed → revealing → revealed → done |
//! | [`chain`] | `contribute` and `reveal` |
//! | [`exec`] | the sandboxes on their own threads behind a bounded queue |

pub mod chain;
pub mod exec;
pub mod task;
