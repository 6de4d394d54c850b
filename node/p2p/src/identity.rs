//! Identity binding: which Ethereum address stands behind a libp2p peer id, and for what.
//!
//! A peer proves its address with an EIP-191 (`personal_sign`) signature over a short text that
//! names its peer id, its [`Purpose`], the chain id and an expiry. The text is readable, so a
//! wallet that shows it to a person shows what is being signed:
//!
//! ```text
//! Quorate p2p identity v1
//! peer: 12D3KooW…
//! purpose: scheduler of pool 7
//! chain: 31337
//! expires: 1767225600
//! ```
//!
//! A scheduler's proof is only accepted when it is signed by its pool's owner address, so a
//! worker never serves a fake scheduler. A [`JoinCredential`] is the same idea in the other
//! direction: the pool owner signs that one worker address may join a private pool until an
//! expiry.
//!
//! Verification is pure: the caller passes the clock (`now`, unix seconds) and the pool owner it
//! read from the chain.

use std::fmt;

use alloy_primitives::{Address, Signature};
use alloy_signer::SignerSync;
use libp2p::PeerId;

use crate::{
    Error,
    codec::{Reader, Writer},
};

/// Longest peer id accepted in a proof, in bytes (an Ed25519 peer id takes 38).
pub const MAX_PEER_ID_LEN: usize = 64;

pub use quorate_primitives::PoolId;

/// What a peer claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A worker, paid at this address.
    Worker,
    /// The scheduler of one pool: must be proven by the pool owner's address.
    Scheduler {
        /// The pool it schedules.
        pool: PoolId,
    },
    /// A client submitting jobs.
    Client,
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Worker => f.write_str("worker"),
            // `PoolId` displays as "pool 7".
            Self::Scheduler { pool } => write!(f, "scheduler of {pool}"),
            Self::Client => f.write_str("client"),
        }
    }
}

impl Purpose {
    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            Self::Worker => w.u8(0),
            Self::Client => w.u8(1),
            Self::Scheduler { pool } => {
                w.u8(2);
                w.u64(pool.0);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        match r.u8("purpose")? {
            0 => Ok(Self::Worker),
            1 => Ok(Self::Client),
            2 => Ok(Self::Scheduler { pool: PoolId(r.u64("purpose.pool")?) }),
            tag => Err(Error::InvalidTag { field: "purpose", tag }),
        }
    }
}

/// What a verifier accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// The chain this network settles on.
    pub chain_id: u64,
    /// The longest remaining validity accepted, seconds: a proof valid for years is refused, so
    /// a leaked one does not live forever.
    pub max_validity_s: u64,
}

/// A peer whose proof verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedPeer {
    /// The Ethereum address behind the peer.
    pub address: Address,
    /// What it proved to be.
    pub purpose: Purpose,
    /// When the proof expires, unix seconds.
    pub expires_at: u64,
}

impl VerifiedPeer {
    /// Refuses a peer that proved another purpose than `expected`.
    pub fn require(&self, expected: Purpose) -> Result<(), Error> {
        if self.purpose == expected {
            Ok(())
        } else {
            Err(Error::WrongPurpose { expected, found: self.purpose })
        }
    }

    /// Refuses a scheduler whose address is not `owner`, the pool's owner read from the chain.
    /// Peers of other purposes pass unchanged.
    pub fn check_owner(&self, owner: Address) -> Result<(), Error> {
        match self.purpose {
            Purpose::Scheduler { pool } if self.address != owner => {
                Err(Error::NotPoolOwner { pool, owner, signer: self.address })
            }
            _ => Ok(()),
        }
    }
}

/// A signed statement that `address` runs `peer` for `purpose` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProof {
    /// The peer id's bytes (its multihash).
    pub peer: Vec<u8>,
    /// The address claimed.
    pub address: Address,
    /// The purpose claimed.
    pub purpose: Purpose,
    /// The chain id.
    pub chain_id: u64,
    /// Expiry, unix seconds.
    pub expires_at: u64,
    /// EIP-191 signature over [`IdentityProof::message`], 65 bytes `r ‖ s ‖ v`.
    pub signature: [u8; 65],
}

/// Renders a peer id's bytes for the signed text (base58, as libp2p prints peer ids).
fn peer_text(peer: &[u8]) -> String {
    PeerId::from_bytes(peer)
        .map_or_else(|_| format!("0x{}", alloy_primitives::hex::encode(peer)), |p| p.to_base58())
}

/// Recovers the signer of an EIP-191 message, refusing malformed and malleable (high-s)
/// signatures.
fn recover(signature: &[u8; 65], message: &[u8]) -> Result<Address, Error> {
    let sig = Signature::from_raw_array(signature)
        .map_err(|e| Error::BadSignature { reason: e.to_string() })?;
    if sig.normalize_s().is_some() {
        return Err(Error::BadSignature { reason: "s is not in the lower half order".into() });
    }
    sig.recover_address_from_msg(message).map_err(|e| Error::BadSignature { reason: e.to_string() })
}

