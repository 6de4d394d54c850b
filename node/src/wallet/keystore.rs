//! The Ethereum v3 keystore format (Web3 Secret Storage), as geth, MetaMask and Foundry's
//! `cast wallet` write it: a secp256k1 key encrypted with AES-128-CTR under a key derived from
//! the password by scrypt (or PBKDF2-HMAC-SHA256, read only), authenticated by
//! `keccak256(derived[16..32] ‖ ciphertext)`.
//!
//! Pure: bytes in, bytes out. Files, permissions and passwords are [`super::files`]' concern.

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use quorate_primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};

use super::WalletError;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// How hard the password is stretched when a keystore is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfStrength {
    /// geth's standard scrypt cost (N = 2^18, r = 8, p = 1): 256 MiB and about half a second per
    /// unlock. Every key a user keeps.
    Standard,
    /// geth's "light" cost (N = 2^12, r = 8, p = 6): for throw-away devnet keys only.
    Light,
}

impl KdfStrength {
    fn params(self) -> (u8, u32, u32) {
        match self {
            Self::Standard => (18, 8, 1),
            Self::Light => (12, 8, 6),
        }
    }
}

/// A v3 keystore as it is stored. Field names follow the specification; `Crypto` (capitalised,
/// as some older writers spell it) is accepted on read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keystore {
    /// The account's address, lowercase hex without `0x`. Optional in the specification, so
    /// a reader must not trust it before decrypting: [`Keystore::decrypt`] checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The encrypted key.
    #[serde(alias = "Crypto")]
    pub crypto: Crypto,
    /// A random UUID.
    pub id: String,
    /// Always 3.
    pub version: u32,
    /// Written by some tools (MetaMask, ethers); kept so a file reads back unchanged.
    #[serde(default, rename = "x-ethers", skip_serializing_if = "Option::is_none")]
    pub x_ethers: Option<serde_json::Value>,
}

/// The `crypto` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crypto {
    /// Always `aes-128-ctr`.
    pub cipher: String,
    /// The encrypted 32-byte key, hex.
    pub ciphertext: String,
    /// The cipher's IV.
    pub cipherparams: CipherParams,
    /// `scrypt` or `pbkdf2`.
    pub kdf: String,
    /// The KDF's parameters; their shape depends on `kdf`.
    pub kdfparams: serde_json::Value,
    /// keccak256 of the second half of the derived key and the ciphertext, hex.
    pub mac: String,
}

/// The cipher's parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CipherParams {
    /// The 16-byte IV, hex.
    pub iv: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ScryptParams {
    dklen: u32,
    n: u64,
    p: u32,
    r: u32,
    salt: String,
}

#[derive(Debug, Deserialize)]
struct Pbkdf2Params {
    c: u32,
    dklen: u32,
    prf: String,
    salt: String,
}

/// The largest scrypt or PBKDF2 cost accepted on read: a hostile file must not make an unlock
/// take an hour or a terabyte. geth's standard (N = 2^18, r = 8, p = 1) needs 256 MiB and
/// 2^21 block mixes; these bounds allow twice the memory and eight times the work.
const MAX_SCRYPT_LOG_N: u32 = 20;
const MAX_SCRYPT_MEMORY: u64 = 1 << 29;
const MAX_SCRYPT_WORK: u64 = 1 << 24;
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;

