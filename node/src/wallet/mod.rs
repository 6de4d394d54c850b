//! Wallets: Ethereum v3 keystores in a directory, one file per named account.
//!
//! A v3 key cannot be revoked, so the file's mode is its one protection: a keystore that group
//! or others can read or write, or that another user owns, is refused with the command that
//! fixes it. Files are written once, atomically, with mode 0600, and never rewritten: reading a
//! keystore (with a wrong password, or a corrupted one) leaves it untouched.

mod files;
pub mod keystore;
pub mod password;

use std::path::{Path, PathBuf};

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use quorate_primitives::B256;

pub use files::{check_directory, check_permissions, read_keystore};
pub use keystore::{KdfStrength, Keystore};
pub use password::PasswordSource;

/// Why a wallet operation failed. Each message says what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The password does not open the keystore.
    #[error(
        "wrong password for this keystore, or the file is damaged (it is unchanged): try again"
    )]
    WrongPassword,
    /// The keystore's text is not a v3 keystore this tool can read.
    #[error("not a readable Ethereum v3 keystore: {0}")]
    Malformed(String),
    /// A private key is not a valid secp256k1 scalar.
    #[error(
        "not a valid private key: it must be 32 bytes of hex, non-zero and below the curve order"
    )]
    InvalidKey,
    /// The file's mode lets group or others read or write it.
    #[error(
        "{} is accessible to other users (mode {mode:03o}); keystores and password files must be private: run `chmod 600 {}`",
        path.display(), path.display()
    )]
    LoosePermissions {
        /// The keystore.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file belongs to another user.
    #[error(
        "{} is owned by uid {owner}, not by you (uid {me}): use only keystores you own (copy one you trust into a file of yours, then `chmod 600` it)",
        path.display()
    )]
    WrongOwner {
        /// The keystore.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// This process's effective uid.
        me: u32,
    },
    /// No keystore of that name.
    #[error("no wallet named {name:?} in {}: list them with `quorate wallet list`", dir.display())]
    NotFound {
        /// The name asked for.
        name: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// A keystore of that name already exists.
    #[error("a wallet named {name:?} already exists in {}: choose another name", dir.display())]
    Exists {
        /// The name.
        name: String,
        /// The keystore directory.
        dir: PathBuf,
    },
    /// The name would not make a plain file name.
    #[error("{0:?} is not a wallet name: use 1 to 64 letters, digits, '-' or '_'")]
    BadName(String),
    /// More than one wallet and none chosen.
    #[error("{count} wallets in {}: choose one with --wallet NAME (see `quorate wallet list`)", dir.display())]
    Ambiguous {
        /// How many there are.
        count: usize,
        /// The keystore directory.
        dir: PathBuf,
    },
    /// No wallet at all.
    #[error("no wallet in {}: create one with `quorate wallet new` or `quorate wallet import`", dir.display())]
    Empty {
        /// The keystore directory.
        dir: PathBuf,
    },
    /// No password source is available.
    #[error("{0}")]
    Password(String),
    /// A file or directory operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// One keystore in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name: the file name without `.json`.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The address the file names (unverified until decrypted).
    pub address: Option<Address>,
}

/// A directory of keystores, `<dir>/<name>.json`.
#[derive(Debug, Clone)]
pub struct Wallets {
    dir: PathBuf,
}

