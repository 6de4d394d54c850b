//! Who is asking: the operator (a bearer token kept in the data directory), or an account
//! logged in by signing a one-time challenge with its wallet (EIP-712, as iexec-core's login),
//! or anyone.
//!
//! A login is two requests: the server hands out a challenge naming the account, the pool, a
//! nonce and an expiry; the wallet signs it as typed data (`eth_signTypedData_v4`, or
//! `quorate wallet login`); the server checks the signer is the account, spends the nonce and
//! answers a session token, valid [`SESSION_SECS`]. Challenges are stateless (the nonce carries
//! the server's MAC of the account, pool and expiry), so asking for many costs the server
//! nothing; spent nonces, sessions (a few per account) and each address's rate are bounded and
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
/// Nonces spent and not expired, at most.
const MAX_SPENT: usize = 65_536;
/// Sessions at once, in all and per account (the oldest goes).
const MAX_SESSIONS: usize = 16_384;
const MAX_SESSIONS_PER_ACCOUNT: usize = 8;
/// Challenges and logins one IP address may ask for per [`RATE_WINDOW_SECS`].
const RATE_PER_WINDOW: u32 = 30;
const RATE_WINDOW_SECS: u64 = 10;

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

/// The login domain of the Hub `hub` on chain `chain_id` (two deployments never share one).
pub fn domain(chain_id: u64, hub: Address) -> Eip712Domain {
    eip712_domain! { name: DOMAIN_NAME, version: "1", chain_id: chain_id, verifying_contract: hub, }
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
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt as _;
            if meta.permissions().mode() & 0o077 != 0 {
                anyhow::bail!(
                    "{} may be read by others: chmod 600 it (or remove it for a new token)",
                    path.display()
                );
            }
        }
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

    /// The digest a wallet signs for the Hub `hub` on chain `chain_id`.
    pub fn digest(&self, chain_id: u64, hub: Address) -> B256 {
        self.typed().eip712_signing_hash(&domain(chain_id, hub))
    }

    /// The message as `eth_signTypedData_v4` takes it.
    pub fn typed_data(&self, chain_id: u64, hub: Address) -> serde_json::Value {
        serde_json::json!({
            "types": {
                "EIP712Domain": [
                    { "name": "name", "type": "string" },
                    { "name": "version", "type": "string" },
                    { "name": "chainId", "type": "uint256" },
                    { "name": "verifyingContract", "type": "address" },
                ],
                "DashboardLogin": [
                    { "name": "account", "type": "address" },
                    { "name": "pool", "type": "uint64" },
                    { "name": "nonce", "type": "bytes32" },
                    { "name": "expires", "type": "uint64" },
                ],
            },
            "primaryType": "DashboardLogin",
            "domain": {
                "name": DOMAIN_NAME,
                "version": "1",
                "chainId": chain_id,
                "verifyingContract": hub,
            },
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
    /// Too many logins at once, or from one address.
    #[error("too many logins: try again in a minute")]
    Busy,
    /// The nonce is not this server's, or spent, or expired.
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

/// Sessions open, nonces spent, and each address's recent asks.
#[derive(Debug, Default)]
struct State {
    sessions: HashMap<String, Session>,
    spent: HashMap<B256, u64>,
    rates: HashMap<std::net::IpAddr, (u64, u32)>,
}

/// Wallet logins to one pool's dashboard.
#[derive(Debug)]
pub struct Logins {
    chain_id: u64,
    hub: Address,
    pool: u64,
    /// Keys the nonces' MACs; new at every start.
    secret: [u8; 32],
    state: Mutex<State>,
}

impl Logins {
    /// For pool `pool` of the Hub `hub` on chain `chain_id`.
    pub fn new(chain_id: u64, hub: Address, pool: u64) -> Self {
        let mut secret = [0u8; 32];
        // Without randomness no challenge verifies, and the dashboard says so at login.
        let _ = getrandom::fill(&mut secret);
        Self { chain_id, hub, pool, secret, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The server's MAC of a challenge: keccak over the secret and every field but the MAC.
    fn mac(&self, account: Address, expires: u64, random: &[u8]) -> [u8; 16] {
        let mut data = Vec::with_capacity(32 + 20 + 8 + 8 + 16);
        data.extend_from_slice(&self.secret);
        data.extend_from_slice(account.as_slice());
        data.extend_from_slice(&self.pool.to_be_bytes());
        data.extend_from_slice(&expires.to_be_bytes());
        data.extend_from_slice(random);
        let digest = alloy::primitives::keccak256(&data);
        let mut mac = [0u8; 16];
        mac.copy_from_slice(&digest[..16]);
        mac
    }

    /// Counts an ask from `ip`; false once it asked too often lately.
    pub fn allow(&self, ip: std::net::IpAddr, now: u64) -> bool {
        let mut state = self.state();
        if state.rates.len() > 4096 {
            state.rates.retain(|_, (start, _)| start.saturating_add(RATE_WINDOW_SECS) > now);
        }
        let (start, count) = state.rates.entry(ip.to_canonical()).or_insert((now, 0));
        if start.saturating_add(RATE_WINDOW_SECS) <= now {
            *start = now;
            *count = 0;
        }
        *count = count.saturating_add(1);
        *count <= RATE_PER_WINDOW
    }

    /// A new challenge for `account` (nothing is kept).
    pub fn challenge(&self, account: Address, now: u64) -> Result<Challenge, LoginError> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|_| LoginError::Busy)?;
        let expires = now.saturating_add(CHALLENGE_SECS);
        let mut nonce = [0u8; 32];
        nonce[..16].copy_from_slice(&random);
        nonce[16..].copy_from_slice(&self.mac(account, expires, &random));
        let login = LoginMessage { account, pool: self.pool, nonce: B256::from(nonce), expires };
        Ok(Challenge { typed_data: login.typed_data(self.chain_id, self.hub), login })
    }

    /// Checks `signature` over the challenge `login` and opens a session: its token, account
    /// and expiry.
    pub fn login(
        &self,
        login: &LoginMessage,
        signature: &[u8],
        now: u64,
    ) -> Result<(String, Address, u64), LoginError> {
        let (random, mac) = login.nonce.split_at(16);
        let genuine = login.pool == self.pool
            && login.expires > now
            && login.expires <= now.saturating_add(CHALLENGE_SECS)
            && self.mac(login.account, login.expires, random) == mac;
        if !genuine {
            return Err(LoginError::UnknownChallenge);
        }
        let signer = Signature::try_from(signature)
            .and_then(|s| s.recover_address_from_prehash(&login.digest(self.chain_id, self.hub)))
            .map_err(|_| LoginError::BadSignature)?;
        if signer != login.account {
            return Err(LoginError::WrongSigner { signer, account: login.account });
        }
        let token = random_hex().map_err(|_| LoginError::Busy)?;
        let expires = now.saturating_add(SESSION_SECS);
        let mut state = self.state();
        if state.spent.len() >= MAX_SPENT {
            state.spent.retain(|_, until| *until > now);
            if state.spent.len() >= MAX_SPENT {
                return Err(LoginError::Busy);
            }
        }
        if state.spent.insert(login.nonce, login.expires).is_some() {
            return Err(LoginError::UnknownChallenge);
        }
        // A few sessions per account, and a bounded number in all: the oldest go.
        let mut mine: Vec<(u64, String)> = state
            .sessions
            .iter()
            .filter(|(_, s)| s.account == login.account)
            .map(|(t, s)| (s.expires, t.clone()))
            .collect();
        if mine.len() >= MAX_SESSIONS_PER_ACCOUNT {
            mine.sort();
            for (_, old) in
                mine.iter().take(mine.len().saturating_sub(MAX_SESSIONS_PER_ACCOUNT - 1))
            {
                state.sessions.remove(old);
            }
        }
        if state.sessions.len() >= MAX_SESSIONS {
            state.sessions.retain(|_, s| s.expires > now);
            let oldest =
                state.sessions.iter().min_by_key(|(_, s)| s.expires).map(|(t, _)| t.clone());
            if state.sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = oldest
            {
                state.sessions.remove(&oldest);
            }
        }
        state.sessions.insert(token.clone(), Session { account: login.account, expires });
        Ok((token, login.account, expires))
    }

    /// The account of session `token`, while it lasts.
    pub fn session(&self, token: &str, now: u64) -> Option<Address> {
        self.state().sessions.get(token).filter(|s| s.expires > now).map(|s| s.account)
    }

    /// Ends `token`'s session.
    pub fn logout(&self, token: &str) {
        self.state().sessions.remove(token);
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

/// What a login challenge must name, as this node's configuration says (`None`: anything).
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected {
    /// The chain.
    pub chain_id: Option<u64>,
    /// The Hub.
    pub hub: Option<Address>,
    /// The pool.
    pub pool: Option<u64>,
}

/// Logs `signer` in to the dashboard at `url` (`quorate wallet login`): asks for a challenge,
/// checks it is a dashboard login for this account and for the chain, Hub and pool `expected`
/// (a hostile dashboard could pass on another pool's challenge), signs it.
pub async fn login_to(
    url: &str,
    signer: &alloy::signers::local::PrivateKeySigner,
    expected: Expected,
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
    let challenge: Challenge = super::json_or_error(answer).await?;
    let domain = &challenge.typed_data["domain"];
    let (Some(chain_id), Some(hub)) = (
        domain["chainId"].as_u64(),
        domain["verifyingContract"].as_str().and_then(|h| h.parse::<Address>().ok()),
    ) else {
        anyhow::bail!(
            "{base} sent a challenge without a chain and a Hub: is it a Quorate dashboard?"
        );
    };
    if challenge.login.account != signer.address() || domain["name"] != DOMAIN_NAME {
        anyhow::bail!(
            "{base} sent a challenge that is not a dashboard login for this wallet: not signed"
        );
    }
    for (what, named, wanted) in [
        ("chain", chain_id.to_string(), expected.chain_id.map(|c| c.to_string())),
        ("Hub", hub.to_string(), expected.hub.map(|h| h.to_string())),
        ("pool", challenge.login.pool.to_string(), expected.pool.map(|p| p.to_string())),
    ] {
        if let Some(wanted) = wanted.filter(|w| *w != named) {
            anyhow::bail!(
                "{base} asks to sign a login to {what} {named}, not {wanted} as this node's configuration says: not signed (check the URL, or --pool)"
            );
        }
    }
    let signature = signer
        .sign_hash_sync(&challenge.login.digest(chain_id, hub))
        .map_err(|e| anyhow::anyhow!("cannot sign: {e}"))?;
    let answer = client
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({
            "login": challenge.login,
            "signature": alloy::hex::encode_prefixed(signature.as_bytes()),
        }))
        .send()
        .await
        .map_err(unreachable)?;
    super::json_or_error(answer).await
}

#[cfg(test)]
mod tests {
    use alloy::signers::{SignerSync as _, local::PrivateKeySigner};

    use super::*;

    const HUB: Address = Address::repeat_byte(0x4b);

    fn signed(
        wallet: &PrivateKeySigner,
        login: &LoginMessage,
        chain: u64,
        hub: Address,
    ) -> Vec<u8> {
        wallet.sign_hash_sync(&login.digest(chain, hub)).unwrap().as_bytes().to_vec()
    }

    #[test]
    fn a_signed_challenge_opens_one_session_once() {
        let logins = Logins::new(31337, HUB, 1);
        let wallet = PrivateKeySigner::random();
        let challenge = logins.challenge(wallet.address(), 100).unwrap();
        assert_eq!(challenge.typed_data["message"]["pool"], "1");
        assert_eq!(challenge.typed_data["domain"]["verifyingContract"], serde_json::json!(HUB));
        let signature = signed(&wallet, &challenge.login, 31337, HUB);
        let (token, account, expires) = logins.login(&challenge.login, &signature, 101).unwrap();
        assert_eq!((account, expires), (wallet.address(), 101 + SESSION_SECS));
        assert_eq!(logins.session(&token, 102), Some(wallet.address()));
        assert_eq!(logins.session(&token, expires), None);
        // The nonce is spent.
        assert_eq!(
            logins.login(&challenge.login, &signature, 101),
            Err(LoginError::UnknownChallenge)
        );
        logins.logout(&token);
        assert_eq!(logins.session(&token, 102), None);
    }

    #[test]
    fn forged_altered_expired_and_foreign_challenges_are_refused() {
        let logins = Logins::new(31337, HUB, 1);
        let (alice, mallory) = (PrivateKeySigner::random(), PrivateKeySigner::random());
        let challenge = logins.challenge(alice.address(), 100).unwrap();
        let forged = signed(&mallory, &challenge.login, 31337, HUB);
        assert_eq!(
            logins.login(&challenge.login, &forged, 101),
            Err(LoginError::WrongSigner { signer: mallory.address(), account: alice.address() })
        );
        // Signed for another chain or Hub: recovers someone else.
        for (chain, hub) in [(1, HUB), (31337, Address::repeat_byte(1))] {
            let challenge = logins.challenge(alice.address(), 100).unwrap();
            let elsewhere = signed(&alice, &challenge.login, chain, hub);
            assert!(matches!(
                logins.login(&challenge.login, &elsewhere, 101),
                Err(LoginError::WrongSigner { .. })
            ));
        }
        let challenge = logins.challenge(alice.address(), 100).unwrap();
        assert_eq!(logins.login(&challenge.login, &[1, 2, 3], 101), Err(LoginError::BadSignature));
        // A challenge changed by the client (a later expiry, another account or pool), or one
        // another server made: not this server's.
        let challenge = logins.challenge(alice.address(), 100).unwrap();
        for altered in [
            LoginMessage { expires: challenge.login.expires + 1, ..challenge.login },
            LoginMessage { account: mallory.address(), ..challenge.login },
            LoginMessage { pool: 2, ..challenge.login },
            Logins::new(31337, HUB, 1).challenge(alice.address(), 100).unwrap().login,
        ] {
            let signature = signed(&alice, &altered, 31337, HUB);
            assert_eq!(logins.login(&altered, &signature, 101), Err(LoginError::UnknownChallenge));
        }
        let challenge = logins.challenge(alice.address(), 100).unwrap();
        let late = signed(&alice, &challenge.login, 31337, HUB);
        assert_eq!(
            logins.login(&challenge.login, &late, 100 + CHALLENGE_SECS),
            Err(LoginError::UnknownChallenge)
        );
    }

    #[test]
    fn sessions_per_account_and_asks_per_address_are_bounded() {
        let logins = Logins::new(31337, HUB, 1);
        let wallet = PrivateKeySigner::random();
        let tokens: Vec<String> = (0..MAX_SESSIONS_PER_ACCOUNT + 2)
            .map(|i| {
                let now = 100 + i as u64;
                let challenge = logins.challenge(wallet.address(), now).unwrap();
                let signature = signed(&wallet, &challenge.login, 31337, HUB);
                logins.login(&challenge.login, &signature, now).unwrap().0
            })
            .collect();
        let open = tokens.iter().filter(|t| logins.session(t, 200).is_some()).count();
        assert_eq!(open, MAX_SESSIONS_PER_ACCOUNT);
        assert!(logins.session(&tokens[0], 200).is_none(), "the oldest went");
        assert!(logins.session(tokens.last().unwrap(), 200).is_some());
        let ip = "203.0.113.9".parse().unwrap();
        assert!((0..RATE_PER_WINDOW).all(|_| logins.allow(ip, 100)));
        assert!(!logins.allow(ip, 100));
        assert!(logins.allow("203.0.113.10".parse().unwrap(), 100));
        assert!(logins.allow(ip, 100 + RATE_WINDOW_SECS));
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
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let loose = OperatorToken::load_or_create(&path).unwrap_err().to_string();
        assert!(loose.contains("chmod 600"), "{loose}");
    }
}
