//! # quorate-node
//!
//! The `quorate` binary and the library behind it: the one crate that wires the pure cores
//! (`quorate-poco`, `quorate-scheduler`) to the chain, the network, the evaluator and the store.
//! Roles: `quorate scheduler …` (pool operators), `quorate worker …` (workers),
//! `quorate wallet …` / `quorate job …` (clients), as they land (docs/architecture.md §4).
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`config`] | one TOML schema for every role, read in layers: defaults < site file < `QUORATE_*` < flags |
//! | [`wallet`] | Ethereum v3 keystores (geth/cast compatible), private files, passwords never from arguments |
//! | [`chain`] | the chain actor (nonces, fees, resubmission, receipts, decoded reverts) and the Hub event follower |
//! | [`store`] | redb, one file per role, typed tables, atomic batches, a schema version; an in-memory twin |
//! | [`accounts`] | Hub accounts: balances, deposit (approve + deposit), withdraw, send |
//! | [`units`] | amounts as people type them (`12.5`, `12.5qcr`, `0.1eth`, `…wei`) and print them |
//! | [`client`] | the client role: [`client::Client`], [`job::Job::builder`] and a submitted job's stream of [`client::JobEvent`]s; buying a deal, reading it from any machine, settling it after its deadline; pools' orders |
//! | [`logs`] | the logs on stderr: human lines, or JSON Lines with `--log-format json` |
//! | [`png`] | a grayscale PNG writer (the demo's picture) |
//! | [`job`] | a job's content and manifest from files; `run-local` on this machine's sandboxes |
//! | [`scheduler`] | the pool scheduler role around `quorate-scheduler`'s core (its store and chain events so far) |
//! | [`hub`] | `quorate hub deploy` (checks first, then the shared deployment through the chain actor) and `quorate hub info` |
//! | [`demo`] | `quorate devnet --demo`: the Mandelbrot example through the pool, its picture and payouts |
//! | [`devnet_pool`] | `quorate devnet`'s pool: the operator's pool, its scheduler and a worker per worker account, in process |
//! | [`devnet`] | `quorate devnet`'s keystores and `devnet.toml` over `quorate_devnet::Devnet` |
//! | [`worker`] | the worker role (`quorate worker run`): joins a pool's scheduler, runs its tasks in sandboxes, votes, reveals and uploads, each held task stored before it is acted on |
//! | [`cli`] | the command line: arguments turned into the calls above |
//! | [`adversary`] | cheating workers for the fault tests (`QUORATE_ADVERSARY`, debug builds only) |
//! | [`crash`] | crash points for the fault tests (`QUORATE_CRASH_AT`, debug builds only) |
//! | [`doctor`] | `quorate doctor`: checks that every tool and library the node needs is installed |
//!
//! ## Data flow of a transaction
//!
//! ```text
//! keystore ──password──▶ signer ──▶ Chain (actor: nonce, gas, fees) ──▶ JSON-RPC node
//!                                         ▲ receipt / named revert ◀──────┘
//! Follower(cursor) ◀── eth_getLogs (confirmed blocks) ──┘   caller stores events + cursor in one Batch
//! ```
//!
//! ## Example
//!
//! ```no_run
//! use quorate_node::{chain::{Chain, ChainConfig}, wallet};
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let signer = wallet::unlock("client.json".as_ref(), b"password")?;
//! let chain = Chain::connect(&ChainConfig::devnet("http://127.0.0.1:8545".parse()?), signer).await?;
//! println!("sending from {}", chain.address());
//! # Ok(()) }
//! ```

pub mod accounts;
pub mod adversary;
pub mod chain;
pub mod cli;
pub mod client;
pub mod config;
pub mod crash;
pub mod demo;
pub mod devnet;
pub mod devnet_pool;
pub mod doctor;
pub mod http;
pub mod hub;
pub mod job;
pub mod logs;
pub mod png;
pub mod scheduler;
pub mod store;
pub mod units;
pub mod wallet;
pub mod worker;

/// Now, in unix seconds (0 before 1970: never on a running machine).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
