//! The join credentials a private pool's owner issued, and the workers it revoked: a file beside
//! the scheduler's store (`credentials.json`, mode 0600) that `quorate scheduler credential
//! issue | revoke | list` write while the scheduler runs (it holds the store), and that the
//! running scheduler reads again whenever it changes. A revoked worker is refused at its next
//! heartbeat and at every join; a credential issued again lifts the revocation.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    time::SystemTime,
};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::{config::NodeConfig, scheduler::state::SchedulerState};

/// The file's name, beside the store.
const FILE: &str = "credentials.json";

/// What the owner issued and revoked, as the file holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// Credentials issued, one per worker (the latest).
    pub issued: Vec<Issued>,
    /// Workers revoked.
    pub revoked: Vec<Revoked>,
}

/// A credential issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// The worker it lets in.
    pub worker: Address,
    /// When, unix seconds.
    pub issued_at: u64,
    /// Until when, unix seconds.
    pub expires_at: u64,
}

/// A worker revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// The worker.
    pub worker: Address,
    /// When, unix seconds.
    pub at: u64,
}

impl Register {
    /// The file of `config`'s data directory.
    pub fn path(config: &NodeConfig) -> PathBuf {
        SchedulerState::path_in(config).with_file_name(FILE)
    }

    /// Reads the file; none yet is an empty register.
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{} is not a credentials register ({e}): restore it or remove it",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the file whole (a temporary file renamed over it), readable by its owner alone.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("json.tmp");
        let _ = std::fs::remove_file(&tmp);
        super::service::write_private(&tmp, &bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Records a credential for `worker`, and lifts its revocation.
    pub fn issue(&mut self, worker: Address, now: u64, expires_at: u64) {
        self.issued.retain(|i| i.worker != worker);
        self.issued.push(Issued { worker, issued_at: now, expires_at });
        self.revoked.retain(|r| r.worker != worker);
    }

    /// Revokes `worker`; false when it already was.
    pub fn revoke(&mut self, worker: Address, now: u64) -> bool {
        if self.is_revoked(worker) {
            return false;
        }
        self.revoked.push(Revoked { worker, at: now });
        true
    }

    /// True when `worker` is revoked.
    pub fn is_revoked(&self, worker: Address) -> bool {
        self.revoked.iter().any(|r| r.worker == worker)
    }
}

/// The running scheduler's view of the revocations: the file read again when it changed.
#[derive(Debug)]
pub struct Revocations {
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
    revoked: HashSet<Address>,
}

impl Revocations {
    /// Follows the file at `path`.
    pub fn new(path: PathBuf) -> Self {
        let mut revocations = Self { path, seen: None, revoked: HashSet::new() };
        revocations.refresh();
        revocations
    }

    /// True when `worker` is revoked, as the file says now.
    pub fn contains(&mut self, worker: Address) -> bool {
        self.refresh();
        self.revoked.contains(&worker)
    }

    fn refresh(&mut self) {
        let stamp =
            std::fs::metadata(&self.path).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp == self.seen {
            return;
        }
        self.seen = stamp;
        match Register::load(&self.path) {
            Ok(register) => {
                self.revoked = register.revoked.iter().map(|r| r.worker).collect();
            }
            // A broken file revokes nobody new and forgets nobody revoked.
            Err(e) => tracing::error!(target: "quorate::scheduler", "{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_revoke_and_issue_again_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let (a, b) = (Address::repeat_byte(0xa), Address::repeat_byte(0xb));
        let mut following = Revocations::new(path.clone());
        assert!(!following.contains(a));
        let mut register = Register::load(&path).unwrap();
        register.issue(a, 10, 100);
        register.issue(b, 10, 100);
        assert!(register.revoke(a, 20));
        assert!(!register.revoke(a, 21));
        register.save(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(following.contains(a) && !following.contains(b));
        // Issued again: let in again.
        let mut register = Register::load(&path).unwrap();
        register.issue(a, 30, 300);
        register.save(&path).unwrap();
        assert!(!following.contains(a));
        assert_eq!(Register::load(&path).unwrap().issued.len(), 2);
        // A broken file forgets nobody.
        register.revoke(b, 40);
        register.save(&path).unwrap();
        assert!(following.contains(b));
        std::fs::write(&path, "{ not json").unwrap();
        assert!(following.contains(b));
        assert!(Register::load(&path).unwrap_err().contains("restore it or remove it"));
    }
}
