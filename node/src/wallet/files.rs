//! Keystore files on disk: permission checks on read, atomic 0600 writes.

use std::{
    fs::{self, OpenOptions},
    io::{Read, Write},
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt},
    path::Path,
};

use super::{Keystore, WalletError};

/// Refuses a keystore that group or others may read or write, or that another user owns.
pub fn check_permissions(path: &Path) -> Result<(), WalletError> {
    let meta = fs::metadata(path)
        .map_err(|source| WalletError::Io { path: path.to_path_buf(), source })?;
    check_metadata(path, &meta)
}

fn check_metadata(path: &Path, meta: &fs::Metadata) -> Result<(), WalletError> {
    private(path, meta, 0o077)
}

/// Refuses a keystore directory that another user owns or that group or others may write:
/// whoever can write it can swap or delete the keys in it.
pub fn check_directory(dir: &Path) -> Result<(), WalletError> {
    match fs::metadata(dir) {
        Ok(meta) => private(dir, &meta, 0o022),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(WalletError::Io { path: dir.to_path_buf(), source }),
    }
}

/// Refuses `path` when any bit of `forbidden` is set in its mode, or another user owns it.
fn private(path: &Path, meta: &fs::Metadata, forbidden: u32) -> Result<(), WalletError> {
    let mode = meta.mode() & 0o777;
    if mode & forbidden != 0 {
        return Err(WalletError::LoosePermissions { path: path.to_path_buf(), mode });
    }
    let me = effective_uid();
    if meta.uid() != me {
        return Err(WalletError::WrongOwner { path: path.to_path_buf(), owner: meta.uid(), me });
    }
    Ok(())
}

/// Reads and parses a keystore, checking the permissions of the very file it reads (one open,
/// then `fstat`: no window between check and read). Never writes.
pub fn read_keystore(path: &Path) -> Result<Keystore, WalletError> {
    let io = |source| WalletError::Io { path: path.to_path_buf(), source };
    let mut file = fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(WalletError::Malformed(format!("{} is not a file", path.display())));
    }
    check_metadata(path, &meta)?;
    let mut text = String::new();
    // A keystore is under a kilobyte; a huge file is not one.
    (&mut file).take(64 * 1024).read_to_string(&mut text).map_err(io)?;
    Keystore::parse(&text).map_err(|e| match e {
        WalletError::Malformed(why) => WalletError::Malformed(format!("{}: {why}", path.display())),
        other => other,
    })
}

/// Writes a new keystore: the directory is created 0700, the file 0600 with `O_EXCL` (never
/// over an existing file), synced, then moved into place, so a crash leaves either nothing or
/// the whole file.
pub(super) fn write_new(path: &Path, keystore: &Keystore) -> Result<(), WalletError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| WalletError::Io { path: p, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io(dir))?;
    check_directory(dir)?;
    let text = serde_json::to_string_pretty(keystore)
        .map_err(|e| WalletError::Malformed(e.to_string()))?;
    // A temporary name of our own, so two writers never share (or delete) one.
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix)
        .map_err(|e| WalletError::Malformed(format!("the OS random source failed: {e}")))?;
    let tmp = path.with_extension(format!("json.{}.tmp", alloy::primitives::hex::encode(suffix)));
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    file.write_all(text.as_bytes()).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    // A hard link fails if the name was taken meanwhile; rename would silently replace it.
    fs::hard_link(&tmp, path).map_err(io(path))?;
    fs::remove_file(&tmp).map_err(io(&tmp))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[allow(unsafe_code)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use quorate_primitives::B256;

    use super::*;
    use crate::wallet::KdfStrength;

    #[test]
    fn writes_private_files_and_refuses_loose_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/k.json");
        let keystore = Keystore::encrypt(&B256::repeat_byte(5), b"pw", KdfStrength::Light).unwrap();
        write_new(&path, &keystore).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777, 0o700);
        assert!(read_keystore(&path).is_ok());
        assert!(write_new(&path, &keystore).is_err(), "never overwrites");

        for mode in [0o640, 0o604, 0o620, 0o666] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = read_keystore(&path).unwrap_err();
            assert!(matches!(err, WalletError::LoosePermissions { .. }), "{mode:o}");
            assert!(err.to_string().contains(&format!("chmod 600 {}", path.display())), "{err}");
        }
    }
}
