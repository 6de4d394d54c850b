//! Who is asking: the operator (a bearer token kept in the data directory), or an account
//! logged in by signing a one-time challenge with its wallet (EIP-712, as iexec-core's login),
//! or anyone.
//!
//! A login is two requests: the server hands out a challenge naming the account, the pool, a
//! random nonce and an expiry; the wallet signs it as typed data (`eth_signTypedData_v4`, or
//! `quorate wallet login`); the server checks the signer is the account, spends the nonce and
//! answers a session token, valid [`SESSION_SECS`]. Challenges and sessions are bounded and
//! kept in memory only: a restart logs everyone out, which costs a signature.

use std::{collections::HashMap, path::Path, sync::Mutex};

use alloy::{
    primitives::{Address, B256, Signature},
    sol_types::{Eip712Domain, SolStruct, eip712_domain},
};
use serde::{Deserialize, Serialize};

/// How long a challenge may wait for its signature, seconds.
pub const CHALLENGE_SECS: u64 = 300;
/// How long a session lasts, seconds.
pub const SESSION_SECS: u64 = 12 * 3600;
/// Challenges waiting at once.
const MAX_CHALLENGES: usize = 4096;
/// Sessions at once.
const MAX_SESSIONS: usize = 16_384;

/// The EIP-712 domain's name.
pub const DOMAIN_NAME: &str = "Quorate dashboard";

alloy::sol! {
    /// What a wallet signs to log in to a pool's dashboard.
    #[derive(Debug, PartialEq, Eq)]
    struct DashboardLogin {
        /// The account logging in.
        address account;
        /// The pool whose dashboard it is.
        uint64 pool;
        /// The server's one-time nonce.
        bytes32 nonce;
        /// Unix seconds after which the signature is refused.
        uint64 expires;
    }
}

/// The login domain of chain `chain_id`.
pub fn domain(chain_id: u64) -> Eip712Domain {
    eip712_domain! { name: DOMAIN_NAME, version: "1", chain_id: chain_id, }
}

/// The operator's token: 32 random bytes in hex, in a file only its owner reads.
#[derive(Clone)]
pub struct OperatorToken(String);

impl std::fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorToken(…)")
    }
}

impl OperatorToken {
    /// The token in `path`, made (0600) when there is none.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().len() >= 32 => return Ok(Self(text.trim().to_owned())),
            Ok(_) => anyhow::bail!(
                "{} holds no token: remove it and a new one is made at the next start",
                path.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        }
        let token = random_hex()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::scheduler::service::write_private(path, token.as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        Ok(Self(token))
    }

    /// The token's text (for the URL the operator opens).
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// True when `candidate` is the token (compared in constant time).
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(alloy::hex::encode(bytes))
}

/// A challenge to sign, as the server hands it out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Challenge {
    /// The message signed.
    pub login: LoginMessage,
    /// The same as `eth_signTypedData_v4` takes it.
    pub typed_data: serde_json::Value,
}

/// The fields of [`DashboardLogin`], as JSON carries them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginMessage {
    /// The account.
    pub account: Address,
    /// The pool.
    pub pool: u64,
    /// The nonce.
    pub nonce: B256,
    /// The expiry, unix seconds.
    pub expires: u64,
}

impl LoginMessage {
    fn typed(&self) -> DashboardLogin {
        DashboardLogin {
            account: self.account,
            pool: self.pool,
            nonce: self.nonce,
            expires: self.expires,
        }
    }

    /// The digest a wallet signs on chain `chain_id`.
    pub fn digest(&self, chain_id: u64) -> B256 {
        self.typed().eip712_signing_hash(&domain(chain_id))
    }

    /// The message as `eth_signTypedData_v4` takes it.
    pub fn typed_data(&self, chain_id: u64) -> serde_json::Value {
        serde_json::json!({
            "types": {
                "EIP712Domain": [
                    { "name": "name", "type": "string" },
                    { "name": "version", "type": "string" },
                    { "name": "chainId", "type": "uint256" },
                ],
                "DashboardLogin": [
                    { "name": "account", "type": "address" },
                    { "name": "pool", "type": "uint64" },
                    { "name": "nonce", "type": "bytes32" },
                    { "name": "expires", "type": "uint64" },
                ],
            },
            "primaryType": "DashboardLogin",
            "domain": { "name": DOMAIN_NAME, "version": "1", "chainId": chain_id },
            "message": {
                "account": self.account,
                "pool": self.pool.to_string(),
                "nonce": self.nonce,
                "expires": self.expires.to_string(),
            },
        })
    }
}

