//! # quorate-evaluator
//!
//! The sandbox in which workers run strangers' work functions: V8 through `libmini_racer` (a
//! prebuilt V8 with a small C API, shipped in the `mini-racer` wheel that `scripts/setup`
//! unpacks) for JavaScript and WebAssembly, and wgpu for WebGPU compute. One evaluator process
//! per sandbox, driven by the worker over an inherited pipe (docs/architecture.md §5).
//!
//! May depend on `quorate-primitives` only among our crates; it is the one crate that loads V8.
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`v8lib`] | finding and loading `libmini_racer.so`, checking its V8 version |
//!
//! ## Finding V8
//!
//! [`v8lib::V8Library::locate`] looks, in order, in `$QUORATE_V8_DIR`, in the checkout's
//! `.tools/v8` (filled by `scripts/setup`), and in `../lib/quorate/v8` beside the running
//! executable (an installed layout). A missing or wrong library is an error that names the
//! setup command.
//!
//! ```no_run
//! let v8 = quorate_evaluator::v8lib::V8Library::locate()?;
//! println!("V8 {}", v8.version());
//! # Ok::<(), quorate_evaluator::v8lib::V8Error>(())
//! ```

pub mod v8lib;
