//! Amounts as people type and read them: `12.5`, `12.5qcr`, `0.1eth` or an exact
//! `12500000000000000000wei`; printed with their unit and the exact wei beside.

use alloy::primitives::{
    U256,
    utils::{format_units, parse_units},
};

/// Which currency an amount is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Currency {
    /// The Hub's credit, QCR (18 decimals).
    Qcr,
    /// Ether, for gas.
    Eth,
}

impl Currency {
    /// The symbol printed after an amount.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Qcr => "QCR",
            Self::Eth => "ETH",
        }
    }
}

/// A parsed amount: its smallest units, and the currency its suffix named (`None` for a bare
/// number or a `wei` amount, which mean whatever the command counts in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedAmount {
    /// The amount in the smallest unit.
    pub wei: U256,
    /// The currency its suffix named.
    pub currency: Option<Currency>,
}

impl TypedAmount {
    /// The amount in `expected`, or an error if the suffix named the other currency.
    pub fn in_currency(self, expected: Currency) -> Result<U256, String> {
        match self.currency {
            Some(currency) if currency != expected => Err(format!(
                "this command counts in {}, not {}: drop the suffix or write the amount in {}",
                expected.symbol(),
                currency.symbol(),
                expected.symbol()
            )),
            _ => Ok(self.wei),
        }
    }
}

/// Parses `12.5`, `12.5qcr`, `12.5 QCR`, `0.2eth`, `1000wei` or `1e18wei`-free exact integers.
pub fn parse_amount(text: &str) -> Result<TypedAmount, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let (number, currency, exact) = if let Some(n) = lower.strip_suffix("wei") {
        (n.trim(), None, true)
    } else if let Some(n) = lower.strip_suffix("qcr") {
        (n.trim(), Some(Currency::Qcr), false)
    } else if let Some(n) = lower.strip_suffix("eth") {
        (n.trim(), Some(Currency::Eth), false)
    } else {
        (lower.as_str(), None, false)
    };
    let bad = || {
        format!(
            "{text:?} is not an amount: write 12.5 (or 12.5qcr, 0.1eth) with at most 18 decimals, \
             or an exact 12500000000000000000wei"
        )
    };
    if number.is_empty() || number.starts_with('-') || number.starts_with('+') {
        return Err(bad());
    }
    let wei = if exact {
        if !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        number.parse::<U256>().map_err(|_| bad())?
    } else {
        if !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(bad());
        }
        if number.split_once('.').is_some_and(|(_, frac)| frac.len() > 18) {
            return Err(bad());
        }
        parse_units(number, 18).map_err(|_| bad())?.get_absolute()
    };
    Ok(TypedAmount { wei, currency })
}

/// `12.5 QCR (12500000000000000000 wei)`.
pub fn show(wei: U256, currency: Currency) -> String {
    format!("{} {} ({wei} wei)", short(wei, currency), currency.symbol())
}

/// `12.5`: the decimal amount without trailing zeros.
pub fn short(wei: U256, _currency: Currency) -> String {
    let text = format_units(wei, 18).unwrap_or_else(|_| wei.to_string());
    let text = text.trim_end_matches('0');
    text.strip_suffix('.').unwrap_or(text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wei(text: &str) -> U256 {
        text.parse().unwrap()
    }

    #[test]
    fn accepts_the_documented_forms() {
        let cases = [
            ("12.5", "12500000000000000000", None),
            ("12.5qcr", "12500000000000000000", Some(Currency::Qcr)),
            ("12.5 QCR", "12500000000000000000", Some(Currency::Qcr)),
            ("0.1eth", "100000000000000000", Some(Currency::Eth)),
            ("7wei", "7", None),
            ("12500000000000000000wei", "12500000000000000000", None),
            ("0.000000000000000001", "1", None),
            ("3", "3000000000000000000", None),
        ];
        for (text, expected, currency) in cases {
            let parsed = parse_amount(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed, TypedAmount { wei: wei(expected), currency }, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        for text in ["", "qcr", "-1", "1.2.3", "1e18", "0.0000000000000000001", "1.5wei", "abc"] {
            let err = parse_amount(text).unwrap_err();
            assert!(err.contains("is not an amount"), "{text}: {err}");
        }
    }

    #[test]
    fn prints_both_units() {
        assert_eq!(
            show(wei("12500000000000000000"), Currency::Qcr),
            "12.5 QCR (12500000000000000000 wei)"
        );
        assert_eq!(show(U256::ZERO, Currency::Eth), "0 ETH (0 wei)");
        assert_eq!(short(wei("1"), Currency::Qcr), "0.000000000000000001");
    }

    #[test]
    fn a_suffix_of_the_other_currency_is_refused() {
        let eth = parse_amount("1eth").unwrap();
        assert!(eth.in_currency(Currency::Qcr).is_err());
        assert_eq!(parse_amount("5wei").unwrap().in_currency(Currency::Eth), Ok(U256::from(5)));
    }
}
