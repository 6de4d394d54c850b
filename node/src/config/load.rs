//! Reading the configuration's layers and merging them: defaults < site file < environment <
//! flags. Each layer is checked on its own first, so an error names where the bad value came
//! from: the file and line, the variable, or the flag.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::{CONFIG_ENV, NodeConfig};

/// The site file read when neither `--config` nor `QUORATE_CONFIG` names one.
pub const SYSTEM_CONFIG: &str = "/etc/quorate/quorate.toml";

/// What one invocation brings to the configuration besides the defaults.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    /// `--config FILE`.
    pub file: Option<PathBuf>,
    /// The process environment (only `QUORATE_*` variables matter).
    pub env: Vec<(String, String)>,
    /// `KEY=VALUE` pairs from flags, in order (a later one wins).
    pub flags: Vec<(String, String)>,
}

impl Layers {
    /// The layers of this process: its environment, and the given file and flags.
    pub fn from_process(file: Option<PathBuf>, flags: Vec<(String, String)>) -> Self {
        Self {
            file,
            env: std::env::vars().filter(|(k, _)| k.starts_with("QUORATE_")).collect(),
            flags,
        }
    }
}

/// Why the configuration cannot be used. Each message names the source of the bad value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named site file does not exist or cannot be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The site file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{}, line {line}{}: {message}", path.display(), key.as_ref().map(|k| format!(", key `{k}`")).unwrap_or_default())]
    File {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the problem.
        line: usize,
        /// The dotted key, when one could be named.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// An environment variable's value does not fit its key.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        reason: String,
    },
    /// A flag names an unknown key or gives a value of the wrong type.
    #[error("flag {flag}: {reason}")]
    Flag {
        /// The flag as given.
        flag: String,
        /// What is wrong.
        reason: String,
    },
    /// A value parses but cannot work.
    #[error("configuration key `{key}` {reason}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// What is wrong and what to do.
        reason: String,
    },
}

/// What kind of value a key takes, read off the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Boolean,
    /// A list: `[0, 1]`, or the same without brackets.
    List,
}

/// Every key of the schema (`section.key`) and its kind.
fn catalogue() -> Vec<(String, Kind)> {
    let mut full = NodeConfig::default();
    // Optional keys are absent from the defaults; give them a value to see them.
    full.chain.hub = Some(alloy::primitives::Address::ZERO);
    let mut keys = Vec::new();
    if let Ok(serde_json::Value::Object(sections)) = serde_json::to_value(&full) {
        for (section, body) in sections {
            if let serde_json::Value::Object(fields) = body {
                for (key, value) in fields {
                    let kind = match value {
                        serde_json::Value::Number(_) => Kind::Integer,
                        serde_json::Value::Bool(_) => Kind::Boolean,
                        serde_json::Value::Array(_) => Kind::List,
                        _ => Kind::Text,
                    };
                    keys.push((format!("{section}.{key}"), kind));
                }
            }
        }
    }
    keys
}

/// The environment variable for a key: `chain.rpc_url` → `QUORATE_CHAIN_RPC_URL`.
pub fn env_var(key: &str) -> String {
    format!("QUORATE_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Reads every layer and merges them. Returns the configuration and the site file used.
pub fn load(layers: &Layers) -> Result<(NodeConfig, Option<PathBuf>), ConfigError> {
    let mut merged = match Value::try_from(NodeConfig::default()) {
        Ok(Value::Table(table)) => table,
        _ => Table::new(),
    };

    let site = site_file(layers)?;
    if let Some(path) = &site {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.clone(), source })?;
        merge(&mut merged, file_layer(path, &text)?);
    }

    let keys = catalogue();
    let mut env_layer = Table::new();
    for (key, kind) in &keys {
        let var = env_var(key);
        if let Some((_, raw)) = layers.env.iter().rev().find(|(name, _)| *name == var) {
            let value = typed(key, *kind, raw)
                .and_then(|value| fits(key, value))
                .map_err(|reason| ConfigError::Env { var: var.clone(), reason })?;
            insert(&mut env_layer, key, value);
        }
    }
    merge(&mut merged, env_layer);

    let mut flag_layer = Table::new();
    for (key, raw) in &layers.flags {
        let flag = format!("{key}={raw}");
        let (_, kind) = keys.iter().find(|(k, _)| k == key).ok_or_else(|| ConfigError::Flag {
            flag: flag.clone(),
            reason: format!("there is no key `{key}`: `quorate config defaults` lists them all"),
        })?;
        let value = typed(key, *kind, raw)
            .and_then(|value| fits(key, value))
            .map_err(|reason| ConfigError::Flag { flag, reason })?;
        insert(&mut flag_layer, key, value);
    }
    merge(&mut merged, flag_layer);

    let config: NodeConfig = Value::Table(merged).try_into().map_err(|e: toml::de::Error| {
        ConfigError::Invalid { key: "(merged)".into(), reason: e.message().to_owned() }
    })?;
    config.validate()?;
    Ok((config, site))
}

