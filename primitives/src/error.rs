//! Structured errors of the pure types.

/// Why an operation on primitive values was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A checked arithmetic operation on amounts would overflow 256 bits.
    #[error("amount overflow in {op}: {lhs} and {rhs}")]
    Overflow {
        /// The operation that overflowed (`add`, `mul`, …).
        op: &'static str,
        /// Left operand, decimal.
        lhs: String,
        /// Right operand, decimal.
        rhs: String,
    },
    /// A subtraction would go below zero.
    #[error("amount underflow: {lhs} - {rhs}")]
    Underflow {
        /// Minuend, decimal.
        lhs: String,
        /// Subtrahend, decimal.
        rhs: String,
    },
    /// A division by zero was asked for.
    #[error("division of {lhs} by zero")]
    DivisionByZero {
        /// Dividend, decimal.
        lhs: String,
    },
    /// A percentage outside 0..=100 was given.
    #[error("ratio {0}% is outside 0..=100")]
    RatioOutOfRange(u64),
    /// A frame of another protocol version.
    #[error("frame of version {found}, this build speaks version {expected}")]
    FrameVersion {
        /// The version in the frame.
        found: u8,
        /// The version expected.
        expected: u8,
    },
    /// A frame longer than its cap.
    #[error("frame of {len} bytes is over the {max}-byte cap")]
    FrameTooLarge {
        /// The declared or given length.
        len: u64,
        /// The cap.
        max: u32,
    },
    /// A signature could not be made or read.
    #[error("signature: {reason}")]
    Signature {
        /// What went wrong.
        reason: String,
    },
    /// A string could not be parsed as the named type.
    #[error("invalid {kind}: {reason}")]
    Parse {
        /// What was being parsed.
        kind: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A blob outline whose number of piece hashes does not fit the blob's length.
    #[error("outline of a {len}-byte blob has {pieces} piece hashes, {expected} expected")]
    MalformedOutline {
        /// The blob length the outline claims.
        len: u64,
        /// Piece hashes given.
        pieces: u64,
        /// Piece hashes a blob of that length has.
        expected: u64,
    },
    /// A job manifest or task outcome that cannot be run or read.
    #[error("{reason}")]
    InvalidJob {
        /// What is wrong, as a sentence.
        reason: String,
    },
}

impl Error {
    /// True when the error comes from arithmetic limits rather than malformed input: the caller
    /// asked for an amount the system cannot represent.
    pub fn is_arithmetic(&self) -> bool {
        matches!(self, Self::Overflow { .. } | Self::Underflow { .. } | Self::DivisionByZero { .. })
    }
}
