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
