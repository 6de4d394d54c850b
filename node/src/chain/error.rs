//! What can go wrong talking to the chain, each said as one sentence with what to do.

use alloy::{
    primitives::{Address, B256, U256},
    transports::{RpcError, TransportErrorKind},
};

use super::revert::{self, Refusal};
use crate::units::{Currency, short};

/// A chain operation's failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    /// The RPC endpoint does not answer.
    #[error(
        "cannot reach the chain at {url} ({reason}): is the node running? (`quorate devnet` starts a local one)"
    )]
    Unreachable {
        /// The endpoint.
        url: String,
        /// The transport's error.
        reason: String,
    },
    /// The endpoint serves another chain than configured.
    #[error(
        "the node at {url} is chain {actual}, the configuration expects chain {expected}: fix chain.chain_id or chain.rpc_url"
    )]
    WrongChain {
        /// The endpoint.
        url: String,
        /// The configured chain id.
        expected: u64,
        /// The node's chain id.
        actual: u64,
    },
    /// A contract refused the call (in simulation or when mined).
    #[error("{}", refusal.sentence)]
    Reverted {
        /// The decoded refusal.
        refusal: Refusal,
        /// The mined transaction, when it got that far.
        tx: Option<B256>,
    },
    /// The account cannot pay for gas.
    #[error("{account} holds {} ETH, the transaction needs up to {} ETH for gas: send it some ETH", short(*balance, Currency::Eth), short(*needed, Currency::Eth))]
    InsufficientGasFunds {
        /// The sender.
        account: Address,
        /// Its ETH balance.
        balance: U256,
        /// gas limit × max fee.
        needed: U256,
    },
    /// The node answered with an error that is not a revert.
    #[error("the chain node refused {op}: {reason}")]
    Rpc {
        /// The call.
        op: &'static str,
        /// The node's message.
        reason: String,
    },
    /// Another transaction from the same account took this one's nonce (another process
    /// sends with the same key).
    #[error(
        "transaction with nonce {nonce} was replaced by another transaction from the same account: is another process using this key?"
    )]
    NonceTaken {
        /// The nonce.
        nonce: u64,
    },
    /// The chain's history no longer contains the block a cursor was taken at.
    #[error(
        "block {block} changed after it was confirmed (a reorg deeper than {confirmations} confirmations): raise chain.confirmations and rebuild from an earlier cursor"
    )]
    Reorg {
        /// The block whose hash changed.
        block: u64,
        /// The configured depth.
        confirmations: u64,
    },
    /// The chain actor has stopped (the process is shutting down).
    #[error("the chain connection has shut down")]
    Closed,
}

impl ChainError {
    /// Classifies an RPC error from `op` against `url`.
    pub fn from_rpc(op: &'static str, url: &str, e: &RpcError<TransportErrorKind>) -> Self {
        if let Some(payload) = e.as_error_resp() {
            if let Some(data) = payload.as_revert_data() {
                return Self::Reverted { refusal: revert::decode(&data), tx: None };
            }
            return Self::Rpc { op, reason: payload.message.to_string() };
        }
        if e.is_transport_error() {
            return Self::Unreachable { url: url.to_owned(), reason: e.to_string() };
        }
        Self::Rpc { op, reason: e.to_string() }
    }

    /// True when trying again later may succeed (the node was unreachable or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// The decoded revert, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Reverted { refusal, .. } => Some(refusal),
            _ => None,
        }
    }
}
