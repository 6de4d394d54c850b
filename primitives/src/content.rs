//! Content hashes and their outlines: how a blob is identified and checked piece by piece.
//!
//! A blob's [`ContentHash`] is its BLAKE3-256 hash: the same value as `b3sum` prints. The chain
//! stores it as an opaque `bytes32` and never computes it, so the hash is chosen for the data
//! path: BLAKE3 runs at several GB/s on one core, an order of magnitude faster than keccak-256,
//! and its tree structure lets a receiver check each piece of a blob as it arrives.
//!
//! A blob is cut into pieces of [`PIECE_LEN`] bytes (the last may be shorter). Because a piece
//! is a power of two of BLAKE3's 1 KiB chunks, each piece is a complete subtree of the BLAKE3
//! tree and has a 32-byte chaining value. The list of those values is the blob's [`Outline`]:
//!
//! ```text
//!              root = ContentHash          merge_root(L, R)
//!            /                \
//!       parent(p0,p1)          p2           split at the largest power of two of pieces
//!       /        \              |           below the count, exactly as BLAKE3 splits chunks
//!     p0          p1            p2          piece hashes: the outline (32 bytes per MiB)
//! [0, 1 MiB)  [1, 2 MiB)   [2 MiB, len)
//! ```
//!
//! A receiver gets the outline first (from anyone), checks that it merges to the content hash it
//! asked for ([`Outline::root`]), then checks every piece against its entry
//! ([`Outline::verifies_piece`]) before using it. A corrupted piece is caught on arrival and
//! blamed on whoever sent it; the pieces already checked are kept. A blob of one piece has the
//! content hash itself as its only outline entry.

use alloy_primitives::B256;
use blake3::hazmat::{HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};

use crate::{ContentHash, Error};

/// Bytes per piece: 1 MiB, 1024 BLAKE3 chunks.
pub const PIECE_LEN: usize = 1 << 20;

/// The number of pieces of a blob of `len` bytes: at least one (the empty blob has one, empty).
pub const fn piece_count(len: u64) -> u64 {
    let full = len / PIECE_LEN as u64;
    if len.is_multiple_of(PIECE_LEN as u64) && full > 0 { full } else { full + 1 }
}

/// The piece hashes of one blob: what a receiver needs to check each piece on arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    len: u64,
    pieces: Vec<B256>,
}

impl Outline {
    /// Hashes `bytes` piece by piece.
    pub fn of(bytes: &[u8]) -> Self {
        let len = bytes.len() as u64;
        let pieces = if bytes.len() <= PIECE_LEN {
            vec![ContentHash::of(bytes).0]
        } else {
            bytes
                .chunks(PIECE_LEN)
                .enumerate()
                .map(|(index, piece)| non_root_hash(index as u64, piece))
                .collect()
        };
        Self { len, pieces }
    }

    /// An outline received from someone else: refused unless it has one hash per piece of a
    /// blob of `len` bytes. Whether it belongs to the wanted blob is [`Outline::root`]'s check.
    pub fn from_parts(len: u64, pieces: Vec<B256>) -> Result<Self, Error> {
        let expected = piece_count(len);
        if pieces.len() as u64 != expected {
            return Err(Error::MalformedOutline { len, pieces: pieces.len() as u64, expected });
        }
        Ok(Self { len, pieces })
    }

    /// The blob's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for the empty blob.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The piece hashes, in order.
    pub fn pieces(&self) -> &[B256] {
        &self.pieces
    }

    /// The byte range `[start, end)` of piece `index`, or `None` past the last piece.
    pub fn piece_range(&self, index: u64) -> Option<(u64, u64)> {
        if index >= self.pieces.len() as u64 {
            return None;
        }
        let start = index.checked_mul(PIECE_LEN as u64)?;
        Some((start, start.saturating_add(PIECE_LEN as u64).min(self.len)))
    }

    /// The content hash these piece hashes merge to.
    pub fn root(&self) -> ContentHash {
        match self.pieces.as_slice() {
            [only] => ContentHash(*only),
            pieces => ContentHash(B256::from(*merge(pieces, true).as_bytes())),
        }
    }

    /// True when `bytes` are exactly piece `index` of the blob this outline describes.
    pub fn verifies_piece(&self, index: u64, bytes: &[u8]) -> bool {
        let Some((start, end)) = self.piece_range(index) else { return false };
        let Some(expected) = self.pieces.get(index as usize) else { return false };
        if bytes.len() as u64 != end - start {
            return false;
        }
        let actual = if self.pieces.len() == 1 {
            ContentHash::of(bytes).0
        } else {
            non_root_hash(index, bytes)
        };
        actual == *expected
    }
}

/// The chaining value of piece `index` of a blob of more than one piece. `piece` is never empty
/// and never longer than [`PIECE_LEN`] here, which is what BLAKE3's subtree rules require.
fn non_root_hash(index: u64, piece: &[u8]) -> B256 {
    if piece.is_empty() || piece.len() > PIECE_LEN {
        // Unreachable through this module's callers; a value no honest outline contains.
        return B256::ZERO;
    }
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(index.saturating_mul(PIECE_LEN as u64));
    hasher.update(piece);
    B256::from(hasher.finalize_non_root())
}