impl Keystore {
    /// Encrypts `key` under `password`.
    pub fn encrypt(
        key: &B256,
        password: &[u8],
        strength: KdfStrength,
    ) -> Result<Self, WalletError> {
        let signer = signer_of(key)?;
        let (log_n, r, p) = strength.params();
        let salt: [u8; 32] = random()?;
        let iv: [u8; 16] = random()?;
        let derived = scrypt_key(password, &salt, log_n, r, p)?;
        let mut ciphertext = key.0;
        cipher(&derived, &iv)?.apply_keystream(&mut ciphertext);
        let mac = mac(&derived, &ciphertext);
        let params = ScryptParams { dklen: 32, n: 1u64 << log_n, p, r, salt: hex(&salt) };
        Ok(Self {
            address: Some(hex(signer.address().as_slice())),
            crypto: Crypto {
                cipher: "aes-128-ctr".into(),
                ciphertext: hex(&ciphertext),
                cipherparams: CipherParams { iv: hex(&iv) },
                kdf: "scrypt".into(),
                kdfparams: serde_json::to_value(params)
                    .map_err(|e| WalletError::Malformed(e.to_string()))?,
                mac: hex(mac.as_slice()),
            },
            id: uuid::Uuid::new_v4().to_string(),
            version: 3,
            x_ethers: None,
        })
    }

    /// Parses a keystore file's text.
    pub fn parse(text: &str) -> Result<Self, WalletError> {
        let keystore: Self =
            serde_json::from_str(text).map_err(|e| WalletError::Malformed(e.to_string()))?;
        if keystore.version != 3 {
            return Err(WalletError::Malformed(format!(
                "version {} (only version 3 keystores are supported)",
                keystore.version
            )));
        }
        if let Some(address) = &keystore.address
            && keystore.claimed_address().is_none()
        {
            return Err(WalletError::Malformed(format!("address {address:?} is not an address")));
        }
        if keystore.crypto.cipher != "aes-128-ctr" {
            return Err(WalletError::Malformed(format!(
                "cipher {:?} (only aes-128-ctr is supported)",
                keystore.crypto.cipher
            )));
        }
        Ok(keystore)
    }

    /// The address the file claims, before decryption (unverified; `None` when absent).
    pub fn claimed_address(&self) -> Option<Address> {
        let text = self.address.as_deref()?;
        text.trim_start_matches("0x").parse().ok()
    }

    /// Decrypts the key, checking the MAC (a wrong password) and, when the file names an
    /// address, that the key belongs to it.
    pub fn decrypt(&self, password: &[u8]) -> Result<PrivateKeySigner, WalletError> {
        let derived = self.derive(password)?;
        let mut ciphertext = unhex(&self.crypto.ciphertext, "ciphertext")?;
        let expected = unhex(&self.crypto.mac, "mac")?;
        if mac(&derived, &ciphertext).as_slice() != expected.as_slice() {
            return Err(WalletError::WrongPassword);
        }
        let iv = unhex(&self.crypto.cipherparams.iv, "iv")?;
        let iv: [u8; 16] =
            iv.try_into().map_err(|_| WalletError::Malformed("the IV is not 16 bytes".into()))?;
        cipher(&derived, &iv)?.apply_keystream(&mut ciphertext);
        let key: [u8; 32] = ciphertext
            .try_into()
            .map_err(|_| WalletError::Malformed("the ciphertext is not 32 bytes".into()))?;
        let signer = signer_of(&B256::from(key))?;
        if let Some(claimed) = &self.address
            && let Some(address) = self.claimed_address()
            && address != signer.address()
        {
            return Err(WalletError::Malformed(format!(
                "the file says address {claimed} but its key is {}",
                signer.address()
            )));
        }
        Ok(signer)
    }

