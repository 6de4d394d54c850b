//! End-to-end scenarios.

mod adversaries;
mod common;
mod crashes;
mod operating;
mod platforms;
mod toolchain;
