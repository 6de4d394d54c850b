//! Integration tests of quorate-primitives: third-party vectors and properties.

mod amount;
mod authorization;
mod job;
mod vectors;
