//! The crate's error type.

use std::path::PathBuf;

use alloy::primitives::B256;

use crate::{artifact::ArtifactError, foundry::ToolNotFound};

/// Everything that can go wrong deploying, signing for or calling the contracts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A forge artifact could not be read.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// A Foundry binary is not installed.
    #[error(transparent)]
    Tool(#[from] ToolNotFound),
    /// A contract call or deployment failed before it was mined (RPC error, revert in the
    /// node's simulation, ABI decoding).
    #[error("{op}: {source}")]
    Contract {
        /// What was being done.
        op: &'static str,
        /// alloy's error.
        #[source]
        source: Box<alloy::contract::Error>,
    },
    /// A sent transaction could not be followed to its receipt.
    #[error("{op}: waiting for the receipt failed: {source}")]
    Receipt {
        /// What was being done.
        op: &'static str,
        /// alloy's error.
        #[source]
        source: Box<alloy::providers::PendingTransactionError>,
    },
    /// A transaction was mined but reverted.
    #[error("{op}: transaction {tx} reverted")]
    Reverted {
        /// What was being done.
        op: &'static str,
        /// The transaction's hash.
        tx: B256,
    },
    /// Categories were not registered as sent (out of order, or not at all).
    #[error("createCategory: {0}")]
    Categories(String),
    /// A deployment's receipt carries no contract address.
    #[error("{op}: the receipt has no contract address")]
    NoContractAddress {
        /// What was being deployed.
        op: &'static str,
    },
    /// A signer refused to sign.
    #[error("signing {what}: {source}")]
    Signer {
        /// What was being signed.
        what: &'static str,
        /// alloy's error.
        #[source]
        source: Box<alloy::signers::Error>,
    },
    /// A task authorization could not be signed.
    #[error("signing a task authorization: {reason}")]
    Authorization {
        /// What went wrong.
        reason: String,
    },
    /// The ABI or bytecode checked in under `abi/` is not what forge builds from the sources.
    #[error(
        "abi/{contract}.json is stale ({what} differs from forge's build): regenerate it with \
         QUORATE_UPDATE_ABI=1 cargo nextest run -p quorate-contracts checked_in"
    )]
    Drift {
        /// The contract.
        contract: String,
        /// What differs: "abi", "bytecode" or "deployedBytecode".
        what: &'static str,
    },
    /// A checked-in artifact could not be read, parsed or written.
    #[error("{}: {reason}", .path.display())]
    CheckedIn {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}
