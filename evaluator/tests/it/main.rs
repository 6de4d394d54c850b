//! Integration tests of the evaluator against the real libmini_racer installed by setup.

mod v8lib;
