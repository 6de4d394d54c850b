//! The sandbox process:
//! `quorate-evaluator [--nice N] [--memory-mb M] [--v8-heap-mb H] [--load-timeout-ms T]
//! [--seccomp on|off] [--gpu on|off]`.
//!
//! Started by the worker with pipes on stdin and stdout (the protocol of
//! `quorate_evaluator::protocol`); stderr carries diagnostics only. Applies its limits to
//! itself, starts V8, drops privileges when root, installs its seccomp filter, then serves until
//! `die` or end of input.

use std::{io::Write, process::ExitCode, sync::Arc};

use quorate_evaluator::{
    Error,
    engine::Runtime,
    gpu::Gpu,
    hardening::ProcessLimits,
    protocol::DEFAULT_MAX_FRAME,
    sandbox::{LoadLimits, Sandbox},
    seccomp, server,
};

fn parse_args() -> Result<ProcessLimits, Error> {
    let mut limits = ProcessLimits::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| Error::Protocol { reason: format!("{flag} needs a value") })?;
        let number = |v: &str| -> Result<u64, Error> {
            v.parse().map_err(|_| Error::Protocol { reason: format!("{flag}: not a number: {v}") })
        };
        match flag.as_str() {
            "--nice" => limits.nice = i32::try_from(number(&value)?).unwrap_or(19),
            "--memory-mb" => limits.memory_mb = number(&value)?,
            "--v8-heap-mb" => limits.v8_heap_mb = number(&value)?,
            "--load-timeout-ms" => limits.load_timeout_ms = number(&value)?,
            "--seccomp" => limits.seccomp = value != "off",
            "--gpu" => limits.gpu = value == "on",
            other => return Err(Error::Protocol { reason: format!("unknown flag {other}") }),
        }
    }
    Ok(limits)
}

fn run() -> Result<(), Error> {
    let limits = parse_args()?;
    limits.apply()?;
    let rt = Runtime::init_with_flags(&limits.v8_flags())?;
    let mut sandbox = Sandbox::with_runtime(rt)?;
    sandbox.set_load_limits(LoadLimits {
        timeout_ms: limits.load_timeout_ms,
        ..LoadLimits::default()
    });
    if limits.gpu {
        // Before the seccomp filter: the Vulkan loader opens driver files.
        sandbox.set_gpu(Gpu::open()?.map(Arc::new));
    }
    limits.drop_privileges()?;
    if limits.seccomp {
        seccomp::install()?;
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let served =
        server::serve(&mut sandbox, &mut stdin.lock(), &mut stdout.lock(), DEFAULT_MAX_FRAME);
    if sandbox.is_poisoned() {
        // Something still runs (a GPU shader, a context that would not stop): dropping the
        // sandbox could wait for it. Exit now; the worker replaces this process.
        let _ = writeln!(std::io::stderr(), "quorate-evaluator: poisoned; exiting");
        std::process::exit(1);
    }
    served
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "quorate-evaluator: {e}");
            ExitCode::FAILURE
        }
    }
}