    fn derive(&self, password: &[u8]) -> Result<[u8; 32], WalletError> {
        match self.crypto.kdf.as_str() {
            "scrypt" => {
                let p: ScryptParams = serde_json::from_value(self.crypto.kdfparams.clone())
                    .map_err(|e| WalletError::Malformed(format!("scrypt parameters: {e}")))?;
                if p.dklen != 32 || !p.n.is_power_of_two() || p.n < 2 {
                    return Err(WalletError::Malformed(format!(
                        "scrypt dklen {} / n {} (need dklen 32 and n a power of two)",
                        p.dklen, p.n
                    )));
                }
                let log_n = p.n.trailing_zeros();
                if log_n > MAX_SCRYPT_LOG_N {
                    return Err(WalletError::Malformed(format!(
                        "scrypt n = 2^{log_n} is above the 2^{MAX_SCRYPT_LOG_N} this tool accepts"
                    )));
                }
                let (n, r, p_) = (p.n, u64::from(p.r), u64::from(p.p));
                let memory = n.checked_mul(r).and_then(|x| x.checked_mul(128));
                let block = r.checked_mul(p_).and_then(|x| x.checked_mul(128));
                let work = n.checked_mul(r).and_then(|x| x.checked_mul(p_));
                let within = |v: Option<u64>, max: u64| v.is_some_and(|v| v <= max);
                if r == 0
                    || p_ == 0
                    || !within(memory, MAX_SCRYPT_MEMORY)
                    || !within(block, MAX_SCRYPT_MEMORY)
                    || !within(work, MAX_SCRYPT_WORK)
                {
                    return Err(WalletError::Malformed(format!(
                        "scrypt n = {n}, r = {r}, p = {p_} would cost more memory or time than any \
                         real keystore needs"
                    )));
                }
                let log_n = u8::try_from(log_n)
                    .map_err(|_| WalletError::Malformed("scrypt n is too large".into()))?;
                scrypt_key(password, &unhex(&p.salt, "salt")?, log_n, p.r, p.p)
            }
            "pbkdf2" => {
                let p: Pbkdf2Params = serde_json::from_value(self.crypto.kdfparams.clone())
                    .map_err(|e| WalletError::Malformed(format!("pbkdf2 parameters: {e}")))?;
                if p.prf != "hmac-sha256" || p.dklen != 32 || p.c == 0 || p.c > MAX_PBKDF2_ROUNDS {
                    return Err(WalletError::Malformed(format!(
                        "pbkdf2 prf {:?} / dklen {} / c {} is not supported",
                        p.prf, p.dklen, p.c
                    )));
                }
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                    password,
                    &unhex(&p.salt, "salt")?,
                    p.c,
                    &mut out,
                );
                Ok(out)
            }
            other => Err(WalletError::Malformed(format!("unknown kdf {other:?}"))),
        }
    }
}

fn scrypt_key(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<[u8; 32], WalletError> {
    let params = scrypt::Params::new(log_n, r, p, 32)
        .map_err(|e| WalletError::Malformed(format!("scrypt parameters: {e}")))?;
    let mut out = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut out)
        .map_err(|e| WalletError::Malformed(format!("scrypt: {e}")))?;
    Ok(out)
}

fn cipher(derived: &[u8; 32], iv: &[u8; 16]) -> Result<Aes128Ctr, WalletError> {
    let (key, _) = derived.split_at(16);
    Aes128Ctr::new_from_slices(key, iv).map_err(|e| WalletError::Malformed(format!("aes: {e}")))
}

fn mac(derived: &[u8; 32], ciphertext: &[u8]) -> B256 {
    let (_, mac_key) = derived.split_at(16);
    let mut input = Vec::with_capacity(16 + ciphertext.len());
    input.extend_from_slice(mac_key);
    input.extend_from_slice(ciphertext);
    keccak256(&input)
}

fn signer_of(key: &B256) -> Result<PrivateKeySigner, WalletError> {
    PrivateKeySigner::from_bytes(key).map_err(|_| WalletError::InvalidKey)
}

fn random<const N: usize>() -> Result<[u8; N], WalletError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| WalletError::Malformed(format!("the OS random source failed: {e}")))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    alloy::primitives::hex::encode(bytes)
}

