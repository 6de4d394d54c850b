//! The crate's one error type, with classifiers the event loop uses to score peers.

use alloy_primitives::Address;
use libp2p::PeerId;
use quorate_primitives::ContentHash;

use crate::identity::{PoolId, Purpose};

/// Why something was refused or failed. Structured, so callers branch on reasons, not strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // ---- frames and messages (always the sender's fault) ----
    /// The version byte is not one this code speaks.
    #[error("unsupported wire version {found} (this node speaks {})", crate::frame::VERSION)]
    UnsupportedVersion {
        /// The version received.
        found: u8,
    },
    /// A frame's declared or given payload is larger than the cap.
    #[error("frame payload of {len} bytes exceeds the cap of {max}")]
    FrameTooLarge {
        /// The declared length.
        len: u64,
        /// The cap in force.
        max: u32,
    },
    /// A message is larger than its kind allows.
    #[error("{kind} of {len} bytes exceeds its cap of {max}")]
    MessageTooLarge {
        /// The message kind.
        kind: &'static str,
        /// Its encoded length.
        len: usize,
        /// The kind's cap.
        max: usize,
    },
    /// The bytes end in the middle of a field.
    #[error("message truncated in field `{field}`")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes follow the last field this version knows: an unknown field.
    #[error("{count} unknown trailing bytes after the last field")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
    /// A variable-length field is over its cap.
    #[error("field `{field}` has {len} items or bytes, more than its cap of {max}")]
    FieldTooLarge {
        /// The field.
        field: &'static str,
        /// Its declared length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// A text field is not UTF-8.
    #[error("field `{field}` is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// An enum or option tag has no meaning.
    #[error("field `{field}` has unknown tag {tag}")]
    InvalidTag {
        /// The field.
        field: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// The message kind is not one this version knows.
    #[error("unknown message kind {tag}")]
    UnknownKind {
        /// The kind tag found.
        tag: u8,
    },

    // ---- identity proofs and credentials ----
    /// The signature bytes do not recover to any address.
    #[error("signature is malformed: {reason}")]
    BadSignature {
        /// What the recovery said.
        reason: String,
    },
    /// The signature recovers to another address than the one claimed: a forgery.
    #[error("signed by {recovered}, not by the claimed {claimed}")]
    SignerMismatch {
        /// The address the proof claims.
        claimed: Address,
        /// The address the signature recovers to.
        recovered: Address,
    },
    /// The proof names another peer id than the connection's: a replayed proof.
    #[error("proof is for another peer id")]
    WrongPeer,
    /// The proof or credential expired.
    #[error("expired at {expires_at} (now {now})")]
    Expired {
        /// Expiry, unix seconds.
        expires_at: u64,
        /// The verifier's clock, unix seconds.
        now: u64,
    },
    /// The expiry is further away than a verifier accepts.
    #[error("expiry {expires_at} is further away than the accepted {max_validity_s} s")]
    ExpiryTooFar {
        /// Expiry, unix seconds.
        expires_at: u64,
        /// The longest validity accepted, seconds.
        max_validity_s: u64,
    },
    /// The proof was made for another chain.
    #[error("proof is for chain {found}, this network is chain {expected}")]
    WrongChain {
        /// The verifier's chain id.
        expected: u64,
        /// The proof's chain id.
        found: u64,
    },
    /// The proof declares another purpose than the one required.
    #[error("peer proves purpose {found}, {expected} was required")]
    WrongPurpose {
        /// The purpose required.
        expected: Purpose,
        /// The purpose proven.
        found: Purpose,
    },
    /// A scheduler's proof (or a pool-signed credential) is not signed by the pool's owner.
    #[error("{pool} is owned by {owner}, but the proof is signed by {signer}")]
    NotPoolOwner {
        /// The pool.
        pool: PoolId,
        /// Its owner.
        owner: Address,
        /// Who signed.
        signer: Address,
    },
    /// A join credential is for another worker or pool.
    #[error("credential is for worker {found} of its pool, not for {expected}")]
    WrongWorker {
        /// The worker presenting it.
        expected: Address,
        /// The worker it names.
        found: Address,
    },
    /// A signer failed to sign.
    #[error("signing failed: {reason}")]
    Signing {
        /// The signer's error.
        reason: String,
    },

    // ---- peers and the network ----
    /// A peer sent a message before proving its identity.
    #[error("peer {peer} sent a message before proving its identity")]
    NotVerified {
        /// The peer.
        peer: PeerId,
    },
    /// A peer broke the protocol (wrong role for a message, unexpected response, …).
    #[error("protocol violation: {reason}")]
    ProtocolViolation {
        /// What was wrong.
        reason: &'static str,
    },
    /// A peer sent more than its rate allows.
    #[error("peer {peer} exceeded its rate limit")]
    RateLimited {
        /// The peer.
        peer: PeerId,
    },
    /// The peer is banned until its ban expires.
    #[error("peer {peer} is banned")]
    Banned {
        /// The peer.
        peer: PeerId,
    },
    /// The remote answered with a refusal.
    #[error("refused by the remote: {reason}")]
    Refused {
        /// The remote's reason.
        reason: String,
    },
    /// A request could not complete (timeout, connection closed, dial failure).
    #[error("request failed: {reason}")]
    Request {
        /// What libp2p reported.
        reason: String,
    },
    /// Listening, dialing or building the transport failed.
    #[error("transport: {reason}")]
    Transport {
        /// What libp2p reported.
        reason: String,
    },
    /// Fetched bytes do not hash to the content hash asked for.
    #[error("content {expected} failed its hash check")]
    ContentMismatch {
        /// The hash asked for.
        expected: ContentHash,
    },
    /// No peer could deliver the content.
    #[error("content {hash} is unavailable: {reason}")]
    ContentUnavailable {
        /// The hash asked for.
        hash: ContentHash,
        /// Why the last try failed.
        reason: String,
    },
    /// A public blob's access cannot be narrowed by revoking one address.
    #[error("content {hash} is public: access to it cannot be revoked")]
    PublicContent {
        /// The blob.
        hash: ContentHash,
    },
    /// Content is larger than this node accepts or stores.
    #[error("content of {size} bytes exceeds the cap of {max}")]
    ContentTooLarge {
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The event loop has stopped.
    #[error("the p2p event loop has stopped")]
    Shutdown,
}

impl Error {
    /// True when the peer that caused this should be penalised: it sent something no honest
    /// implementation sends.
    pub fn is_bad_peer(&self) -> bool {
        self.is_malformed()
            || matches!(
                self,
                Self::BadSignature { .. }
                    | Self::SignerMismatch { .. }
                    | Self::WrongPeer
                    | Self::NotPoolOwner { .. }
                    | Self::NotVerified { .. }
                    | Self::ProtocolViolation { .. }
                    | Self::RateLimited { .. }
                    | Self::ContentMismatch { .. }
            )
    }

    /// True when trying again (later, or with another peer) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Request { .. } | Self::ContentUnavailable { .. } | Self::Banned { .. })
    }

    /// True for a malformed frame or message (a decoding failure).
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedVersion { .. }
                | Self::FrameTooLarge { .. }
                | Self::MessageTooLarge { .. }
                | Self::Truncated { .. }
                | Self::TrailingBytes { .. }
                | Self::FieldTooLarge { .. }
                | Self::InvalidUtf8 { .. }
                | Self::InvalidTag { .. }
                | Self::UnknownKind { .. }
        )
    }
}

impl From<quorate_primitives::Error> for Error {
    /// A shared frame's error in this crate's terms (the sender's fault either way).
    fn from(e: quorate_primitives::Error) -> Self {
        match e {
            quorate_primitives::Error::FrameVersion { found, .. } => {
                Self::UnsupportedVersion { found }
            }
            quorate_primitives::Error::FrameTooLarge { len, max } => {
                Self::FrameTooLarge { len, max }
            }
            _ => Self::ProtocolViolation { reason: "malformed frame" },
        }
    }
}
