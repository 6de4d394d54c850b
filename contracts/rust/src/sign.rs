//! What the pool owner signs: EIP-712 pool orders and job consents, and EIP-191 task
//! authorizations, in the exact form the Hub checks (65-byte `r ‖ s ‖ v` signatures, `v` in
//! {27, 28}).

use alloy::{
    primitives::{Address, B256, Bytes},
    signers::SignerSync,
    sol_types::{Eip712Domain, SolStruct, eip712_domain},
};
use quorate_primitives::TaskAuthorization;

use crate::{Error, bindings::IHub::PoolOrder};

alloy::sol! {
    /// The pool owner's consent to one job (the Hub's EIP-712 type `JobConsent`): `matchOrders`
    /// needs it besides the order, and uses it once.
    #[derive(Debug, PartialEq, Eq)]
    struct JobConsent {
        /// `hashPoolOrder(order)` of the order the job is bought from.
        bytes32 orderHash;
        /// The request's job hash.
        bytes32 jobHash;
        /// The only client that may match with it.
        address client;
        /// The exact number of tasks of the deal.
        uint32 taskCount;
    }
}

/// The Hub's EIP-712 domain name.
pub const HUB_DOMAIN_NAME: &str = "Quorate Hub";
/// The Hub's EIP-712 domain version.
pub const HUB_DOMAIN_VERSION: &str = "1";

/// The EIP-712 domain of the Hub deployed at `hub` on chain `chain_id`.
pub fn hub_domain(chain_id: u64, hub: Address) -> Eip712Domain {
    eip712_domain! {
        name: HUB_DOMAIN_NAME,
        version: HUB_DOMAIN_VERSION,
        chain_id: chain_id,
        verifying_contract: hub,
    }
}

/// The digest a pool owner signs for `order` (the Hub's `hashPoolOrder`).
pub fn pool_order_digest(order: &PoolOrder, domain: &Eip712Domain) -> B256 {
    order.eip712_signing_hash(domain)
}

/// Signs `order` for the Hub of `domain`.
pub fn sign_pool_order<S: SignerSync + ?Sized>(
    signer: &S,
    order: &PoolOrder,
    domain: &Eip712Domain,
) -> Result<Bytes, Error> {
    let signature = signer
        .sign_hash_sync(&pool_order_digest(order, domain))
        .map_err(|source| Error::Signer { what: "pool order", source: Box::new(source) })?;
    Ok(Bytes::from(signature.as_bytes()))
}

/// The digest a pool owner signs for `consent` (the Hub's `hashJobConsent`).
pub fn job_consent_digest(consent: &JobConsent, domain: &Eip712Domain) -> B256 {
    consent.eip712_signing_hash(domain)
}

/// Signs the pool owner's consent to one job for the Hub of `domain`.
pub fn sign_job_consent<S: SignerSync + ?Sized>(
    signer: &S,
    consent: &JobConsent,
    domain: &Eip712Domain,
) -> Result<Bytes, Error> {
    let signature = signer
        .sign_hash_sync(&job_consent_digest(consent, domain))
        .map_err(|source| Error::Signer { what: "job consent", source: Box::new(source) })?;
    Ok(Bytes::from(signature.as_bytes()))
}

