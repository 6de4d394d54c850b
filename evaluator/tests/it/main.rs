//! Integration tests of the evaluator against the real libmini_racer installed by setup.

mod engine;
mod gpu;
mod hostile;
mod limits;
mod process;
mod protocol;
mod regressions;
mod sandbox;
mod seccomp;
mod v8lib;
