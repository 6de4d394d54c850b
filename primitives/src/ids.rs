//! Identifiers of deals, tasks and content.
//!
//! Deal and task ids are 32-byte keccak256 values, derived exactly as the contract derives them
//! (`abi.encodePacked`, docs/poco.md "Identifiers and hashes"):
//!
//! - `dealId = keccak256(requestHash ‖ nonce)` with `nonce` a `uint256`;
//! - `taskId = keccak256(dealId ‖ index)` with `index` a `uint256`;
//! - a [`ContentHash`] is the BLAKE3-256 hash of a blob's bytes (job code, inputs, data):
//!   whoever receives bytes checks them against it before use, piece by piece for large blobs
//!   ([`crate::content`]). The chain stores it but never computes it.

use alloy_primitives::{B256, U256, keccak256};

/// Declares a 32-byte identifier newtype with hex `Display`/`FromStr` and transparent serde.
macro_rules! id32 {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub B256);

        impl $name {
            /// The raw 32 bytes.
            pub const fn as_b256(&self) -> &B256 {
                &self.0
            }
        }

        impl From<B256> for $name {
            fn from(value: B256) -> Self {
                Self(value)
            }
        }

        impl From<$name> for B256 {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::Error;

            /// Parses `0x`-prefixed (or bare) hex of exactly 32 bytes.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<B256>()
                    .map(Self)
                    .map_err(|e| crate::Error::Parse { kind: $kind, reason: e.to_string() })
            }
        }
    };
}
pub(crate) use id32;

id32!(
    /// A deal: one client's job matched with one pool order.
    DealId,
    "deal id"
);
id32!(
    /// One task of a deal: the unit that is replicated, voted on and paid.
    TaskId,
    "task id"
);
id32!(
    /// BLAKE3-256 of a content-addressed blob (job code, inputs, data); see [`crate::content`].
    ContentHash,
    "content hash"
);

/// A pool's id on the Hub: the chain's `uint64`, counted from 1 in creation order.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct PoolId(pub u64);

impl std::fmt::Display for PoolId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pool {}", self.0)
    }
}

impl From<u64> for PoolId {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl DealId {
    /// `keccak256(requestHash ‖ nonce)`.
    pub fn derive(request_hash: B256, nonce: U256) -> Self {
        let mut packed = [0u8; 64];
        packed[..32].copy_from_slice(request_hash.as_slice());
        packed[32..].copy_from_slice(&nonce.to_be_bytes::<32>());
        Self(keccak256(packed))
    }
}

impl TaskId {
    /// `keccak256(dealId ‖ uint256(index))`.
    pub fn derive(deal: DealId, index: u64) -> Self {
        let mut packed = [0u8; 64];
        packed[..32].copy_from_slice(deal.0.as_slice());
        packed[32..].copy_from_slice(&U256::from(index).to_be_bytes::<32>());
        Self(keccak256(packed))
    }
}

impl ContentHash {
    /// The BLAKE3-256 hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(B256::from(*blake3::hash(bytes).as_bytes()))
    }

    /// True when `bytes` hash to `self`: the check every receiver of content makes.
    pub fn verifies(&self, bytes: &[u8]) -> bool {
        Self::of(bytes) == *self
    }
}