fn site_file(layers: &Layers) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = &layers.file {
        return Ok(Some(path.clone()));
    }
    if let Some((_, path)) = layers.env.iter().find(|(k, _)| k == CONFIG_ENV) {
        return Ok(Some(PathBuf::from(path)));
    }
    let system = Path::new(SYSTEM_CONFIG);
    Ok(system.exists().then(|| system.to_path_buf()))
}

/// Parses a site file, refusing unknown keys and wrong types with the line and key.
fn file_layer(path: &Path, text: &str) -> Result<Table, ConfigError> {
    let fail = |e: toml::de::Error| {
        let (line, key) = match e.span() {
            Some(span) => {
                let start = span.start.min(text.len());
                (text[..start].matches('\n').count() + 1, key_at(text, start))
            }
            None => (1, None),
        };
        ConfigError::File { path: path.to_path_buf(), line, key, message: e.message().to_owned() }
    };
    let table: Table = toml::from_str(text).map_err(fail)?;
    // The file alone must fit the schema, the defaults standing in for what it omits; parsing
    // the text itself (not the table) keeps the error's span inside the file.
    toml::from_str::<NodeConfig>(text).map_err(fail)?;
    Ok(table)
}

/// The dotted key on the line holding byte `offset`: the last `[section]` above it, and the
/// key before `=` on its line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    let section = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let key = line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_owned())?;
    Some(match section {
        Some(section) if !key.contains('.') => format!("{section}.{key}"),
        _ => key,
    })
}

/// Turns an environment or flag string into the value its key takes. Text keys take the
/// string as it is, so URLs and paths need no quotes.
fn typed(key: &str, kind: Kind, raw: &str) -> Result<Value, String> {
    match kind {
        Kind::Text => Ok(Value::String(raw.to_owned())),
        Kind::Integer => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Value::Integer)
            .ok_or_else(|| format!("`{key}` takes a whole number ≥ 0, not {raw:?}")),
        Kind::Boolean => raw
            .trim()
            .parse::<bool>()
            .map(Value::Boolean)
            .map_err(|_| format!("`{key}` takes true or false, not {raw:?}")),
        Kind::List => {
            let text = raw.trim();
            let bracketed = text.starts_with('[');
            let text = if bracketed { text.to_owned() } else { format!("[{text}]") };
            toml::from_str::<toml::Table>(&format!("list = {text}"))
                .ok()
                .and_then(|mut t| t.remove("list"))
                // Bare items that are not TOML values (addresses, paths) are strings, so
                // `--set client.bootstrap=/ip4/…/p2p/12D3…` needs no quotes.
                .or_else(|| {
                    (!bracketed).then(|| {
                        Value::Array(
                            raw.split(',')
                                .map(str::trim)
                                .filter(|item| !item.is_empty())
                                .map(|item| Value::String(item.to_owned()))
                                .collect(),
                        )
                    })
                })
                .ok_or_else(|| {
                    format!("`{key}` takes a list such as `0, 1` or `[0, 1]`, not {raw:?}")
                })
        }
    }
}

/// Checks that `value` is one `key` can take (an address for `chain.hub`, say), by laying it
/// alone over the defaults.
fn fits(key: &str, value: Value) -> Result<Value, String> {
    let mut table = match Value::try_from(NodeConfig::default()) {
        Ok(Value::Table(table)) => table,
        _ => Table::new(),
    };
    insert(&mut table, key, value.clone());
    Value::Table(table)
        .try_into::<NodeConfig>()
        .map(|_| ())
        .map_err(|e| format!("`{key}` cannot be {}: {}", display(&value), e.message()))
        .map(|()| value)
}

