//! `quorate devnet`'s files: a keystore per funded account (under the devnet's documented
//! password) and a `devnet.toml` that every `quorate` command accepts with `--config`.

use std::path::{Path, PathBuf};

use quorate_devnet::Devnet;

use crate::{
    config::NodeConfig,
    wallet::{KdfStrength, WalletError, Wallets},
};

/// The password of every devnet keystore. Devnet keys are anvil's public test keys: never
/// send anything of value to them.
pub const DEVNET_PASSWORD: &str = "quorate-devnet";

/// Where a devnet's files were written.
#[derive(Debug, Clone)]
pub struct DevnetFiles {
    /// `devnet.toml`.
    pub config: PathBuf,
    /// The keystore directory.
    pub keystores: PathBuf,
    /// A file holding [`DEVNET_PASSWORD`], for `--password-file`.
    pub password_file: PathBuf,
}

/// The configuration that points every command at this devnet.
pub fn node_config(devnet: &Devnet, dir: &Path) -> NodeConfig {
    let mut config = NodeConfig::default();
    config.node.data_dir = dir.to_path_buf();
    config.wallet.keystore_dir = dir.join("keystores");
    config.chain.rpc_url = devnet.endpoint();
    config.chain.chain_id = devnet.chain_id();
    config.chain.hub = Some(devnet.deployment().hub);
    config.chain.confirmations = 0;
    config.chain.poll_interval_ms = 200;
    config.chain.resubmit_after_secs = 5;
    config
}

/// Writes the keystores, the password file and `devnet.toml` under `dir`, replacing those of
/// an earlier devnet there.
pub fn write_files(devnet: &Devnet, dir: &Path) -> Result<DevnetFiles, WalletError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WalletError::Io { path, source }
    };
    let keystores = dir.join("keystores");
    if keystores.exists() {
        std::fs::remove_dir_all(&keystores).map_err(io(&keystores))?;
    }
    let wallets = Wallets::new(&keystores);
    for account in devnet.accounts() {
        wallets.create(
            &account.name,
            &account.key,
            DEVNET_PASSWORD.as_bytes(),
            KdfStrength::Light,
        )?;
    }
    let password_file = dir.join("password");
    std::fs::write(&password_file, format!("{DEVNET_PASSWORD}\n")).map_err(io(&password_file))?;

    let config = dir.join("devnet.toml");
    let text = format!(
        "# Written by `quorate devnet`: pass it to any command with --config.\n{}",
        toml::to_string(&node_config(devnet, dir)).unwrap_or_default()
    );
    std::fs::write(&config, text).map_err(io(&config))?;
    Ok(DevnetFiles { config, keystores, password_file })
}
