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
