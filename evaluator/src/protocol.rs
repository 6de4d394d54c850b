//! The worker↔evaluator protocol: length-prefixed, versioned, size-capped frames carrying JSON
//! messages, over the child's stdin (requests) and stdout (responses).
//!
//! A frame is the shared [`quorate_primitives::frame`] (`version ‖ len: u32 big-endian ‖ len
//! bytes`, as on the p2p wire) at this protocol's [`VERSION`], carrying the message as JSON
//! (serde, internally tagged by `"type"`). A receiver refuses a frame longer than its cap
//! before reading it, a version it does not speak, and any JSON that is not exactly one known
//! message (unknown fields are errors).
//!
//! Flow: the worker sends one [`Request`] and reads [`Response`]s until the one that ends it:
//! `describe` → `capabilities`; `load_job` → `loaded` | `failed`; `run_task` → any number of
//! `progress` and `console`, then `result` | `task_error` | `failed`; `reset` → `reset_done` |
//! `failed`; `die` → the process exits.

use std::io::{Read, Write};

use quorate_primitives::{ContentHash, ResultDigest, frame};
use serde::{Deserialize, Serialize};

use crate::{
    Error, TaskErrorKind,
    sandbox::{ConsoleLevel, TaskSpec},
};

/// The protocol version this build speaks.
pub const VERSION: u8 = 1;

/// Default cap of a frame, both ways: 64 MiB (inputs and results are capped below it).
pub const DEFAULT_MAX_FRAME: u32 = 64 << 20;

/// What the worker asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Report the sandbox's capabilities. (The variants without fields are written with empty
    /// braces so that serde refuses unknown fields on them too.)
    Describe {},
    /// Load a job's code, which must hash to `hash`.
    LoadJob {
        /// BLAKE3 content hash of `code`'s UTF-8 bytes ([`quorate_primitives::ContentHash`]).
        hash: ContentHash,
        /// The job's JavaScript.
        code: String,
    },
    /// Run one task of the loaded job.
    RunTask {
        /// The task.
        spec: TaskSpec,
    },
    /// Start again from a fresh context with the same job.
    Reset {},
    /// Exit now.
    Die {},
}

/// What the sandbox reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    /// Answer to `describe`.
    Capabilities(Capabilities),
    /// The job is loaded.
    Loaded {
        /// Its hash.
        hash: ContentHash,
    },
    /// `progress(fraction)` (throttled); `None` is an indeterminate report.
    Progress {
        /// The fraction.
        fraction: Option<f64>,
    },
    /// A console line.
    Console {
        /// Which method.
        level: ConsoleLevel,
        /// The text (capped).
        text: String,
    },
    /// The task's canonical result.
    Result {
        /// The canonical result (JSON text; see the crate docs).
        result: String,
        /// keccak256 of `result`'s bytes.
        digest: ResultDigest,
        /// Console lines and events dropped by the caps.
        dropped_events: u64,
    },
    /// The task failed.
    TaskError {
        /// How.
        kind: TaskErrorKind,
        /// Why, for people.
        message: String,
    },
    /// A request other than a task failed (bad job, engine failure, malformed request).
    Failed {
        /// Why.
        message: String,
    },
    /// The context was replaced.
    ResetDone {},
}

/// What a sandbox can do, so the scheduler can group replicas that must agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// The protocol version.
    pub protocol: u8,
    /// This crate's version.
    pub evaluator: String,
    /// V8's version.
    pub v8: String,
    /// The GPU adapter class, or `None` where no GPU path is available.
    pub gpu: Option<String>,
    /// The GPU's own memory, MiB (0 when its driver does not say).
    #[serde(default)]
    pub gpu_memory_mib: Option<u64>,
    /// keccak256 (hex) of the canonical results of a fixed set of floating-point operations
    /// (transcendental `Math` functions, WebAssembly f64 arithmetic): equal probes mean the
    /// same floating-point behaviour.
    pub float_probe: String,
}

/// Encodes one message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; frame::HEADER_LEN];
    serde_json::to_writer(&mut out, msg)
        .map_err(|e| Error::Protocol { reason: format!("cannot encode: {e}") })?;
    let json_len = out.len().saturating_sub(frame::HEADER_LEN);
    let len = u32::try_from(json_len)
        .map_err(|_| Error::FrameTooLarge { len: json_len as u64, max: u64::from(u32::MAX) })?;
    out[..frame::HEADER_LEN].copy_from_slice(&frame::encode_header(VERSION, len));
    Ok(out)
}

/// The shared frame's errors in this crate's terms.
fn frame_error(e: quorate_primitives::Error) -> Error {
    match e {
        quorate_primitives::Error::FrameVersion { found, expected } => {
            Error::Version { got: found, want: expected }
        }
        quorate_primitives::Error::FrameTooLarge { len, max } => {
            Error::FrameTooLarge { len, max: u64::from(max) }
        }
        other => Error::Protocol { reason: other.to_string() },
    }
}

/// Decodes a frame's payload (the JSON message).
fn decode_json<T: for<'de> Deserialize<'de>>(json: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(json).map_err(|e| Error::Protocol { reason: e.to_string() })
}

/// Decodes one whole frame from `bytes`, returning the message and the bytes it used, or
/// `Ok(None)` when more bytes are needed.
pub fn decode<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    max_frame: u32,
) -> Result<Option<(T, usize)>, Error> {
    match frame::decode(bytes, VERSION, max_frame).map_err(frame_error)? {
        frame::Decoded::Frame { payload, consumed } => Ok(Some((decode_json(payload)?, consumed))),
        frame::Decoded::Incomplete { .. } => Ok(None),
    }
}

/// Reads one frame from a stream; `Ok(None)` at a clean end of stream.
pub fn read_frame<T: for<'de> Deserialize<'de>>(
    r: &mut impl Read,
    max_frame: u32,
) -> Result<Option<T>, Error> {
    let mut header = [0u8; frame::HEADER_LEN];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(Error::io("reading a frame", &e)),
    }
    let len = frame::decode_header(header, VERSION, max_frame).map_err(frame_error)?;
    let mut json = vec![0u8; len as usize];
    r.read_exact(&mut json).map_err(|e| Error::io("reading a frame", &e))?;
    decode_json(&json).map(Some)
}

/// Writes one frame and flushes.
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), Error> {
    write_encoded(w, &encode(msg)?)
}

/// Writes a frame made by [`encode`] and flushes.
pub fn write_encoded(w: &mut impl Write, frame: &[u8]) -> Result<(), Error> {
    w.write_all(frame).map_err(|e| Error::io("writing a frame", &e))?;
    w.flush().map_err(|e| Error::io("flushing a frame", &e))
}