fn check_expiry(expires_at: u64, now: u64, max_validity_s: u64) -> Result<(), Error> {
    if expires_at <= now {
        return Err(Error::Expired { expires_at, now });
    }
    if expires_at.saturating_sub(now) > max_validity_s {
        return Err(Error::ExpiryTooFar { expires_at, max_validity_s });
    }
    Ok(())
}

impl IdentityProof {
    /// The text that is signed (before EIP-191 prefixing).
    pub fn message(&self) -> String {
        format!(
            "Quorate p2p identity v1\npeer: {}\npurpose: {}\nchain: {}\nexpires: {}",
            peer_text(&self.peer),
            self.purpose,
            self.chain_id,
            self.expires_at
        )
    }

    /// Signs a proof for `peer` with `signer`.
    pub fn sign<S: SignerSync + ?Sized>(
        signer: &S,
        address: Address,
        peer: &PeerId,
        purpose: Purpose,
        chain_id: u64,
        expires_at: u64,
    ) -> Result<Self, Error> {
        let mut proof = Self {
            peer: peer.to_bytes(),
            address,
            purpose,
            chain_id,
            expires_at,
            signature: [0; 65],
        };
        let sig = signer
            .sign_message_sync(proof.message().as_bytes())
            .map_err(|e| Error::Signing { reason: e.to_string() })?;
        proof.signature = sig.as_bytes();
        Ok(proof)
    }

    /// Verifies the proof presented on a connection to `peer`: signature, peer id, chain and
    /// expiry. Purpose and pool ownership are checked on the result
    /// ([`VerifiedPeer::require`], [`VerifiedPeer::check_owner`]).
    pub fn verify(
        &self,
        peer: &PeerId,
        now: u64,
        policy: &VerifyPolicy,
    ) -> Result<VerifiedPeer, Error> {
        let recovered = recover(&self.signature, self.message().as_bytes())?;
        if recovered != self.address {
            return Err(Error::SignerMismatch { claimed: self.address, recovered });
        }
        if self.peer != peer.to_bytes() {
            return Err(Error::WrongPeer);
        }
        if self.chain_id != policy.chain_id {
            return Err(Error::WrongChain { expected: policy.chain_id, found: self.chain_id });
        }
        check_expiry(self.expires_at, now, policy.max_validity_s)?;
        Ok(VerifiedPeer {
            address: self.address,
            purpose: self.purpose,
            expires_at: self.expires_at,
        })
    }

    /// [`verify`](Self::verify), then the purpose and, for a scheduler, the pool's owner.
    pub fn verify_as(
        &self,
        peer: &PeerId,
        now: u64,
        policy: &VerifyPolicy,
        expected: Purpose,
        pool_owner: Option<Address>,
    ) -> Result<VerifiedPeer, Error> {
        let verified = self.verify(peer, now, policy)?;
        verified.require(expected)?;
        if let Some(owner) = pool_owner {
            verified.check_owner(owner)?;
        }
        Ok(verified)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bytes("proof.peer", &self.peer, MAX_PEER_ID_LEN);
        w.address(&self.address);
        self.purpose.encode(w);
        w.u64(self.chain_id);
        w.u64(self.expires_at);
        w.raw(&self.signature);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            peer: r.bytes("proof.peer", MAX_PEER_ID_LEN)?.to_vec(),
            address: r.address("proof.address")?,
            purpose: Purpose::decode(r)?,
            chain_id: r.u64("proof.chain_id")?,
            expires_at: r.u64("proof.expires_at")?,
            signature: r.fixed("proof.signature")?,
        })
    }
}

/// Bytes of an encoded [`JoinCredential`]: pool, worker, chain, expiry and signature.
const CREDENTIAL_LEN: usize = 8 + 20 + 8 + 8 + 65;

/// The pool owner's permission for one worker address to join a private pool until an expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinCredential {
    /// The pool.
    pub pool: PoolId,
    /// The worker allowed in.
    pub worker: Address,
    /// The chain id.
    pub chain_id: u64,
    /// Expiry, unix seconds.
    pub expires_at: u64,
    /// The pool owner's EIP-191 signature over [`JoinCredential::message`].
    pub signature: [u8; 65],
}

impl JoinCredential {
    /// The text that is signed (before EIP-191 prefixing).
    pub fn message(&self) -> String {
        format!(
            "Quorate pool join credential v1\npool: {}\nworker: {}\nchain: {}\nexpires: {}",
            self.pool, self.worker, self.chain_id, self.expires_at
        )
    }

