//! Any payload: decoding never panics, and what it accepts re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quorate_p2p::Message;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(message) = Message::decode(bytes) {
        assert_eq!(message.encode().as_deref(), Ok(bytes), "accepted bytes must be canonical");
    }
});