impl Wallets {
    /// The keystores under `dir` (created on the first write, mode 0700).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a wallet of that name lives in.
    pub fn path_of(&self, name: &str) -> Result<PathBuf, WalletError> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Every keystore, by name, with the address each file records (unverified until it is
    /// decrypted). A missing directory is an empty list.
    pub fn list(&self) -> Result<Vec<Entry>, WalletError> {
        check_directory(&self.dir)?;
        let read = match std::fs::read_dir(&self.dir) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(WalletError::Io { path: self.dir.clone(), source }),
        };
        let mut entries = Vec::new();
        for item in read {
            let path =
                item.map_err(|source| WalletError::Io { path: self.dir.clone(), source })?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|n| check_name(n).is_ok())
                .map(str::to_owned)
            else {
                continue;
            };
            let address = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| Keystore::parse(&text).ok())
                .and_then(|k| k.claimed_address());
            entries.push(Entry { name, path, address });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// The wallet to use: the one named, or the only one there is.
    pub fn choose(&self, name: Option<&str>) -> Result<Entry, WalletError> {
        let entries = self.list()?;
        match name {
            Some(name) => {
                let path = self.path_of(name)?;
                entries.into_iter().find(|e| e.name == name).ok_or(WalletError::NotFound {
                    name: name.to_owned(),
                    dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                })
            }
            None => match entries.len() {
                0 => Err(WalletError::Empty { dir: self.dir.clone() }),
                1 => entries.into_iter().next().ok_or(WalletError::Empty { dir: self.dir.clone() }),
                count => Err(WalletError::Ambiguous { count, dir: self.dir.clone() }),
            },
        }
    }

    /// Encrypts `key` under `password` and writes it as `name`, refusing to overwrite.
    pub fn create(
        &self,
        name: &str,
        key: &B256,
        password: &[u8],
        strength: KdfStrength,
    ) -> Result<Entry, WalletError> {
        let path = self.path_of(name)?;
        if path.exists() {
            return Err(WalletError::Exists { name: name.to_owned(), dir: self.dir.clone() });
        }
        let keystore = Keystore::encrypt(key, password, strength)?;
        files::write_new(&path, &keystore)?;
        Ok(Entry { name: name.to_owned(), path, address: keystore.claimed_address() })
    }

    /// Copies an existing keystore file in as `name`, after checking that `password` opens it.
    pub fn import_file(
        &self,
        name: &str,
        source: &Path,
        password: &[u8],
    ) -> Result<(Entry, PrivateKeySigner), WalletError> {
        let path = self.path_of(name)?;
        if path.exists() {
            return Err(WalletError::Exists { name: name.to_owned(), dir: self.dir.clone() });
        }
        let signer = read_keystore(source)?.decrypt(password)?;
        // Re-encrypted at the standard cost: the source's KDF may be weaker than ours.
        let keystore =
            Keystore::encrypt(&B256::from(signer.to_bytes()), password, KdfStrength::Standard)?;
        files::write_new(&path, &keystore)?;
        Ok((Entry { name: name.to_owned(), path, address: Some(signer.address()) }, signer))
    }
}

/// Opens the keystore at `path` with `password`, checking its permissions first.
pub fn unlock(path: &Path, password: &[u8]) -> Result<PrivateKeySigner, WalletError> {
    read_keystore(path)?.decrypt(password)
}

fn check_name(name: &str) -> Result<(), WalletError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(WalletError::BadName(name.to_owned())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_file_names() {
        for good in ["client", "worker-1", "pool_owner", "A9"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "../x", "a/b", "x.json", &"a".repeat(65), "ünï"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn choose_picks_the_only_one_or_asks() {
        let dir = tempfile::tempdir().unwrap();
        let wallets = Wallets::new(dir.path().join("keys"));
        assert!(matches!(wallets.choose(None), Err(WalletError::Empty { .. })));
        let a = wallets.create("a", &B256::repeat_byte(1), b"pw", KdfStrength::Light).unwrap();
        assert_eq!(wallets.choose(None).unwrap(), a);
        wallets.create("b", &B256::repeat_byte(2), b"pw", KdfStrength::Light).unwrap();
        assert!(matches!(wallets.choose(None), Err(WalletError::Ambiguous { count: 2, .. })));
        assert_eq!(wallets.choose(Some("a")).unwrap(), a);
        assert!(matches!(wallets.choose(Some("c")), Err(WalletError::NotFound { .. })));
        let again = wallets.create("a", &B256::repeat_byte(3), b"pw", KdfStrength::Light);
        assert!(matches!(again, Err(WalletError::Exists { .. })));
    }
}
