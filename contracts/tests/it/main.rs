//! Integration tests of quorate-contracts: forge's real build output, and the contracts on a
//! real anvil.

mod artifact;
mod checked_in;
mod deploy;
mod lifecycle;

use std::process::Command;

use quorate_contracts::artifact::foundry_project_dir;

/// Builds the Foundry project with the pinned forge, so that tests read fresh artifacts.
pub(crate) fn forge_build() {
    let forge = quorate_contracts::foundry::find("forge").unwrap_or_else(|e| panic!("{e}"));
    let status = Command::new(&forge)
        .arg("build")
        .arg("--quiet")
        .current_dir(foundry_project_dir())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): run ./scripts/setup", forge.display()));
    assert!(status.success(), "forge build failed");
}
