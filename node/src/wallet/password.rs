//! Where a keystore's password comes from: a file, the environment, or a no-echo prompt on the
//! terminal. Never from a command-line argument, which other users can read in the process
//! list.

use std::path::PathBuf;

use super::WalletError;

/// The environment variable that may hold the password.
pub const PASSWORD_ENV: &str = "QUORATE_PASSWORD";

/// The password's source, in the order they are tried. Its `Debug` never shows the value.
#[derive(Clone, Default)]
pub struct PasswordSource {
    /// `--password-file`: its first line (without the line break) is the password.
    pub file: Option<PathBuf>,
    /// Whether `QUORATE_PASSWORD` may be read (the CLI passes the value it found).
    pub env: Option<String>,
}

impl std::fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordSource")
            .field("file", &self.file)
            .field("env", &self.env.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl PasswordSource {
    /// The CLI's source: the file if given, else `QUORATE_PASSWORD`, else the terminal.
    pub fn from_cli(file: Option<PathBuf>) -> Self {
        Self { file, env: std::env::var(PASSWORD_ENV).ok() }
    }

    /// Reads the password to open an existing keystore.
    pub fn read(&self, prompt: &str) -> Result<String, WalletError> {
        if let Some(path) = &self.file {
            return first_line(path);
        }
        if let Some(value) = &self.env {
            return Ok(value.clone());
        }
        ask(prompt)
    }

    /// Reads a new password: from the file or environment as is, or asked twice on the
    /// terminal. An empty password is refused.
    pub fn read_new(&self, what: &str) -> Result<String, WalletError> {
        let password = if self.file.is_some() || self.env.is_some() {
            self.read("")?
        } else {
            let first = ask(&format!("New password for {what}: "))?;
            let again = ask("Repeat it: ")?;
            if first != again {
                return Err(WalletError::Password(
                    "the two passwords differ: nothing was written, try again".into(),
                ));
            }
            first
        };
        if password.is_empty() {
            return Err(WalletError::Password(
                "an empty password would leave the key unprotected: choose one".into(),
            ));
        }
        Ok(password)
    }
}

/// The file's first line. A regular file others may read or write, or that another user owns,
/// is refused (a pipe or a terminal is taken as it is), unless systemd handed it over as a
/// service's credential: `$CREDENTIALS_DIRECTORY` is private to the service whatever its files'
/// modes say (newer systemd gives them to the service's user through an ACL, as root's 0440).
fn first_line(path: &PathBuf) -> Result<String, WalletError> {
    let meta =
        std::fs::metadata(path).map_err(|source| WalletError::Io { path: path.clone(), source })?;
    if meta.is_file() && !in_credentials_directory(path) {
        super::files::check_permissions(path)?;
    }
    let text = std::fs::read_to_string(path)
        .map_err(|source| WalletError::Io { path: path.clone(), source })?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// True when `path` is inside the directory systemd keeps this service's credentials in.
fn in_credentials_directory(path: &std::path::Path) -> bool {
    let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) else {
        return false;
    };
    match (std::fs::canonicalize(dir), std::fs::canonicalize(path)) {
        (Ok(dir), Ok(path)) => path.starts_with(dir),
        _ => false,
    }
}

fn ask(prompt: &str) -> Result<String, WalletError> {
    rpassword::prompt_password(prompt).map_err(|e| {
        WalletError::Password(format!(
            "cannot ask for the password ({e}): give --password-file FILE or set {PASSWORD_ENV}"
        ))
    })
}

/// Reads a secret that is not a password (a private key to import) the same way.
pub fn read_secret(file: Option<&PathBuf>, prompt: &str) -> Result<String, WalletError> {
    match file {
        Some(path) => first_line(path),
        None => ask(prompt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_wins_and_only_its_first_line_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\nignored\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        // Readable by others: refused, with the fix.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let loose = PasswordSource { file: Some(path.clone()), env: None }.read("").unwrap_err();
        assert!(loose.to_string().contains("chmod 600"), "{loose}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let source = PasswordSource { file: Some(path), env: Some("env".into()) };
        assert_eq!(source.read("").unwrap(), "s3cret");
        let env = PasswordSource { file: None, env: Some("from-env".into()) };
        assert_eq!(env.read("").unwrap(), "from-env");
        let empty = PasswordSource { file: None, env: Some(String::new()) };
        assert!(empty.read_new("x").is_err());
    }
}
