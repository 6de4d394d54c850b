//! Integration tests of quorate-p2p over real sockets on loopback.

#![allow(clippy::print_stderr, reason = "tests print the timings they measure")]

mod common;
mod discovery;
mod fetch;
mod hostile;
mod identity;
mod jobs;
mod roundtrip;
