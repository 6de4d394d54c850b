//! `quorate completions SHELL` and `quorate man --out DIR`: shell completions and man pages,
//! generated from the command line itself, so they never drift from it.

use std::{io::Write, path::Path, process::ExitCode};

use clap::CommandFactory;
use clap_complete::Shell;

use super::Args;

/// Prints the completion script of `shell` on standard output.
pub(super) fn completions(shell: Shell) -> anyhow::Result<ExitCode> {
    let mut command = Args::command();
    // Generated whole first: clap_complete panics on a failed write, and a reader that stops
    // early (`| head`) is no error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "quorate", &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Writes one man page per command into `dir` (`quorate.1`, `quorate-job.1`,
/// `quorate-job-submit.1`, …); returns how many.
pub(super) fn man_pages(dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!("cannot create {}: {e}: choose a directory you can write", dir.display())
    })?;
    let command = Args::command();
    let written = write_pages(&command, "quorate", "quorate", dir)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{written} man pages written to {}", dir.display())?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `command`'s page as `<name>.1` (its usage line starting with `bin`), then its
/// subcommands' pages.
fn write_pages(
    command: &clap::Command,
    name: &str,
    bin: &str,
    dir: &Path,
) -> anyhow::Result<usize> {
    // Titled `quorate-job-submit`, its usage line `quorate job submit …`.
    let page = command.clone().display_name(name).bin_name(bin);
    let path = dir.join(format!("{name}.1"));
    let mut bytes = Vec::new();
    clap_mangen::Man::new(page).render(&mut bytes)?;
    std::fs::write(&path, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let mut written = 1;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let (sub_name, sub_bin) =
            (format!("{name}-{}", sub.get_name()), format!("{bin} {}", sub.get_name()));
        written += write_pages(sub, &sub_name, &sub_bin, dir)?;
    }
    Ok(written)
}
