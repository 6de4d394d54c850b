//! Token amounts with checked arithmetic.
//!
//! Money code never panics and never wraps (docs/poco.md, "Money"): every operation on an
//! [`Amount`] returns a `Result` whose error says which operation failed and on which values.
//! Amounts are in the token's smallest unit (wei-like; QCR has 18 decimals), 256 bits wide like
//! the contract's `uint256`. They serialise as decimal strings, so JSON readers in any language
//! keep every digit.

use std::{fmt, str::FromStr};

use alloy_primitives::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// A token amount in the smallest unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(U256);

impl Amount {
    /// Zero credits.
    pub const ZERO: Self = Self(U256::ZERO);
    /// The largest representable amount.
    pub const MAX: Self = Self(U256::MAX);

    /// Wraps a raw 256-bit value.
    pub const fn new(raw: U256) -> Self {
        Self(raw)
    }

    /// The raw 256-bit value.
    pub const fn raw(self) -> U256 {
        self.0
    }

    /// True when the amount is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// `self + rhs`, or [`Error::Overflow`].
    pub fn checked_add(self, rhs: Self) -> Result<Self, Error> {
        self.0.checked_add(rhs.0).map(Self).ok_or_else(|| overflow("add", self.0, rhs.0))
    }

    /// `self - rhs`, or [`Error::Underflow`].
    pub fn checked_sub(self, rhs: Self) -> Result<Self, Error> {
        self.0
            .checked_sub(rhs.0)
            .map(Self)
            .ok_or_else(|| Error::Underflow { lhs: self.0.to_string(), rhs: rhs.0.to_string() })
    }

    /// `self × factor`, or [`Error::Overflow`].
    pub fn checked_mul(self, factor: U256) -> Result<Self, Error> {
        self.0.checked_mul(factor).map(Self).ok_or_else(|| overflow("mul", self.0, factor))
    }

    /// `floor(self / divisor)`, or [`Error::DivisionByZero`].
    pub fn checked_div(self, divisor: U256) -> Result<Self, Error> {
        self.0
            .checked_div(divisor)
            .map(Self)
            .ok_or_else(|| Error::DivisionByZero { lhs: self.0.to_string() })
    }

    /// `floor(self × numerator / denominator)` without intermediate overflow for the common
    /// case, as the contract computes shares: multiply first, then divide.
    pub fn mul_div(self, numerator: U256, denominator: U256) -> Result<Self, Error> {
        if denominator.is_zero() {
            return Err(Error::DivisionByZero { lhs: self.0.to_string() });
        }
        self.checked_mul(numerator)?.checked_div(denominator)
    }

    /// `floor(self × percent / 100)`: the contract's ratios (worker stake, scheduler reward)
    /// are whole percentages.
    pub fn percent(self, percent: u64) -> Result<Self, Error> {
        if percent > 100 {
            return Err(Error::RatioOutOfRange(percent));
        }
        self.mul_div(U256::from(percent), U256::from(100u64))
    }

    /// Sums amounts, failing on the first overflow.
    pub fn checked_sum<I: IntoIterator<Item = Self>>(amounts: I) -> Result<Self, Error> {
        amounts.into_iter().try_fold(Self::ZERO, Self::checked_add)
    }
}

fn overflow(op: &'static str, lhs: U256, rhs: U256) -> Error {
    Error::Overflow { op, lhs: lhs.to_string(), rhs: rhs.to_string() }
}

impl From<u64> for Amount {
    fn from(value: u64) -> Self {
        Self(U256::from(value))
    }
}

impl From<u128> for Amount {
    fn from(value: u128) -> Self {
        Self(U256::from(value))
    }
}

impl From<U256> for Amount {
    fn from(value: U256) -> Self {
        Self(value)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Amount {
    type Err = Error;

    /// Parses a decimal amount (no sign, no exponent, no separators).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Parse {
                kind: "amount",
                reason: format!("{s:?} is not a decimal integer"),
            });
        }
        U256::from_str_radix(s, 10)
            .map(Self)
            .map_err(|e| Error::Parse { kind: "amount", reason: e.to_string() })
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
