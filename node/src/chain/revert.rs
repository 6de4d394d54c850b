//! Reverts decoded from the contracts' ABI and said as sentences.

use alloy::{
    primitives::{Address, U256},
    sol_types::{Revert, SolError, SolInterface},
};
use quorate_contracts::bindings::{Hub::HubErrors, QuorateCredit::QuorateCreditErrors};

use crate::units::{Currency, short};

/// A revert's data, decoded: the error's name and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The Solidity error's name (`InsufficientFreeBalance`), or `Error`/`Panic`/`unknown`.
    pub name: String,
    /// What it means, in one sentence.
    pub sentence: String,
}

fn qcr(amount: U256) -> String {
    format!("{} QCR", short(amount, Currency::Qcr))
}

fn addr(a: Address) -> String {
    let s = a.to_string();
    format!("{}…{}", &s[..6], &s[s.len() - 4..])
}

/// Decodes revert data returned by the Hub, the credit token, or any contract's
/// `Error(string)`.
pub fn decode(data: &[u8]) -> Refusal {
    if let Ok(e) = HubErrors::abi_decode(data) {
        return hub(&e);
    }
    if let Ok(e) = QuorateCreditErrors::abi_decode(data) {
        return credit(&e);
    }
    if let Ok(r) = Revert::abi_decode(data) {
        return Refusal {
            name: "Error".into(),
            sentence: format!("the contract refused: {}", r.reason),
        };
    }
    Refusal {
        name: "unknown".into(),
        sentence: format!(
            "the contract refused with data it does not describe (0x{})",
            alloy::primitives::hex::encode(data)
        ),
    }
}

fn hub(e: &HubErrors) -> Refusal {
    use HubErrors as H;
    let sentence = match e {
        H::InsufficientFreeBalance(x) => format!(
            "the Hub holds {} free for {}, {} needed: deposit more with `quorate wallet deposit`",
            qcr(x.free),
            addr(x.account),
            short(x.needed, Currency::Qcr)
        ),
        H::ZeroAmount(_) => "the amount is zero: give a positive amount".into(),
        H::AmountTooLarge(x) => {
            format!("{} is more than the Hub can count: give a smaller amount", qcr(x.amount))
        }
        H::ZeroAddress(_) => "the zero address cannot receive credits: check the address".into(),
        H::InsufficientPenaltyBalance(x) => format!(
            "the penalty account holds {}, {} needed",
            qcr(x.balance),
            short(x.needed, Currency::Qcr)
        ),
        H::OrderExpired(x) => {
            format!("the pool order expired at {}: ask the pool for a fresh one", x.expiry)
        }
        H::InvalidOrderSignature(_) => {
            "the pool order's signature is not the pool owner's: fetch the order again".into()
        }
        H::UnknownPool(x) => format!("there is no pool {} on this Hub: check the pool id", x.pool),
        H::NotPoolOwner(x) => {
            format!("{} does not own this pool: use the pool owner's wallet", addr(x.caller))
        }
        H::InvalidCategory(x) => format!("there is no category {} on this Hub", x.category),
        H::OwnableUnauthorizedAccount(x) => {
            format!("{} is not the Hub's owner: only the owner may do this", addr(x.account))
        }
        H::OrderIsCancelled(_) => "the pool cancelled this order: ask the pool for a fresh one".into(),
        H::RequesterNotAllowed(x) => {
            format!("this order is reserved for {}: use that wallet or another order", addr(x.requester))
        }
        H::CategoryMismatch(_) => "the request's category is not the order's: use the order's".into(),
        H::CategoryNotAllowed(x) => format!("the pool does not serve category {}", x.category),
        H::TrustOutOfRange(x) => {
            format!("trust {} is outside what the order offers: ask for less trust or another pool", x.trust)
        }
        H::PriceAboveMax(x) => format!(
            "the pool asks {} per task, above the most you pay ({}): raise --max-price or choose another pool",
            qcr(alloy::primitives::U256::from(x.price)),
            qcr(alloy::primitives::U256::from(x.maxPrice))
        ),
        H::VolumeExhausted(x) => format!(
            "the order has {} of its {} tasks left, {} asked: ask the pool for a fresh order",
            x.volume.saturating_sub(x.consumed),
            x.volume,
            x.requested
        ),
        H::PolicyChanged(_) => {
            "the pool changed its policy since it signed this order: ask the pool for a fresh one".into()
        }
        H::InvalidConsent(_) => {
            "the pool's consent is not for this job, client and task count: offer the job to the pool again".into()
        }
        H::ConsentAlreadyUsed(_) => {
            "the pool's consent to this job was already used for a deal: offer the job again for another deal".into()
        }
        H::UnknownDeal(x) => format!("the Hub has no deal {}: check the deal id", x.dealId),
        H::IndexOutOfDeal(x) => format!("the deal has no task {}", x.index),
        H::WrongTaskStatus(x) => {
            let status = match x.status {
                0 => "not initialized",
                1 => "taking contributions",
                2 => "revealing a consensus",
                3 => "completed",
                _ => "claimed",
            };
            format!("the task is {status}, which this call does not apply to")
        }
        H::ContributionDeadlinePassed(_) => "the task's contribution deadline has passed".into(),
        H::RevealDeadlinePassed(_) => "the task's reveal deadline has passed".into(),
        H::FinalDeadlineNotReached(_) => {
            "the task's final deadline has not passed: it can be claimed only after it".into()
        }
        H::FinalDeadlinePassed(_) => "the task's final deadline has passed: it can only be claimed".into(),
        H::AlreadyContributed(_) => "this worker already voted on the task".into(),
        H::InvalidAuthorization(_) => {
            "the authorization is not the pool owner's for this worker, task and round: ask the pool again".into()
        }
        H::NotAWinner(_) => "this worker did not vote for the task's consensus: there is nothing to reveal".into(),
        H::ResultHashMismatch(_) | H::SealMismatch(_) => {
            "the revealed digest is not the one this worker voted: reveal the stored result".into()
        }
        H::NothingRevealed(_) => "no winner revealed the task's result: it cannot be finalized".into(),
        H::RevealsPending(_) => "winners have yet to reveal: finalize after they do or after the reveal deadline".into(),
        H::AlreadyRevealed(_) => "this worker already revealed its result".into(),
        H::TaskHasReveals(_) => "a result of the task was revealed: finalize it instead of claiming".into(),
        H::TooManyContributors(_) => "the task has its 255 contributors already".into(),
        other => format!("the Hub refused: {}", name_of(other)),
    };
    Refusal { name: name_of(e), sentence }
}

