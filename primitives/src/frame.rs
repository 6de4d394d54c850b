//! Length-prefixed frames, shared by every byte stream Quorate speaks (the p2p wire, the
//! worker↔evaluator pipe): `version: u8 ‖ len: u32 big-endian ‖ len payload bytes`. Each
//! protocol passes its own version and cap.
//!
//! Pure encode/decode, strict about size and version: a decoder never allocates from a length
//! it has not checked against the cap, never panics on any input, and tells a short read
//! ([`Decoded::Incomplete`]) apart from a violation ([`Error`]), so a stream reader can wait for
//! more bytes or drop the sender.

use crate::Error;

/// Bytes before the payload: version and length.
pub const HEADER_LEN: usize = 5;

/// Parses a frame header: the payload length it declares, checked against `version` and
/// `max_payload`.
pub fn decode_header(
    header: [u8; HEADER_LEN],
    version: u8,
    max_payload: u32,
) -> Result<u32, Error> {
    let [found, a, b, c, d] = header;
    if found != version {
        return Err(Error::FrameVersion { found, expected: version });
    }
    let len = u32::from_be_bytes([a, b, c, d]);
    if len > max_payload {
        return Err(Error::FrameTooLarge { len: u64::from(len), max: max_payload });
    }
    Ok(len)
}

/// The header of a frame of `version` carrying `len` payload bytes.
pub fn encode_header(version: u8, len: u32) -> [u8; HEADER_LEN] {
    let [a, b, c, d] = len.to_be_bytes();
    [version, a, b, c, d]
}

/// The outcome of decoding from the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole frame: its payload, and how many bytes of the buffer it took.
    Frame {
        /// The payload bytes.
        payload: &'a [u8],
        /// Header plus payload length.
        consumed: usize,
    },
    /// More bytes are needed; at least `needed` in all.
    Incomplete {
        /// The buffer length that would let decoding make progress.
        needed: usize,
    },
}

/// Encodes `payload` as one frame of `version`, refusing payloads over `max_payload`.
pub fn encode(version: u8, payload: &[u8], max_payload: u32) -> Result<Vec<u8>, Error> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len <= max_payload)
        .ok_or(Error::FrameTooLarge { len: payload.len() as u64, max: max_payload })?;
    let mut out = Vec::with_capacity(HEADER_LEN.saturating_add(payload.len()));
    out.extend_from_slice(&encode_header(version, len));
    out.extend_from_slice(payload);
    Ok(out)
}

/// Decodes one frame of `version` from the front of `buf`.
pub fn decode(buf: &[u8], version: u8, max_payload: u32) -> Result<Decoded<'_>, Error> {
    let Some(&found) = buf.first() else {
        return Ok(Decoded::Incomplete { needed: HEADER_LEN });
    };
    if found != version {
        return Err(Error::FrameVersion { found, expected: version });
    }
    let Some(header) = buf.get(..HEADER_LEN).and_then(|h| <[u8; HEADER_LEN]>::try_from(h).ok())
    else {
        return Ok(Decoded::Incomplete { needed: HEADER_LEN });
    };
    let len = decode_header(header, version, max_payload)?;
    // len ≤ max_payload ≤ u32::MAX, so this fits in usize on every supported target.
    let end = HEADER_LEN.saturating_add(len as usize);
    match buf.get(HEADER_LEN..end) {
        Some(payload) => Ok(Decoded::Frame { payload, consumed: end }),
        None => Ok(Decoded::Incomplete { needed: end }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn byte_snapshot() {
        assert_eq!(encode(1, b"hi", 16).unwrap(), [1, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(encode(1, b"", 16).unwrap(), [1, 0, 0, 0, 0]);
    }

    #[test]
    fn oversized_payloads_are_refused_both_ways() {
        assert_eq!(encode(1, &[0; 17], 16), Err(Error::FrameTooLarge { len: 17, max: 16 }));
        // A header that declares 4 GiB is refused before anything is allocated or awaited.
        let hostile = [1, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            decode(&hostile, 1, 16),
            Err(Error::FrameTooLarge { len: u64::from(u32::MAX), max: 16 })
        );
    }

    #[test]
    fn unknown_versions_are_refused() {
        assert_eq!(
            decode(&[2, 0, 0, 0, 0], 1, 16),
            Err(Error::FrameVersion { found: 2, expected: 1 })
        );
    }

    #[test]
    fn short_buffers_ask_for_more() {
        assert_eq!(decode(&[], 1, 16), Ok(Decoded::Incomplete { needed: HEADER_LEN }));
        assert_eq!(decode(&[1, 0, 0], 1, 16), Ok(Decoded::Incomplete { needed: HEADER_LEN }));
        assert_eq!(decode(&[1, 0, 0, 0, 3, b'a'], 1, 16), Ok(Decoded::Incomplete { needed: 8 }));
    }

    proptest! {
        #[test]
        fn round_trip_with_trailing_bytes(payload in proptest::collection::vec(any::<u8>(), 0..512),
                                          trailing in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut bytes = encode(1, &payload, 512).unwrap();
            let frame_len = bytes.len();
            bytes.extend_from_slice(&trailing);
            prop_assert_eq!(decode(&bytes, 1, 512).unwrap(), Decoded::Frame { payload: &payload, consumed: frame_len });
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in 0u32..64) {
            if let Ok(Decoded::Frame { payload, consumed }) = decode(&bytes, 1, max) {
                prop_assert!(payload.len() <= max as usize);
                prop_assert_eq!(consumed, HEADER_LEN + payload.len());
            }
        }
    }
}
