//! End-to-end scenarios.

mod toolchain;
