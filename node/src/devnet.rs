//! `quorate devnet`'s files: a keystore per funded account (under the devnet's documented
//! password) and a `devnet.toml` that every `quorate` command accepts with `--config`.

use std::path::{Path, PathBuf};

use quorate_devnet::Devnet;

use crate::{
    config::{self, NodeConfig},
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
    // Many roles share a devnet's machine: each serves its HTTP on a port of its own.
    config.dashboard.listen = "127.0.0.1:0".into();
    config.worker.status_listen = "127.0.0.1:0".into();
    config
}

/// The file that marks a directory as a devnet's own, so `quorate devnet` never overwrites
/// anything it did not write.
pub const MARKER: &str = ".quorate-devnet";

/// Writes the keystores, the password file and `devnet.toml` under `dir` (made absolute).
/// The devnet accounts' keystores of an earlier devnet there are replaced; any other wallet
/// in its `keystores/` is kept. A directory that holds anything but is not marked as a
/// devnet's is refused, so a mistyped `--dir` can never touch a user's keys.
pub fn write_files(devnet: &Devnet, dir: &Path) -> Result<DevnetFiles, WalletError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WalletError::Io { path, source }
    };
    let dir = std::path::absolute(dir).map_err(io(dir))?;
    let marker = dir.join(MARKER);
    let has_content = std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(false);
    if has_content && !marker.exists() {
        return Err(WalletError::Password(format!(
            "{} is not a devnet directory (it has files but no {MARKER}): give `quorate devnet` an empty or new --dir",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    std::fs::write(&marker, "written by `quorate devnet`\n").map_err(io(&marker))?;

    let keystores = dir.join("keystores");
    let wallets = Wallets::new(&keystores);
    for account in devnet.accounts() {
        let path = wallets.path_of(&account.name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(WalletError::Io { path, source }),
        }
        wallets.create(
            &account.name,
            &account.key,
            DEVNET_PASSWORD.as_bytes(),
            KdfStrength::Light,
        )?;
    }
    let password_file = dir.join("password");
    std::fs::write(&password_file, format!("{DEVNET_PASSWORD}\n")).map_err(io(&password_file))?;
    // Private, as every password file must be (one left by an older devnet included).
    std::fs::set_permissions(&password_file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(io(&password_file))?;

    let config = dir.join("devnet.toml");
    let text = config::file_text(
        &node_config(devnet, &dir),
        None,
        &["Written by `quorate devnet`: pass it to any command with --config.".into()],
    );
    std::fs::write(&config, text).map_err(io(&config))?;
    Ok(DevnetFiles { config, keystores, password_file })
}
