//! The scheduler core's integration tests: decisions, crash and restore, simulation bounds.

mod decisions;
mod restore;
mod simulation;