    /// The pool owner signs a credential for `worker`.
    pub fn sign<S: SignerSync + ?Sized>(
        owner: &S,
        pool: PoolId,
        worker: Address,
        chain_id: u64,
        expires_at: u64,
    ) -> Result<Self, Error> {
        let mut credential = Self { pool, worker, chain_id, expires_at, signature: [0; 65] };
        let sig = owner
            .sign_message_sync(credential.message().as_bytes())
            .map_err(|e| Error::Signing { reason: e.to_string() })?;
        credential.signature = sig.as_bytes();
        Ok(credential)
    }

    /// Verifies the credential presented by `worker` for `pool`, owned on-chain by `owner`.
    pub fn verify(
        &self,
        pool: PoolId,
        owner: Address,
        worker: Address,
        now: u64,
        policy: &VerifyPolicy,
    ) -> Result<(), Error> {
        let signer = recover(&self.signature, self.message().as_bytes())?;
        if self.pool != pool || signer != owner {
            return Err(Error::NotPoolOwner { pool, owner, signer });
        }
        if self.worker != worker {
            return Err(Error::WrongWorker { expected: worker, found: self.worker });
        }
        if self.chain_id != policy.chain_id {
            return Err(Error::WrongChain { expected: policy.chain_id, found: self.chain_id });
        }
        check_expiry(self.expires_at, now, policy.max_validity_s)
    }

    /// The credential as text to hand its worker: `0x` and the hex of its bytes.
    pub fn to_text(&self) -> String {
        let mut w = Writer::with_capacity(CREDENTIAL_LEN);
        self.encode(&mut w);
        // Fixed-size fields only: encoding cannot fail.
        alloy_primitives::hex::encode_prefixed(w.finish().unwrap_or_default())
    }

    /// Reads [`JoinCredential::to_text`]'s form; the error says what is wrong with the text.
    pub fn from_text(text: &str) -> Result<Self, String> {
        let bytes = alloy_primitives::hex::decode(text.trim())
            .map_err(|e| format!("not hexadecimal ({e})"))?;
        if bytes.len() != CREDENTIAL_LEN {
            return Err(format!("{} bytes where a credential has {CREDENTIAL_LEN}", bytes.len()));
        }
        let mut r = Reader::new(&bytes);
        let credential = Self::decode(&mut r).map_err(|e| e.to_string())?;
        r.finish().map_err(|e| e.to_string())?;
        Ok(credential)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u64(self.pool.0);
        w.address(&self.worker);
        w.u64(self.chain_id);
        w.u64(self.expires_at);
        w.raw(&self.signature);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Self {
            pool: PoolId(r.u64("credential.pool")?),
            worker: r.address("credential.worker")?,
            chain_id: r.u64("credential.chain_id")?,
            expires_at: r.u64("credential.expires_at")?,
            signature: r.fixed("credential.signature")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use alloy_signer_local::PrivateKeySigner;
    use libp2p::identity::Keypair;

    use super::*;

    const NOW: u64 = 1_800_000_000;
    const POLICY: VerifyPolicy = VerifyPolicy { chain_id: 31337, max_validity_s: 86_400 };

    fn key(byte: u8) -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&alloy_primitives::B256::repeat_byte(byte)).unwrap()
    }

    fn peer(byte: u8) -> PeerId {
        Keypair::ed25519_from_bytes([byte; 32]).unwrap().public().to_peer_id()
    }

    fn prove(signer: &PrivateKeySigner, peer: &PeerId, purpose: Purpose) -> IdentityProof {
        IdentityProof::sign(signer, signer.address(), peer, purpose, 31337, NOW + 3600).unwrap()
    }

    #[test]
    fn a_real_signature_verifies_and_names_the_signer() {
        let (signer, peer) = (key(1), peer(1));
        let proof = prove(&signer, &peer, Purpose::Worker);
        let verified = proof.verify(&peer, NOW, &POLICY).unwrap();
        assert_eq!(
            verified,
            VerifiedPeer {
                address: signer.address(),
                purpose: Purpose::Worker,
                expires_at: NOW + 3600
            }
        );
        assert!(proof.message().starts_with("Quorate p2p identity v1\npeer: 12D3KooW"));
        assert!(proof.message().contains("\npurpose: worker\nchain: 31337\n"));
        let scheduler = prove(&signer, &peer, Purpose::Scheduler { pool: PoolId(7) });
        assert!(scheduler.message().contains("\npurpose: scheduler of pool 7\n"));
    }