/// Why a login was refused; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Too many challenges wait.
    #[error("too many logins are waiting: try again in a minute")]
    Busy,
    /// The nonce is unknown, spent or expired.
    #[error("this challenge is unknown, used or expired: ask for a new one")]
    UnknownChallenge,
    /// The signature is not 65 bytes or recovers nobody.
    #[error("the signature is malformed: sign the challenge's typed data (65 bytes, r ‖ s ‖ v)")]
    BadSignature,
    /// Signed by another account.
    #[error("the challenge was signed by {signer}, not by {account}: sign with {account}'s wallet")]
    WrongSigner {
        /// Who signed.
        signer: Address,
        /// Who was to.
        account: Address,
    },
}

/// A logged-in account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Session {
    account: Address,
    expires: u64,
}

/// Challenges waiting and sessions open.
#[derive(Debug)]
pub struct Logins {
    chain_id: u64,
    pool: u64,
    challenges: Mutex<HashMap<B256, LoginMessage>>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Logins {
    /// For pool `pool` on chain `chain_id`.
    pub fn new(chain_id: u64, pool: u64) -> Self {
        Self {
            chain_id,
            pool,
            challenges: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// A new challenge for `account`.
    pub fn challenge(&self, account: Address, now: u64) -> Result<Challenge, LoginError> {
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce).map_err(|_| LoginError::Busy)?;
        let login = LoginMessage {
            account,
            pool: self.pool,
            nonce: B256::from(nonce),
            expires: now.saturating_add(CHALLENGE_SECS),
        };
        let mut challenges = self.challenges.lock().unwrap_or_else(|e| e.into_inner());
        if challenges.len() >= MAX_CHALLENGES {
            challenges.retain(|_, c| c.expires > now);
            if challenges.len() >= MAX_CHALLENGES {
                return Err(LoginError::Busy);
            }
        }
        challenges.insert(login.nonce, login);
        Ok(Challenge { typed_data: login.typed_data(self.chain_id), login })
    }

    /// Checks `signature` over the challenge `nonce` and opens a session: its token and expiry.
    pub fn login(
        &self,
        nonce: B256,
        signature: &[u8],
        now: u64,
    ) -> Result<(String, Address, u64), LoginError> {
        let login = {
            let mut challenges = self.challenges.lock().unwrap_or_else(|e| e.into_inner());
            challenges.remove(&nonce).ok_or(LoginError::UnknownChallenge)?
        };
        if login.expires <= now {
            return Err(LoginError::UnknownChallenge);
        }
        let signer = Signature::try_from(signature)
            .and_then(|s| s.recover_address_from_prehash(&login.digest(self.chain_id)))
            .map_err(|_| LoginError::BadSignature)?;
        if signer != login.account {
            return Err(LoginError::WrongSigner { signer, account: login.account });
        }
        let token = random_hex().map_err(|_| LoginError::Busy)?;
        let expires = now.saturating_add(SESSION_SECS);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.expires > now);
            if sessions.len() >= MAX_SESSIONS {
                return Err(LoginError::Busy);
            }
        }
        sessions.insert(token.clone(), Session { account: login.account, expires });
        Ok((token, login.account, expires))
    }

    /// The account of session `token`, while it lasts.
    pub fn session(&self, token: &str, now: u64) -> Option<Address> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(token).filter(|s| s.expires > now).map(|s| s.account)
    }

    /// Ends `token`'s session.
    pub fn logout(&self, token: &str) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(token);
    }
}

#[cfg(test)]
mod tests {
    use alloy::signers::{SignerSync as _, local::PrivateKeySigner};

    use super::*;

    #[test]
    fn a_signed_challenge_opens_one_session_once() {
        let logins = Logins::new(31337, 1);
        let wallet = PrivateKeySigner::random();
        let challenge = logins.challenge(wallet.address(), 100).unwrap();
        assert_eq!(challenge.typed_data["message"]["pool"], "1");
        let digest = challenge.login.digest(31337);
        let signature = wallet.sign_hash_sync(&digest).unwrap().as_bytes();
        let (token, account, expires) =
            logins.login(challenge.login.nonce, &signature, 101).unwrap();
        assert_eq!((account, expires), (wallet.address(), 101 + SESSION_SECS));
        assert_eq!(logins.session(&token, 102), Some(wallet.address()));
        assert_eq!(logins.session(&token, expires), None);
        // The nonce is spent.
        assert_eq!(
            logins.login(challenge.login.nonce, &signature, 101),
            Err(LoginError::UnknownChallenge)
        );
        logins.logout(&token);
        assert_eq!(logins.session(&token, 102), None);
    }

