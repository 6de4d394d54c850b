//! Shared set-up: a devnet and chain handles for its accounts.

use alloy::signers::local::PrivateKeySigner;
use quorate_devnet::{Devnet, DevnetConfig, Role};
use quorate_node::chain::{Chain, ChainConfig};

/// A fresh devnet with one-second blocks.
pub(crate) async fn devnet() -> Devnet {
    Devnet::spawn(DevnetConfig::test()).await.unwrap_or_else(|e| panic!("devnet: {e}"))
}

/// The chain settings for `devnet`.
pub(crate) fn config(devnet: &Devnet) -> ChainConfig {
    let mut config = ChainConfig::devnet(devnet.endpoint().parse().unwrap());
    config.chain_id = Some(devnet.chain_id());
    config
}

/// A signer for the first account of `role`.
pub(crate) fn signer(devnet: &Devnet, role: Role) -> PrivateKeySigner {
    let account = devnet.account(role).unwrap_or_else(|| panic!("no {role:?} account"));
    PrivateKeySigner::from_bytes(&account.key).unwrap()
}

/// A chain handle sending as the first account of `role`.
pub(crate) async fn chain(devnet: &Devnet, role: Role) -> Chain {
    Chain::connect(&config(devnet), signer(devnet, role))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

/// The path of a Foundry tool.
pub(crate) fn foundry(tool: &'static str) -> std::path::PathBuf {
    quorate_contracts::foundry::find(tool).unwrap_or_else(|e| panic!("{e}"))
}

/// The `quorate` binary, with nothing of the caller's `QUORATE_*` environment.
pub(crate) fn quorate() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_quorate"));
    // Nothing of the caller's environment may leak into what is tested.
    for (key, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("QUORATE_") && k != "QUORATE_FOUNDRY_BIN")
    {
        command.env_remove(key);
    }
    command
}

/// Runs `command` to its end: (success, stdout, stderr).
pub(crate) fn run(command: &mut std::process::Command) -> (bool, String, String) {
    let std::process::Output { status, stdout, stderr } = command.output().unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The sandbox executable `quorate` starts (built beside it by `cargo build --workspace`).
pub(crate) fn evaluator() -> std::path::PathBuf {
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_quorate"));
    let program = exe.with_file_name(quorate_evaluator::client::PROGRAM);
    assert!(
        program.exists(),
        "{} is missing: build it with `cargo build -p quorate-evaluator` (the test command builds the workspace)",
        program.display()
    );
    program
}
