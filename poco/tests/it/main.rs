//! Integration tests of quorate-poco: one binary, one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod hardening;
mod properties;
mod simulation;
mod task;
mod vectors;