    #[test]
    fn wrong_signers_expired_challenges_and_garbage_are_refused() {
        let logins = Logins::new(31337, 1);
        let (alice, mallory) = (PrivateKeySigner::random(), PrivateKeySigner::random());
        let challenge = logins.challenge(alice.address(), 100).unwrap();
        let forged = mallory.sign_hash_sync(&challenge.login.digest(31337)).unwrap().as_bytes();
        assert_eq!(
            logins.login(challenge.login.nonce, &forged, 101),
            Err(LoginError::WrongSigner { signer: mallory.address(), account: alice.address() })
        );
        // Signed for another chain: recovers someone else.
        let challenge = logins.challenge(alice.address(), 100).unwrap();
        let other_chain = alice.sign_hash_sync(&challenge.login.digest(1)).unwrap().as_bytes();
        assert!(matches!(
            logins.login(challenge.login.nonce, &other_chain, 101),
            Err(LoginError::WrongSigner { .. })
        ));
        let challenge = logins.challenge(alice.address(), 100).unwrap();
        assert_eq!(
            logins.login(challenge.login.nonce, &[1, 2, 3], 101),
            Err(LoginError::BadSignature)
        );
        let challenge = logins.challenge(alice.address(), 100).unwrap();
        let late = alice.sign_hash_sync(&challenge.login.digest(31337)).unwrap().as_bytes();
        assert_eq!(
            logins.login(challenge.login.nonce, &late, 100 + CHALLENGE_SECS),
            Err(LoginError::UnknownChallenge)
        );
    }

    #[test]
    fn the_operator_token_is_made_once_and_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dashboard.token");
        let token = OperatorToken::load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let again = OperatorToken::load_or_create(&path).unwrap();
        assert!(again.matches(token.reveal()) && !again.matches("nope") && !again.matches(""));
    }
}

/// A session opened on the dashboard at `url`: its token, account and expiry.
#[derive(Debug, Clone, Deserialize)]
pub struct Opened {
    /// The session's bearer token.
    pub token: String,
    /// The account.
    pub account: Address,
    /// Unix seconds.
    pub expires: u64,
}

/// Logs `signer` in to the dashboard at `url` (`quorate wallet login`): asks for a challenge,
/// checks it is a dashboard login for this account (nothing else is ever signed), signs it.
pub async fn login_to(
    url: &str,
    signer: &alloy::signers::local::PrivateKeySigner,
) -> anyhow::Result<Opened> {
    use alloy::signers::SignerSync as _;
    let base = url.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| anyhow::anyhow!("no HTTP client: {e}"))?;
    let unreachable = |e: reqwest::Error| {
        anyhow::anyhow!(
            "cannot reach the dashboard at {base}: {e}; check the URL and that the scheduler runs"
        )
    };
    let answer = client
        .get(format!("{base}/api/login/challenge?account={}", signer.address()))
        .send()
        .await
        .map_err(unreachable)?;
    let challenge: Challenge = json_or_error(answer).await?;
    let chain_id = challenge.typed_data["domain"]["chainId"].as_u64().ok_or_else(|| {
        anyhow::anyhow!("{base} sent a challenge without a chain id: is it a Quorate dashboard?")
    })?;
    if challenge.login.account != signer.address()
        || challenge.typed_data["domain"]["name"] != DOMAIN_NAME
    {
        anyhow::bail!(
            "{base} sent a challenge that is not a dashboard login for this wallet: not signed"
        );
    }
    let signature = signer
        .sign_hash_sync(&challenge.login.digest(chain_id))
        .map_err(|e| anyhow::anyhow!("cannot sign: {e}"))?;
    let answer = client
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({
            "nonce": challenge.login.nonce,
            "signature": alloy::hex::encode_prefixed(signature.as_bytes()),
        }))
        .send()
        .await
        .map_err(unreachable)?;
    json_or_error(answer).await
}

/// The JSON of a successful answer, or the server's `error` sentence.
pub async fn json_or_error<T: serde::de::DeserializeOwned>(
    answer: reqwest::Response,
) -> anyhow::Result<T> {
    let status = answer.status();
    let body = answer.bytes().await.map_err(|e| anyhow::anyhow!("the answer broke off: {e}"))?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| {
            anyhow::anyhow!(
                "the answer is not what was expected ({e}): is the URL a Quorate server?"
            )
        });
    }
    let error = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("HTTP {status}"));
    anyhow::bail!("{error}")
}
