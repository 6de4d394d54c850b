//! Integration tests of the devnet against the real anvil installed by setup.

mod anvil;