/// Merges the subtrees of `pieces` (at least two) as BLAKE3 does: the left side takes the largest
/// power of two of pieces below the count.
fn merge(pieces: &[B256], root: bool) -> blake3::Hash {
    // The largest power of two strictly below the count (callers pass at least two pieces).
    let split = pieces.len().saturating_sub(1).checked_ilog2().map_or(1, |log| 1usize << log);
    let (left, right) = pieces.split_at(split.min(pieces.len()));
    let cv = |side: &[B256]| -> [u8; 32] {
        match side {
            [one] => one.0,
            many => *merge(many, false).as_bytes(),
        }
    };
    let (l, r) = (cv(left), cv(right));
    if root {
        merge_subtrees_root(&l, &r, Mode::Hash)
    } else {
        blake3::Hash::from(merge_subtrees_non_root(&l, &r, Mode::Hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn outline_root_is_the_blake3_hash_for_every_shape() {
        let p = PIECE_LEN;
        for len in [
            0,
            1,
            1023,
            1024,
            1025,
            p - 1,
            p,
            p + 1,
            2 * p,
            2 * p + 7,
            3 * p,
            4 * p,
            4 * p + 1,
            5 * p - 3,
            7 * p + 100,
            8 * p,
            9 * p + 1,
        ] {
            let bytes = blob(len);
            let outline = Outline::of(&bytes);
            assert_eq!(outline.pieces().len() as u64, piece_count(len as u64), "len {len}");
            assert_eq!(outline.root().0.as_slice(), blake3::hash(&bytes).as_bytes(), "len {len}");
            assert_eq!(outline.root(), ContentHash::of(&bytes), "len {len}");
            for (i, piece) in bytes.chunks(p).enumerate() {
                assert!(outline.verifies_piece(i as u64, piece), "len {len} piece {i}");
            }
        }
    }

    #[test]
    fn known_answers_from_an_independent_implementation() {
        // Computed with the `blake3` Python package (the reference C implementation).
        let hex = |h: ContentHash| h.0.to_string();
        assert_eq!(
            hex(ContentHash::of(b"")),
            "0xaf1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            hex(ContentHash::of(b"abc")),
            "0x6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        let three_and_a_bit = blob(3 * PIECE_LEN + 5);
        assert_eq!(
            hex(Outline::of(&three_and_a_bit).root()),
            "0xa7bb55bed0c04f58879d1fc1cafb27e14e931f4411fe63baf5b2d5a60357bffb"
        );
    }

    #[test]
    fn a_flipped_bit_or_a_wrong_length_fails_the_piece_check() {
        let bytes = blob(3 * PIECE_LEN + 10);
        let outline = Outline::of(&bytes);
        let mut piece = bytes[PIECE_LEN..2 * PIECE_LEN].to_vec();
        assert!(outline.verifies_piece(1, &piece));
        piece[4321] ^= 1;
        assert!(!outline.verifies_piece(1, &piece));
        // The right bytes at the wrong index, a short piece, and a piece past the end.
        assert!(!outline.verifies_piece(0, &bytes[PIECE_LEN..2 * PIECE_LEN]));
        assert!(!outline.verifies_piece(3, &bytes[3 * PIECE_LEN..3 * PIECE_LEN + 9]));
        assert!(!outline.verifies_piece(4, &[]));
        assert!(outline.verifies_piece(3, &bytes[3 * PIECE_LEN..]));
    }

    #[test]
    fn a_tampered_outline_does_not_merge_to_the_content_hash() {
        let bytes = blob(5 * PIECE_LEN);
        let hash = ContentHash::of(&bytes);
        let mut pieces = Outline::of(&bytes).pieces().to_vec();
        pieces.swap(0, 1);
        let swapped = Outline::from_parts(5 * PIECE_LEN as u64, pieces).unwrap();
        assert_ne!(swapped.root(), hash);
        // Same pieces, claimed for a blob one byte shorter: refused by count or by root.
        let shorter =
            Outline::from_parts(5 * PIECE_LEN as u64 - 1, Outline::of(&bytes).pieces().to_vec())
                .unwrap();
        assert!(!shorter.verifies_piece(4, &bytes[4 * PIECE_LEN..]));
    }

    #[test]
    fn from_parts_refuses_a_wrong_piece_count() {
        assert!(Outline::from_parts(0, vec![]).is_err());
        assert!(Outline::from_parts(0, vec![B256::ZERO]).is_ok());
        assert!(Outline::from_parts(PIECE_LEN as u64 + 1, vec![B256::ZERO]).is_err());
        assert!(Outline::from_parts(u64::MAX, vec![]).is_err());
        assert_eq!(piece_count(PIECE_LEN as u64), 1);
        assert_eq!(piece_count(PIECE_LEN as u64 + 1), 2);
    }
}
