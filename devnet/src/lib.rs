//! # quorate-devnet
//!
//! A whole Quorate network on one machine, started from code so that the CLI
//! (`quorate devnet`) and the tests use the same API (docs/architecture.md §8): every part
//! listens on loopback with port 0 and is stopped when its handle drops.
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`anvil`] | [`Anvil`]: a real anvil chain on `127.0.0.1:<free port>`, killed on drop |
//! | [`network`] | [`Devnet`]: anvil with the token and Hub deployed (`quorate_contracts::deploy::deploy_hub`, as `quorate hub deploy` does on any chain), categories registered and named accounts funded |
//!
//! The roles (scheduler, workers, clients) run on top of a [`Devnet`] from `quorate-node`,
//! which depends on this crate: `quorate devnet` is the node's command over [`Devnet::spawn`].
//!
//! ## Example
//!
//! ```no_run
//! use quorate_devnet::{Anvil, AnvilConfig};
//!
//! # async fn demo() -> Result<(), quorate_devnet::DevnetError> {
//! let chain = Anvil::spawn(AnvilConfig::default())?;
//! assert_eq!(chain.chain_id().await?, 31337);
//! println!("RPC at {}", chain.endpoint());
//! # Ok(()) }
//! ```

pub mod anvil;
pub mod network;

pub use anvil::{Anvil, AnvilConfig};
pub use network::{DevAccount, Devnet, DevnetConfig, Role};

/// Why a devnet part could not be started or reached.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// A Foundry binary is not installed.
    #[error(transparent)]
    ToolNotFound(#[from] quorate_contracts::foundry::ToolNotFound),
    /// The process could not be started.
    #[error("cannot start {tool}: {source}")]
    Spawn {
        /// The binary's name.
        tool: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The process exited or stayed silent before saying where it listens.
    #[error("{tool} did not come up within {waited:?}; its last output: {output}")]
    NotReady {
        /// The binary's name.
        tool: &'static str,
        /// How long we waited.
        waited: std::time::Duration,
        /// The tail of what it printed.
        output: String,
    },
    /// A deployment transaction was mined but did not do what it was sent for.
    #[error(transparent)]
    Contract(#[from] quorate_contracts::Error),
    /// A JSON-RPC call failed on the transport or was answered with an error.
    #[error("JSON-RPC {method} failed: {reason}")]
    Rpc {
        /// The method called.
        method: String,
        /// What went wrong.
        reason: String,
    },
}