    #[test]
    fn forged_expired_replayed_and_foreign_proofs_are_refused_with_reasons() {
        let (signer, other, peer1) = (key(1), key(2), peer(1));
        // Claims signer's address but signed by another key: a forgery.
        let mut forged = prove(&other, &peer1, Purpose::Worker);
        forged.address = signer.address();
        assert_eq!(
            forged.verify(&peer1, NOW, &POLICY),
            Err(Error::SignerMismatch { claimed: signer.address(), recovered: other.address() })
        );
        // A changed field breaks the signature the same way.
        let mut tampered = prove(&signer, &peer1, Purpose::Worker);
        tampered.purpose = Purpose::Client;
        assert!(matches!(tampered.verify(&peer1, NOW, &POLICY), Err(Error::SignerMismatch { .. })));
        // Garbage signature bytes.
        let mut garbage = prove(&signer, &peer1, Purpose::Worker);
        garbage.signature = [0xff; 65];
        assert!(matches!(garbage.verify(&peer1, NOW, &POLICY), Err(Error::BadSignature { .. })));
        // Replayed by another peer.
        let proof = prove(&signer, &peer1, Purpose::Worker);
        assert_eq!(proof.verify(&peer(2), NOW, &POLICY), Err(Error::WrongPeer));
        // Expired, or valid for too long.
        assert_eq!(
            proof.verify(&peer1, NOW + 3600, &POLICY),
            Err(Error::Expired { expires_at: NOW + 3600, now: NOW + 3600 })
        );
        let long = VerifyPolicy { max_validity_s: 60, ..POLICY };
        assert!(matches!(proof.verify(&peer1, NOW, &long), Err(Error::ExpiryTooFar { .. })));
        // Another chain.
        let mainnet = VerifyPolicy { chain_id: 1, ..POLICY };
        assert_eq!(
            proof.verify(&peer1, NOW, &mainnet),
            Err(Error::WrongChain { expected: 1, found: 31337 })
        );
    }

    #[test]
    fn purpose_and_pool_ownership_are_enforced() {
        let (owner, intruder, peer) = (key(1), key(2), peer(1));
        let pool = PoolId(7);
        let scheduler = Purpose::Scheduler { pool };
        let good = prove(&owner, &peer, scheduler);
        assert!(good.verify_as(&peer, NOW, &POLICY, scheduler, Some(owner.address())).is_ok());
        // A scheduler proof not from the pool's owner.
        let fake = prove(&intruder, &peer, scheduler);
        assert_eq!(
            fake.verify_as(&peer, NOW, &POLICY, scheduler, Some(owner.address())),
            Err(Error::NotPoolOwner { pool, owner: owner.address(), signer: intruder.address() })
        );
        // Mismatched purpose: a worker proof where a scheduler is required, or another pool.
        let worker = prove(&owner, &peer, Purpose::Worker);
        assert_eq!(
            worker.verify_as(&peer, NOW, &POLICY, scheduler, None),
            Err(Error::WrongPurpose { expected: scheduler, found: Purpose::Worker })
        );
        let other_pool = Purpose::Scheduler { pool: PoolId(8) };
        assert!(matches!(
            good.verify_as(&peer, NOW, &POLICY, other_pool, None),
            Err(Error::WrongPurpose { .. })
        ));
    }

    #[test]
    fn join_credentials_bind_pool_worker_and_expiry() {
        let (owner, intruder) = (key(1), key(2));
        let (worker, pool) = (Address::repeat_byte(9), PoolId(7));
        let credential = JoinCredential::sign(&owner, pool, worker, 31337, NOW + 60).unwrap();
        assert_eq!(credential.verify(pool, owner.address(), worker, NOW, &POLICY), Ok(()));
        // As text, for the worker's configuration: read back exactly, anything else refused.
        let text = credential.to_text();
        assert_eq!(JoinCredential::from_text(&format!(" {text}\n")), Ok(credential.clone()));
        assert!(
            JoinCredential::from_text(&text[..text.len() - 2]).unwrap_err().contains("108 bytes")
        );
        assert!(JoinCredential::from_text("0xzz").unwrap_err().contains("not hexadecimal"));
        assert!(matches!(
            credential.verify(pool, owner.address(), Address::repeat_byte(1), NOW, &POLICY),
            Err(Error::WrongWorker { .. })
        ));
        assert!(matches!(
            credential.verify(pool, owner.address(), worker, NOW + 61, &POLICY),
            Err(Error::Expired { .. })
        ));
        let stolen = JoinCredential::sign(&intruder, pool, worker, 31337, NOW + 60).unwrap();
        assert!(matches!(
            stolen.verify(pool, owner.address(), worker, NOW, &POLICY),
            Err(Error::NotPoolOwner { .. })
        ));
        let other_pool = PoolId(8);
        assert!(matches!(
            credential.verify(other_pool, owner.address(), worker, NOW, &POLICY),
            Err(Error::NotPoolOwner { .. })
        ));
    }
}
