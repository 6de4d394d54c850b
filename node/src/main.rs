//! The `quorate` command line; everything it does lives in the library (`quorate_node::cli`).

fn main() -> std::process::ExitCode {
    quorate_node::cli::run()
}
