//! How much memory the sandbox process holds: its private writable memory, which is what
//! `RLIMIT_DATA` counts (the V8 heap, `ArrayBuffer`s, WebAssembly memories and shared buffers,
//! touched or not), read from `/proc/self/statm` through a descriptor opened before the seccomp
//! filter is installed.
//!
//! A task may grow it by at most its `heap_bytes`: the host samples it every
//! [`MEMORY_POLL`] while the task runs and once more when it ends.

use std::{fs::File, os::unix::fs::FileExt, time::Duration};

use crate::{Error, ffi::os};

/// How often a running task's memory is sampled.
pub(crate) const MEMORY_POLL: Duration = Duration::from_millis(2);

/// Memory a context may keep above its level after the job was loaded once a task has ended;
/// above it (after a full garbage collection) the context is replaced.
pub(crate) const RELEASE_SLACK: u64 = 64 << 20;

/// The process's memory counters.
#[derive(Debug)]
pub(crate) struct ProcessMemory {
    statm: File,
    page: u64,
}

impl ProcessMemory {
    /// Opens the counters (before the seccomp filter forbids opening files).
    pub(crate) fn open() -> Result<Self, Error> {
        let statm = File::open("/proc/self/statm")
            .map_err(|e| Error::io("opening /proc/self/statm", &e))?;
        let m = Self { statm, page: os::page_size() };
        m.data_bytes().ok_or_else(|| Error::Sandbox {
            reason: "/proc/self/statm has no data field".into(),
        })?;
        Ok(m)
    }

    /// Private writable memory (`VmData`), in bytes.
    pub(crate) fn data_bytes(&self) -> Option<u64> {
        let mut buf = [0u8; 256];
        let n = self.statm.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(buf.get(..n)?).ok()?;
        // size resident shared text lib data dt, in pages.
        let pages: u64 = text.split_ascii_whitespace().nth(5)?.parse().ok()?;
        pages.checked_mul(self.page)
    }

    /// Resident memory (`VmRSS`), in bytes.
    pub(crate) fn resident_bytes(&self) -> Option<u64> {
        let mut buf = [0u8; 256];
        let n = self.statm.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(buf.get(..n)?).ok()?;
        let pages: u64 = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
        pages.checked_mul(self.page)
    }
}
