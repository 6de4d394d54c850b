//! Any byte stream: frame and message decoding never panic, never trust a declared length, and
//! what they accept re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quorate_p2p::{Message, frame};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(frame::Decoded::Frame { payload, consumed }) = frame::decode(bytes, frame::DEFAULT_MAX_PAYLOAD) {
        assert_eq!(consumed, frame::HEADER_LEN + payload.len());
    }
    if let Ok(message) = Message::decode_frame(bytes) {
        assert_eq!(message.encode_frame().as_deref(), Ok(bytes));
    }
});
