//! # quorate-p2p
//!
//! The network schedulers, workers and clients share (docs/architecture.md §3): a libp2p swarm
//! with discovery, the versioned wire protocol, and the binding of peer ids to Ethereum
//! addresses. Depends on `quorate-primitives` among our crates; the node wires it to the rest.
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`frame`] | length-prefixed, size-capped frames: the envelope of every wire message |
//!
//! ## Frames
//!
//! ```text
//! ┌────────────┬──────────────┬──────────────────────┐
//! │ version u8 │ length u32be │ payload (length B)   │   length ≤ the frame's cap
//! └────────────┴──────────────┴──────────────────────┘
//! ```
//!
//! ```
//! use quorate_p2p::frame::{self, Decoded};
//!
//! let bytes = frame::encode(b"hello", frame::DEFAULT_MAX_PAYLOAD)?;
//! let Decoded::Frame { payload, consumed } = frame::decode(&bytes, frame::DEFAULT_MAX_PAYLOAD)? else {
//!     unreachable!("a whole frame was given");
//! };
//! assert_eq!((payload, consumed), (&b"hello"[..], bytes.len()));
//! # Ok::<(), quorate_p2p::frame::FrameError>(())
//! ```

pub mod frame;
