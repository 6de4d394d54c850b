//! The p2p wire's frames: [`quorate_primitives::frame`] (`version ‖ len ‖ payload`, shared with
//! the evaluator pipe) at this protocol's [`VERSION`], its errors said in this crate's terms.

use quorate_primitives::frame;
pub use quorate_primitives::frame::{Decoded, HEADER_LEN};

use crate::Error;

/// The wire version this code speaks.
pub const VERSION: u8 = 1;
/// The default cap on one frame's payload: 4 MiB. Larger data travels as chunked data fetches.
pub const DEFAULT_MAX_PAYLOAD: u32 = 4 * 1024 * 1024;

/// Parses a frame header: the payload length it declares, checked against `max_payload`.
pub fn decode_header(header: [u8; HEADER_LEN], max_payload: u32) -> Result<u32, Error> {
    frame::decode_header(header, VERSION, max_payload).map_err(Error::from)
}

/// The header of a frame carrying `len` payload bytes.
pub fn encode_header(len: u32) -> [u8; HEADER_LEN] {
    frame::encode_header(VERSION, len)
}

/// Encodes `payload` as one frame, refusing payloads over `max_payload`.
pub fn encode(payload: &[u8], max_payload: u32) -> Result<Vec<u8>, Error> {
    frame::encode(VERSION, payload, max_payload).map_err(Error::from)
}

/// Decodes one frame from the front of `buf`.
pub fn decode(buf: &[u8], max_payload: u32) -> Result<Decoded<'_>, Error> {
    frame::decode(buf, VERSION, max_payload).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_snapshot_and_errors_in_this_crates_terms() {
        assert_eq!(encode(b"hi", 16).unwrap(), [1, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(encode(&[0; 17], 16), Err(Error::FrameTooLarge { len: 17, max: 16 }));
        assert_eq!(decode(&[2, 0, 0, 0, 0], 16), Err(Error::UnsupportedVersion { found: 2 }));
        let hostile = [VERSION, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            decode(&hostile, 16),
            Err(Error::FrameTooLarge { len: u64::from(u32::MAX), max: 16 })
        );
    }
}
