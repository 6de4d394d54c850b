//! Writes the PoCo test vectors: `cargo run -p quorate-poco --example gen-vectors`.
//!
//! The document goes to `poco/vectors/poco.json` (or the path given as the first argument).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors").join("poco.json"),
        PathBuf::from,
    );
    std::fs::write(&path, quorate_poco::vectors::render()?)?;
    #[allow(clippy::print_stdout)]
    {
        println!("wrote {}", path.display());
    }
    Ok(())
}
