//! What the sandbox process does to itself before it runs anyone's code: resource limits, a
//! lower priority, death with its parent, no new privileges, and (as root) a switch to an
//! unprivileged user.

use serde::{Deserialize, Serialize};

use crate::{
    Error,
    ffi::os::{self, Resource},
};

/// The process-level limits of a sandbox process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessLimits {
    /// Nice value (0 = normal, 19 = lowest priority).
    pub nice: i32,
    /// Cap of the process's data memory (`RLIMIT_DATA`), in MiB: V8's heap, buffers, and all.
    pub memory_mb: u64,
    /// V8's own old-space ceiling (`--max-old-space-size`), in MiB: a heap that outgrows the
    /// per-task cap faster than it can be stopped ends the process here, which the worker
    /// sees and replaces.
    pub v8_heap_mb: u64,
    /// Cap of open file descriptors.
    pub max_files: u64,
    /// The user and group to switch to when started as root (`nobody` by default).
    pub unprivileged_uid: u32,
    /// Whether to install the seccomp filter ([`crate::seccomp`]).
    pub seccomp: bool,
    /// Whether to open a GPU (wgpu, Vulkan) at start-up for `gpu.compute`.
    pub gpu: bool,
    /// See `unprivileged_uid`.
    pub unprivileged_gid: u32,
    /// Wall-clock limit of each load of a job's code, in milliseconds
    /// ([`crate::sandbox::LoadLimits`]).
    #[serde(default = "default_load_timeout_ms")]
    pub load_timeout_ms: u64,
}

fn default_load_timeout_ms() -> u64 {
    crate::sandbox::LoadLimits::default().timeout_ms
}

impl Default for ProcessLimits {
    fn default() -> Self {
        Self {
            nice: 10,
            memory_mb: 4096,
            v8_heap_mb: 1024,
            max_files: 256,
            unprivileged_uid: 65534,
            unprivileged_gid: 65534,
            seccomp: true,
            gpu: false,
            load_timeout_ms: default_load_timeout_ms(),
        }
    }
}

impl ProcessLimits {
    /// The V8 flags these limits imply.
    pub fn v8_flags(&self) -> String {
        format!("--max-old-space-size={}", self.v8_heap_mb)
    }

    /// Applies the limits to the calling process. Call it first thing in `main`, before V8
    /// starts its threads (the nice value is per thread on Linux and is inherited).
    pub fn apply(&self) -> Result<(), Error> {
        let fail = |reason: String| Error::Sandbox { reason };
        os::die_with_parent().map_err(fail)?;
        os::no_new_privileges().map_err(fail)?;
        os::set_rlimit(Resource::Core, 0).map_err(fail)?;
        os::set_rlimit(Resource::FileSize, 0).map_err(fail)?;
        os::set_rlimit(Resource::NoFile, self.max_files).map_err(fail)?;
        os::set_rlimit(Resource::Data, self.memory_mb.saturating_mul(1 << 20)).map_err(fail)?;
        os::set_nice(self.nice).map_err(fail)
    }

    /// When running as root, switches to the unprivileged user and group for good. Call it
    /// after V8 has loaded its library and ICU data (which that user may not be able to read).
    /// Returns whether privileges were dropped.
    pub fn drop_privileges(&self) -> Result<bool, Error> {
        if os::euid() != 0 {
            return Ok(false);
        }
        os::drop_privileges(self.unprivileged_uid, self.unprivileged_gid)
            .map_err(|reason| Error::Sandbox { reason })?;
        Ok(true)
    }
}

/// Sets a CPU-time cap (`RLIMIT_CPU`) in seconds; the kernel kills the process past it.
pub fn limit_cpu_seconds(seconds: u64) -> Result<(), Error> {
    os::set_rlimit(Resource::Cpu, seconds).map_err(|reason| Error::Sandbox { reason })
}
