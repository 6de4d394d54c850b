//! Keystores against Foundry's `cast`, both directions, and the file left untouched by every
//! refusal.

use std::{fs, os::unix::fs::PermissionsExt, process::Command, time::SystemTime};

use quorate_node::wallet::{self, KdfStrength, WalletError, Wallets};
use quorate_primitives::B256;

use crate::common::foundry;

fn snapshot(path: &std::path::Path) -> (Vec<u8>, SystemTime, u32) {
    let meta = fs::metadata(path).unwrap();
    (fs::read(path).unwrap(), meta.modified().unwrap(), meta.permissions().mode())
}

#[test]
fn a_keystore_written_by_cast_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(foundry("cast"))
        .args(["wallet", "new"])
        .arg(dir.path())
        .args(["made-by-cast", "--unsafe-password", "cast-pw"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let address = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Address:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("cast printed no address: {stdout}"));
    let path = dir.path().join("made-by-cast");

    // cast leaves it readable by everyone: refused, with the fix, and untouched.
    let before = snapshot(&path);
    let err = wallet::unlock(&path, b"cast-pw").unwrap_err();
    assert!(matches!(err, WalletError::LoosePermissions { .. }), "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
    assert_eq!(snapshot(&path), before);

    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let signer = wallet::unlock(&path, b"cast-pw").unwrap();
    assert_eq!(signer.address().to_string().to_lowercase(), address.to_lowercase());

    // Imported into our directory, it keeps its key and gains a recorded address.
    let wallets = Wallets::new(dir.path().join("ours"));
    let (entry, imported) = wallets.import_file("imported", &path, b"cast-pw").unwrap();
    assert_eq!(imported.address(), signer.address());
    assert_eq!(entry.address, Some(signer.address()));
    assert_eq!(fs::metadata(&entry.path).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_keystore_we_write_is_read_by_cast() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = Wallets::new(dir.path());
    let key = B256::repeat_byte(0x3c);
    // The standard scrypt cost, as `quorate wallet new` writes it.
    let entry = wallets.create("ours", &key, b"our-pw", KdfStrength::Standard).unwrap();
    let out = Command::new(foundry("cast"))
        .args(["wallet", "address", "--keystore"])
        .arg(&entry.path)
        .args(["--password", "our-pw"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_lowercase();
    assert_eq!(Some(printed.parse().unwrap()), entry.address);
}

#[test]
fn refusals_leave_the_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = Wallets::new(dir.path());
    let entry = wallets.create("w", &B256::repeat_byte(7), b"right", KdfStrength::Light).unwrap();
    let before = snapshot(&entry.path);

    let err = wallet::unlock(&entry.path, b"wrong").unwrap_err();
    assert!(matches!(err, WalletError::WrongPassword), "{err}");
    assert_eq!(snapshot(&entry.path), before);

    fs::set_permissions(&entry.path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = wallet::unlock(&entry.path, b"right").unwrap_err();
    assert!(err.to_string().contains(&format!("chmod 600 {}", entry.path.display())), "{err}");
    fs::set_permissions(&entry.path, fs::Permissions::from_mode(0o600)).unwrap();

    // A corrupted file: one hex digit of the ciphertext flipped, and one cut short.
    let text = String::from_utf8(before.0).unwrap();
    let at = text.find("\"ciphertext\": \"").unwrap() + 15;
    let mut flipped = text.clone().into_bytes();
    flipped[at] = if flipped[at] == b'0' { b'1' } else { b'0' };
    for corrupt in [flipped, text.as_bytes()[..text.len() / 2].to_vec()] {
        fs::write(&entry.path, &corrupt).unwrap();
        fs::set_permissions(&entry.path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = wallet::unlock(&entry.path, b"right").unwrap_err();
        assert!(matches!(err, WalletError::WrongPassword | WalletError::Malformed(_)), "{err}");
        assert_eq!(fs::read(&entry.path).unwrap(), corrupt, "a refusal never rewrites the file");
    }
}