fn credit(e: &QuorateCreditErrors) -> Refusal {
    use QuorateCreditErrors as C;
    let sentence = match e {
        C::ERC20InsufficientBalance(x) => format!(
            "{} holds {} in its wallet, {} needed: get more QCR first",
            addr(x.sender),
            qcr(x.balance),
            short(x.needed, Currency::Qcr)
        ),
        C::ERC20InsufficientAllowance(x) => format!(
            "{} may spend only {} of this wallet's QCR, {} needed: approve more first",
            addr(x.spender),
            qcr(x.allowance),
            short(x.needed, Currency::Qcr)
        ),
        C::ERC20InvalidReceiver(x) => {
            format!("{} cannot receive QCR: check the address", addr(x.receiver))
        }
        C::SupplyCapExceeded(_) => "minting this much would pass the QCR supply cap".into(),
        C::OwnableUnauthorizedAccount(x) => {
            format!("{} is not the token's owner: only the owner may mint", addr(x.account))
        }
        other => format!("the QCR token refused: {other:?}"),
    };
    Refusal { name: credit_name(e).into(), sentence }
}

/// The error's Solidity name, read off its selector.
fn name_of(e: &HubErrors) -> String {
    solidity_name(e.selector(), HubErrors::SELECTORS, HubErrors::SIGNATURES).to_owned()
}

fn credit_name(e: &QuorateCreditErrors) -> &'static str {
    solidity_name(e.selector(), QuorateCreditErrors::SELECTORS, QuorateCreditErrors::SIGNATURES)
}

/// The name in `signatures` at the position of `selector` in `selectors`.
fn solidity_name(
    selector: [u8; 4],
    selectors: &[[u8; 4]],
    signatures: &'static [&'static str],
) -> &'static str {
    selectors
        .iter()
        .position(|s| *s == selector)
        .and_then(|i| signatures.get(i))
        .map_or("unknown", |sig| sig.split('(').next().unwrap_or(sig))
}

#[cfg(test)]
mod tests {
    use quorate_contracts::bindings::Hub::InsufficientFreeBalance;

    use super::*;

    #[test]
    fn insufficient_free_balance_is_a_sentence() {
        let data = InsufficientFreeBalance {
            account: Address::repeat_byte(0xab),
            free: U256::from(3_200_000_000_000_000_000u128),
            needed: U256::from(5_000_000_000_000_000_000u128),
        }
        .abi_encode();
        let r = decode(&data);
        assert_eq!(r.name, "InsufficientFreeBalance");
        assert!(r.sentence.starts_with("the Hub holds 3.2 QCR free for 0x"), "{}", r.sentence);
        assert!(r.sentence.ends_with(", 5 needed: deposit more with `quorate wallet deposit`"));
    }

    #[test]
    fn unknown_data_is_shown_not_dropped() {
        let r = decode(&[1, 2, 3, 4]);
        assert_eq!(r.name, "unknown");
        assert!(r.sentence.contains("0x01020304"));
        let r = decode(&Revert { reason: "no".into() }.abi_encode());
        assert_eq!(r.sentence, "the contract refused: no");
    }
}
