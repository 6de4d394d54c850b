//! Integration tests of quorate-contracts against forge's real build output.

mod artifact;
