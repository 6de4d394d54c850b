//! Length-prefixed frames: pure encode/decode, strict about size and version.
//!
//! A decoder never allocates from a length it has not checked against the cap, never panics on
//! any input, and tells a short read ([`Decoded::Incomplete`]) apart from a violation
//! ([`Error`]), so a stream reader can wait for more bytes or disconnect the peer.

/// The wire version this code speaks.
pub const VERSION: u8 = 1;
/// Bytes before the payload: version and length.
pub const HEADER_LEN: usize = 5;
/// The default cap on one frame's payload: 4 MiB. Larger data travels as chunked data fetches.
pub const DEFAULT_MAX_PAYLOAD: u32 = 4 * 1024 * 1024;

/// Parses a frame header: the payload length it declares, checked against `max_payload`.
pub fn decode_header(header: [u8; HEADER_LEN], max_payload: u32) -> Result<u32, Error> {
    let [version, a, b, c, d] = header;
    if version != VERSION {
        return Err(Error::UnsupportedVersion { found: version });
    }
    let len = u32::from_be_bytes([a, b, c, d]);
    if len > max_payload {
        return Err(Error::FrameTooLarge { len: u64::from(len), max: max_payload });
    }
    Ok(len)
}

/// The header of a frame carrying `len` payload bytes.
pub fn encode_header(len: u32) -> [u8; HEADER_LEN] {
    let [a, b, c, d] = len.to_be_bytes();
    [VERSION, a, b, c, d]
}

use crate::Error;

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

/// Encodes `payload` as one frame, refusing payloads over `max_payload`.
pub fn encode(payload: &[u8], max_payload: u32) -> Result<Vec<u8>, Error> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|len| *len <= max_payload)
        .ok_or(Error::FrameTooLarge { len: payload.len() as u64, max: max_payload })?;
    let mut out = Vec::with_capacity(HEADER_LEN.saturating_add(payload.len()));
    out.push(VERSION);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Decodes one frame from the front of `buf`.
pub fn decode(buf: &[u8], max_payload: u32) -> Result<Decoded<'_>, Error> {
    let Some(&version) = buf.first() else {
        return Ok(Decoded::Incomplete { needed: HEADER_LEN });
    };
    if version != VERSION {
        return Err(Error::UnsupportedVersion { found: version });
    }
    let Some(len_bytes) = buf.get(1..HEADER_LEN) else {
        return Ok(Decoded::Incomplete { needed: HEADER_LEN });
    };
    let mut be = [0u8; 4];
    be.copy_from_slice(len_bytes);
    let len = u32::from_be_bytes(be);
    if len > max_payload {
        return Err(Error::FrameTooLarge { len: u64::from(len), max: max_payload });
    }
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
        assert_eq!(encode(b"hi", 16).unwrap(), [1, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(encode(b"", 16).unwrap(), [1, 0, 0, 0, 0]);
    }

    #[test]
    fn oversized_payloads_are_refused_both_ways() {
        assert_eq!(encode(&[0; 17], 16), Err(Error::FrameTooLarge { len: 17, max: 16 }));
        // A header that declares 4 GiB is refused before anything is allocated or awaited.
        let hostile = [VERSION, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            decode(&hostile, 16),
            Err(Error::FrameTooLarge { len: u64::from(u32::MAX), max: 16 })
        );
    }

    #[test]
    fn unknown_versions_are_refused() {
        assert_eq!(decode(&[2, 0, 0, 0, 0], 16), Err(Error::UnsupportedVersion { found: 2 }));
    }

    #[test]
    fn short_buffers_ask_for_more() {
        assert_eq!(decode(&[], 16), Ok(Decoded::Incomplete { needed: HEADER_LEN }));
        assert_eq!(decode(&[1, 0, 0], 16), Ok(Decoded::Incomplete { needed: HEADER_LEN }));
        assert_eq!(decode(&[1, 0, 0, 0, 3, b'a'], 16), Ok(Decoded::Incomplete { needed: 8 }));
    }

    proptest! {
        #[test]
        fn round_trip_with_trailing_bytes(payload in proptest::collection::vec(any::<u8>(), 0..512),
                                          trailing in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut bytes = encode(&payload, 512).unwrap();
            let frame_len = bytes.len();
            bytes.extend_from_slice(&trailing);
            prop_assert_eq!(decode(&bytes, 512).unwrap(), Decoded::Frame { payload: &payload, consumed: frame_len });
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in 0u32..64) {
            if let Ok(Decoded::Frame { payload, consumed }) = decode(&bytes, max) {
                prop_assert!(payload.len() <= max as usize);
                prop_assert_eq!(consumed, HEADER_LEN + payload.len());
            }
        }
    }
}