fn unhex(text: &str, what: &str) -> Result<Vec<u8>, WalletError> {
    alloy::primitives::hex::decode(text)
        .map_err(|e| WalletError::Malformed(format!("{what} is not hex: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PBKDF2 test vector of the Web3 Secret Storage specification.
    const SPEC_PBKDF2: &str = r#"{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},"ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","kdf":"pbkdf2","kdfparams":{"c":262144,"dklen":32,"prf":"hmac-sha256","salt":"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},"mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}"#;
    /// The scrypt test vector of the same specification. Its r = 1 with N = 2^18 breaks RFC 7914's
    /// N < 2^(16r), which the scrypt crate enforces: it is refused as malformed, not misread.
    const SPEC_SCRYPT: &str = r#"{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"83dbcc02d8ccb40e466191a123791e0e"},"ciphertext":"d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c","kdf":"scrypt","kdfparams":{"dklen":32,"n":262144,"r":1,"p":8,"salt":"ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"},"mac":"2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}"#;
    const SPEC_KEY: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";

    #[test]
    fn reads_the_specification_vectors() {
        let keystore = Keystore::parse(SPEC_PBKDF2).unwrap();
        let signer = keystore.decrypt(b"testpassword").unwrap();
        assert_eq!(alloy::primitives::hex::encode(signer.to_bytes()), SPEC_KEY);
        let scrypt = Keystore::parse(SPEC_SCRYPT).unwrap();
        assert!(matches!(scrypt.decrypt(b"testpassword"), Err(WalletError::Malformed(_))));
    }

    #[test]
    fn round_trips_and_refuses_a_wrong_password() {
        let key = B256::repeat_byte(0x42);
        let keystore = Keystore::encrypt(&key, b"correct horse", KdfStrength::Light).unwrap();
        let text = serde_json::to_string(&keystore).unwrap();
        let back = Keystore::parse(&text).unwrap();
        assert_eq!(back.decrypt(b"correct horse").unwrap().to_bytes(), key);
        assert!(matches!(back.decrypt(b"wrong"), Err(WalletError::WrongPassword)));
        assert_eq!(back.claimed_address(), Some(signer_of(&key).unwrap().address()));
    }

    #[test]
    fn refuses_hostile_parameters_before_deriving() {
        let mut keystore =
            Keystore::encrypt(&B256::repeat_byte(1), b"pw", KdfStrength::Light).unwrap();
        keystore.crypto.kdfparams["n"] = serde_json::json!(1u64 << 40);
        assert!(matches!(keystore.decrypt(b"pw"), Err(WalletError::Malformed(_))));
        keystore.crypto.kdfparams["n"] = serde_json::json!(3);
        assert!(matches!(keystore.decrypt(b"pw"), Err(WalletError::Malformed(_))));
        // Years of work or a terabyte of memory through r and p, refused at once.
        for (n, r, p) in [(4096u64, 8u32, 100_000u32), (4096, 1 << 20, 1), (1 << 18, 8, 64)] {
            keystore.crypto.kdfparams["n"] = serde_json::json!(n);
            keystore.crypto.kdfparams["r"] = serde_json::json!(r);
            keystore.crypto.kdfparams["p"] = serde_json::json!(p);
            let started = std::time::Instant::now();
            assert!(
                matches!(keystore.decrypt(b"pw"), Err(WalletError::Malformed(_))),
                "{n} {r} {p}"
            );
            assert!(started.elapsed() < std::time::Duration::from_millis(100));
        }
    }

    #[test]
    fn a_file_naming_another_address_is_refused() {
        let mut keystore =
            Keystore::encrypt(&B256::repeat_byte(1), b"pw", KdfStrength::Light).unwrap();
        keystore.address = Some(hex(Address::repeat_byte(9).as_slice()));
        let err = keystore.decrypt(b"pw").unwrap_err();
        assert!(err.to_string().contains("says address"), "{err}");
        keystore.address = Some("0Xnot-an-address".into());
        let text = serde_json::to_string(&keystore).unwrap();
        assert!(matches!(Keystore::parse(&text), Err(WalletError::Malformed(_))));
    }

    #[test]
    fn malformed_files_are_named() {
        for text in
            ["", "{}", r#"{"version":3}"#, &SPEC_SCRYPT.replace("\"version\":3", "\"version\":1")]
        {
            assert!(matches!(Keystore::parse(text), Err(WalletError::Malformed(_))), "{text}");
        }
    }
}