/// The pool owner's authorization as the Hub's `contribute` takes it: the 65 signature bytes
/// of [`TaskAuthorization::sign`] (one type for every crate, in `quorate-primitives`).
pub fn authorization_bytes<S: SignerSync + ?Sized>(
    signer: &S,
    authorization: &TaskAuthorization,
) -> Result<Bytes, Error> {
    authorization
        .sign(signer)
        .map(|signature| Bytes::copy_from_slice(&signature))
        .map_err(|e| Error::Authorization { reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::{Signature, U256, aliases::U96},
        signers::local::PrivateKeySigner,
    };

    use quorate_primitives::TaskId;

    use super::*;

    fn order() -> PoolOrder {
        PoolOrder {
            pool: 1,
            price: U96::from(100u8),
            volume: 10,
            category: 0,
            trust: 5,
            tag: B256::ZERO,
            requester: Address::ZERO,
            expiry: 1_800_000_000,
            salt: B256::repeat_byte(1),
            workerStakeRatio: 30,
            schedulerRewardRatio: 10,
        }
    }

    #[test]
    fn the_order_type_is_the_hubs() {
        assert_eq!(
            PoolOrder::eip712_encode_type(),
            "PoolOrder(uint64 pool,uint96 price,uint32 volume,uint8 category,uint32 trust,\
             bytes32 tag,address requester,uint64 expiry,bytes32 salt,uint8 workerStakeRatio,\
             uint8 schedulerRewardRatio)"
        );
        assert_eq!(
            JobConsent::eip712_encode_type(),
            "JobConsent(bytes32 orderHash,bytes32 jobHash,address client,uint32 taskCount)"
        );
    }

    #[test]
    fn a_consent_recovers_to_the_pool_owner_and_names_its_job() {
        let owner = PrivateKeySigner::random();
        let domain = hub_domain(31_337, Address::repeat_byte(0x11));
        let consent = JobConsent {
            orderHash: pool_order_digest(&order(), &domain),
            jobHash: B256::repeat_byte(0x42),
            client: Address::repeat_byte(0xc1),
            taskCount: 10,
        };
        let sig = sign_job_consent(&owner, &consent, &domain).unwrap_or_else(|e| panic!("{e}"));
        let parsed = Signature::try_from(sig.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        let digest = job_consent_digest(&consent, &domain);
        let recovered =
            parsed.recover_address_from_prehash(&digest).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recovered, owner.address());
        let other = JobConsent { taskCount: 11, ..consent };
        assert_ne!(digest, job_consent_digest(&other, &domain), "the task count is signed");
    }

    #[test]
    fn a_later_round_signs_another_message() {
        let owner = PrivateKeySigner::random();
        let first = TaskAuthorization::first_round(
            Address::repeat_byte(0x77),
            TaskId(B256::from(U256::from(9u8))),
        );
        let later = TaskAuthorization { round: 1_700_000_200, ..first };
        assert_ne!(later.message(), first.message());
        let sig = authorization_bytes(&owner, &later).unwrap_or_else(|e| panic!("{e}"));
        let parsed = Signature::try_from(sig.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        let recovered = parsed
            .recover_address_from_msg(later.message().as_slice())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recovered, owner.address());
    }

    #[test]
    fn an_order_signature_recovers_to_the_pool_owner() {
        let owner = PrivateKeySigner::random();
        let domain = hub_domain(31_337, Address::repeat_byte(0x11));
        let sig = sign_pool_order(&owner, &order(), &domain).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sig.len(), 65);
        assert!(sig[64] == 27 || sig[64] == 28, "v is 27 or 28");
        let parsed = Signature::try_from(sig.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        let digest = pool_order_digest(&order(), &domain);
        let recovered =
            parsed.recover_address_from_prehash(&digest).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recovered, owner.address());
        // another Hub, another chain: another digest
        let other = hub_domain(1, Address::repeat_byte(0x11));
        assert_ne!(digest, pool_order_digest(&order(), &other));
    }

    #[test]
    fn an_authorization_is_personal_sign_over_the_32_byte_message() {
        let owner = PrivateKeySigner::random();
        let auth = TaskAuthorization::first_round(
            Address::repeat_byte(0x77),
            TaskId(B256::from(U256::from(9u8))),
        );
        let sig = authorization_bytes(&owner, &auth).unwrap_or_else(|e| panic!("{e}"));
        let parsed = Signature::try_from(sig.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        let recovered = parsed
            .recover_address_from_msg(auth.message().as_slice())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recovered, owner.address(), "EIP-191 over the 32 bytes");
    }
}
