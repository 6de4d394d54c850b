//! End-to-end scenarios.

mod crashes;
mod toolchain;
