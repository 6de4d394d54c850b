//! A job's inputs from a file: JSON Lines (one task per line) or one JSON array (one task per
//! item). Each input is kept as the exact JSON text the user wrote, since its content hash is
//! what the manifest names.

use std::path::Path;

use serde_json::value::RawValue;

/// Why an inputs file was refused; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    /// The file could not be read.
    #[error("cannot read the inputs file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS's words.
        reason: String,
    },
    /// A line (JSON Lines) or the array is not JSON.
    #[error("{path}:{line}: not JSON ({reason}); write one JSON value per line, or one JSON array")]
    NotJson {
        /// The file.
        path: String,
        /// The line where the error is (1-based).
        line: usize,
        /// The parser's words.
        reason: String,
    },
    /// Nothing to run.
    #[error(
        "{path} holds no inputs: write one JSON value per line (for example `{{\"n\": 1}}`), or one JSON array of inputs"
    )]
    Empty {
        /// The file.
        path: String,
    },
}

/// How the file lists its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputsFormat {
    /// One JSON value per non-empty line (`.jsonl`, `.ndjson`).
    Lines,
    /// One JSON array whose items are the inputs (`.json`).
    Array,
    /// An array when the whole file is one JSON array, else lines.
    Detect,
}

impl InputsFormat {
    /// The format a file name implies.
    pub fn of_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson") => Self::Lines,
            Some("json") => Self::Array,
            _ => Self::Detect,
        }
    }
}

/// Reads the inputs of `path`, in the format its name implies.
pub fn read(path: &Path) -> Result<Vec<String>, InputsError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputsError::Read { path: shown.clone(), reason: e.to_string() })?;
    parse(&text, InputsFormat::of_path(path), &shown)
}

/// Splits `text` into inputs; `path` names the source in errors.
pub fn parse(text: &str, format: InputsFormat, path: &str) -> Result<Vec<String>, InputsError> {
    let trimmed = text.trim_start();
    let array = match format {
        InputsFormat::Array => true,
        InputsFormat::Lines => false,
        InputsFormat::Detect => {
            trimmed.starts_with('[') && serde_json::from_str::<Vec<&RawValue>>(text).is_ok()
        }
    };
    let inputs = if array { parse_array(text, path)? } else { parse_lines(text, path)? };
    if inputs.is_empty() {
        return Err(InputsError::Empty { path: path.into() });
    }
    Ok(inputs)
}

fn parse_array(text: &str, path: &str) -> Result<Vec<String>, InputsError> {
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| InputsError::NotJson {
        path: path.into(),
        line: e.line(),
        reason: e.to_string(),
    })?;
    Ok(items.into_iter().map(|raw| raw.get().to_owned()).collect())
}

fn parse_lines(text: &str, path: &str) -> Result<Vec<String>, InputsError> {
    let mut inputs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let raw: &RawValue = serde_json::from_str(line).map_err(|e| InputsError::NotJson {
            path: path.into(),
            line: number.saturating_add(1),
            reason: e.to_string(),
        })?;
        inputs.push(raw.get().to_owned());
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_arrays_give_the_exact_texts() {
        let lines = "{\"n\": 1}\n\n  [1, 2]  \n\"x\"\n";
        assert_eq!(
            parse(lines, InputsFormat::Detect, "in").unwrap(),
            ["{\"n\": 1}", "[1, 2]", "\"x\""]
        );
        let array = "[ {\"n\": 1}, 2.50, \"x\" ]";
        assert_eq!(
            parse(array, InputsFormat::Detect, "in").unwrap(),
            ["{\"n\": 1}", "2.50", "\"x\""]
        );
        // One array on one line of a .jsonl file is one input.
        assert_eq!(parse("[1, 2]", InputsFormat::Lines, "in").unwrap(), ["[1, 2]"]);
        // Lines that each hold an array are lines, not one array.
        assert_eq!(parse("[1]\n[2]", InputsFormat::Detect, "in").unwrap(), ["[1]", "[2]"]);
    }

    #[test]
    fn bad_files_say_where_and_what_to_do() {
        let err = parse("{\"n\": 1}\n{oops}\n", InputsFormat::Detect, "in.jsonl").unwrap_err();
        assert!(err.to_string().starts_with("in.jsonl:2: not JSON"), "{err}");
        let err = parse(" \n\n", InputsFormat::Detect, "in").unwrap_err();
        assert!(matches!(err, InputsError::Empty { .. }), "{err}");
        assert!(parse("[]", InputsFormat::Array, "in").is_err());
        assert!(parse("{\"not\": \"an array\"}", InputsFormat::Array, "in").is_err());
    }
}
