//! Process-level hardening calls (rlimits, priority, parent-death signal, privileges, seccomp,
//! page size): the OS half of the crate's `unsafe`, each block with its reason.

/// A resource limit to set.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resource {
    /// Bytes of data segment and private writable mappings.
    Data,
    /// Core file size.
    Core,
    /// Open file descriptors.
    NoFile,
    /// Size of files the process may write.
    FileSize,
    /// CPU seconds.
    Cpu,
}

fn last_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// Sets both the soft and hard limit of `resource` (lowering only: raising fails).
pub(crate) fn set_rlimit(resource: Resource, value: u64) -> Result<(), String> {
    let r = match resource {
        Resource::Data => libc::RLIMIT_DATA,
        Resource::Core => libc::RLIMIT_CORE,
        Resource::NoFile => libc::RLIMIT_NOFILE,
        Resource::FileSize => libc::RLIMIT_FSIZE,
        Resource::Cpu => libc::RLIMIT_CPU,
    };
    let lim = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: `lim` is a valid, initialised rlimit for the duration of the call.
    if unsafe { libc::setrlimit(r, &lim) } == 0 { Ok(()) } else { Err(last_error("setrlimit")) }
}

/// Sets the process's nice value.
pub(crate) fn set_nice(nice: i32) -> Result<(), String> {
    // SAFETY: plain integers; `who` = 0 is the calling process.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } == 0 {
        Ok(())
    } else {
        Err(last_error("setpriority"))
    }
}

/// Asks the kernel to SIGKILL this process when its parent (the worker) dies.
pub(crate) fn die_with_parent() -> Result<(), String> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; the rest are unused.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) } == 0
    {
        Ok(())
    } else {
        Err(last_error("prctl(PR_SET_PDEATHSIG)"))
    }
}

/// Forbids gaining privileges through exec (setuid binaries, file capabilities).
pub(crate) fn no_new_privileges() -> Result<(), String> {
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes 1 and zeros.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) } == 0 {
        Ok(())
    } else {
        Err(last_error("prctl(PR_SET_NO_NEW_PRIVS)"))
    }
}

/// The size of a memory page in bytes.
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf takes a plain integer and reads no memory of ours.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// The effective user id.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and takes no arguments.
    unsafe { libc::geteuid() }
}

/// Drops to `uid`/`gid` with no supplementary groups (when running as root).
pub(crate) fn drop_privileges(uid: u32, gid: u32) -> Result<(), String> {
    // SAFETY: a zero-length group list; the pointer is never read.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(last_error("setgroups"));
    }
    // SAFETY: plain ids.
    if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
        return Err(last_error("setresgid"));
    }
    // SAFETY: plain ids.
    if unsafe { libc::setresuid(uid, uid, uid) } != 0 {
        return Err(last_error("setresuid"));
    }
    Ok(())
}

/// Installs a seccomp BPF program on all threads (`SECCOMP_FILTER_FLAG_TSYNC`).
pub(crate) fn install_seccomp(program: &[crate::seccomp::Insn]) -> Result<(), String> {
    let mut filters: Vec<libc::sock_filter> = program
        .iter()
        .map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k })
        .collect();
    let prog = libc::sock_fprog {
        len: u16::try_from(filters.len()).map_err(|_| "seccomp program too long".to_string())?,
        filter: filters.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `filters`, which outlives the call; the kernel copies the
    // program. The flags and operation are plain integers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_TSYNC,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == 0 { Ok(()) } else { Err(last_error("seccomp")) }
}