fn display(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn insert(table: &mut Table, key: &str, value: Value) {
    let (section, field) = key.split_once('.').unwrap_or(("", key));
    let entry = table.entry(section.to_owned()).or_insert_with(|| Value::Table(Table::new()));
    if let Value::Table(t) = entry {
        t.insert(field.to_owned(), value);
    }
}

/// Lays `over` on `base`, section by section.
fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// One derived value by dotted key, printed as `config get` does: text bare, others as TOML.
pub fn get(config: &NodeConfig, key: &str) -> Option<String> {
    let value = Value::try_from(config).ok()?;
    let mut at = &value;
    for part in key.split('.') {
        at = at.as_table()?.get(part)?;
    }
    Some(match at {
        Value::String(s) => s.clone(),
        Value::Table(t) => toml::to_string(t).unwrap_or_default(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn each_layer_overrides_the_one_before() {
        let (_dir, path) =
            write("[chain]\nrpc_url = \"http://file:1\"\nconfirmations = 5\nchain_id = 7\n");
        let mut layers = Layers { file: Some(path), ..Layers::default() };
        let (c, _) = load(&layers).unwrap();
        assert_eq!((c.chain.rpc_url.as_str(), c.chain.confirmations), ("http://file:1", 5));
        assert_eq!(c.chain.poll_interval_ms, 1000, "defaults stand where the file is silent");

        layers.env =
            pairs(&[("QUORATE_CHAIN_RPC_URL", "http://env:2"), ("QUORATE_CHAIN_CHAIN_ID", "9")]);
        let (c, _) = load(&layers).unwrap();
        assert_eq!(
            (c.chain.rpc_url.as_str(), c.chain.chain_id, c.chain.confirmations),
            ("http://env:2", 9, 5)
        );

        layers.flags = pairs(&[("chain.rpc_url", "http://flag:3")]);
        let (c, _) = load(&layers).unwrap();
        assert_eq!((c.chain.rpc_url.as_str(), c.chain.chain_id), ("http://flag:3", 9));
    }

    #[test]
    fn an_unknown_key_names_file_line_and_key() {
        let (_dir, path) = write("[chain]\nrpc_url = \"http://x\"\nrpc_ur1 = \"typo\"\n");
        let err = load(&Layers { file: Some(path.clone()), ..Layers::default() }).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::File { line: 3, .. }), "{text}");
        assert!(
            text.contains(&path.display().to_string()) && text.contains("chain.rpc_ur1"),
            "{text}"
        );
    }

    #[test]
    fn a_wrong_type_names_file_line_and_key() {
        let (_dir, path) = write("# comment\n[chain]\n\nconfirmations = \"two\"\n");
        let err = load(&Layers { file: Some(path), ..Layers::default() }).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::File { line: 4, .. }), "{text}");
        assert!(text.contains("chain.confirmations"), "{text}");

        let (_dir, path) = write("[nodes]\ndata_dir = \"/x\"\n");
        let err = load(&Layers { file: Some(path), ..Layers::default() }).unwrap_err();
        assert!(matches!(err, ConfigError::File { line: 1, .. }), "{err}");
    }

    #[test]
    fn bad_environment_and_flags_are_named() {
        let layers =
            Layers { env: pairs(&[("QUORATE_CHAIN_CONFIRMATIONS", "lots")]), ..Layers::default() };
        let err = load(&layers).unwrap_err().to_string();
        assert!(
            err.contains("QUORATE_CHAIN_CONFIRMATIONS") && err.contains("whole number"),
            "{err}"
        );
        let layers = Layers { flags: pairs(&[("chain.nope", "1")]), ..Layers::default() };
        let err = load(&layers).unwrap_err().to_string();
        assert!(err.contains("chain.nope=1") && err.contains("no key"), "{err}");
        let layers =
            Layers { flags: pairs(&[("chain.fee_bump_percent", "5")]), ..Layers::default() };
        assert!(matches!(load(&layers), Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn a_missing_named_file_is_an_error() {
        let layers = Layers { file: Some("/nonexistent/q.toml".into()), ..Layers::default() };
        assert!(matches!(load(&layers), Err(ConfigError::Io { .. })));
    }

    #[test]
    fn get_prints_one_value_or_a_section() {
        let mut config = NodeConfig::default();
        config.chain.hub = Some(alloy::primitives::Address::repeat_byte(0xab));
        assert_eq!(get(&config, "chain.confirmations").as_deref(), Some("2"));
        assert_eq!(get(&config, "chain.rpc_url").as_deref(), Some("http://127.0.0.1:8545"));
        assert!(get(&config, "chain.hub").unwrap().to_lowercase().contains("abab"));
        assert!(get(&config, "chain").unwrap().contains("log_block_range"));
        assert_eq!(get(&config, "chain.nope"), None);
        assert_eq!(env_var("chain.rpc_url"), "QUORATE_CHAIN_RPC_URL");
    }
}
