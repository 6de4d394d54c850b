//! Integration tests of quorate-node on real parts: a real anvil with the real Hub, real
//! keystore files (and Foundry's `cast` reading and writing them), real redb files, and the
//! real `quorate` binary.

#![allow(clippy::print_stderr, reason = "tests print what they measure")]

mod accounts;
mod cli;
mod common;
mod deal;
mod follower;
mod hub;
mod job;
mod keystores;
mod market;
mod pool;
mod processes;
mod sender;
mod store;
mod strict_rpc;
mod worker;
mod worker_process;
mod worker_service;
