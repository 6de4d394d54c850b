//! The sandbox process's seccomp filter (Linux x86_64): once V8 and the sandbox are up, only
//! the system calls they need at run time are allowed.
//!
//! - allowed: memory (mmap, mprotect, madvise, ...), threads (futex, `clone` with
//!   `CLONE_THREAD` only, signals to its own threads), reading and writing already open
//!   descriptors (the pipes), time, randomness, and a few queries;
//! - killed on the spot: `execve`/`execveat`, every socket call, `fork`/`vfork` and `clone`
//!   without `CLONE_THREAD`, `ptrace`, `process_vm_readv/writev`, signals to other processes;
//! - `clone3` fails with `ENOSYS` (glibc then uses `clone`, which the filter can inspect);
//! - everything else (opening files, ioctl, mount, ...) fails with `EPERM`.

use crate::{Error, ffi::os};

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

const LD_ABS_W: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;

/// `struct seccomp_data` offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg_lo(i: u32) -> u32 {
    16 + 8 * i
}

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const CLONE_THREAD: u32 = 0x0001_0000;

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// System calls that end the process.
#[cfg(target_arch = "x86_64")]
fn killed() -> Vec<i64> {
    vec![
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_connect,
        libc::SYS_bind,
        libc::SYS_listen,
        libc::SYS_accept,
        libc::SYS_accept4,
        libc::SYS_sendto,
        libc::SYS_sendmsg,
        libc::SYS_sendmmsg,
        libc::SYS_recvfrom,
        libc::SYS_recvmsg,
        libc::SYS_recvmmsg,
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_kill,
        libc::SYS_tkill,
    ]
}

/// System calls allowed without conditions.
#[cfg(target_arch = "x86_64")]
fn allowed() -> Vec<i64> {
    vec![
        // I/O on descriptors already open (the pipes).
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_pread64,
        libc::SYS_close,
        libc::SYS_lseek,
        libc::SYS_fstat,
        libc::SYS_newfstatat,
        libc::SYS_statx,
        libc::SYS_poll,
        libc::SYS_ppoll,
        libc::SYS_fcntl,
        // Memory.
        libc::SYS_mmap,
        libc::SYS_mprotect,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_madvise,
        libc::SYS_brk,
        libc::SYS_membarrier,
        libc::SYS_pkey_alloc,
        libc::SYS_pkey_free,
        libc::SYS_pkey_mprotect,
        // Threads and signals.
        libc::SYS_futex,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_sched_getscheduler,
        libc::SYS_sched_getparam,
        libc::SYS_getpid,
        libc::SYS_gettid,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        libc::SYS_rseq,
        libc::SYS_set_robust_list,
        libc::SYS_set_tid_address,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_restart_syscall,
        libc::SYS_prctl,
        // Time, randomness, queries.
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        libc::SYS_getrandom,
        libc::SYS_getrusage,
        libc::SYS_sysinfo,
        libc::SYS_uname,
        libc::SYS_prlimit64,
        libc::SYS_getuid,
        libc::SYS_geteuid,
        libc::SYS_getgid,
        libc::SYS_getegid,
    ]
}

/// The filter for this process (`pid` is its own id: signals may go to its threads only).
#[cfg(target_arch = "x86_64")]
pub fn filter(pid: u32) -> Vec<Insn> {
    let mut p = vec![
        ins(LD_ABS_W, 0, 0, OFF_ARCH),
        ins(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        ins(RET_K, 0, 0, RET_KILL_PROCESS),
        ins(LD_ABS_W, 0, 0, OFF_NR),
    ];
    let nr = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    for n in killed() {
        p.push(ins(JEQ_K, 0, 1, nr(n)));
        p.push(ins(RET_K, 0, 0, RET_KILL_PROCESS));
    }
    for n in allowed() {
        p.push(ins(JEQ_K, 0, 1, nr(n)));
        p.push(ins(RET_K, 0, 0, RET_ALLOW));
    }
    // clone: threads only.
    p.extend([
        ins(JEQ_K, 0, 4, nr(libc::SYS_clone)),
        ins(LD_ABS_W, 0, 0, off_arg_lo(0)),
        ins(JSET_K, 0, 1, CLONE_THREAD),
        ins(RET_K, 0, 0, RET_ALLOW),
        ins(RET_K, 0, 0, RET_KILL_PROCESS),
    ]);
    // clone3: its flags are behind a pointer; make glibc fall back to clone.
    p.extend([
        ins(JEQ_K, 0, 1, nr(libc::SYS_clone3)),
        ins(RET_K, 0, 0, RET_ERRNO | libc::ENOSYS as u32),
    ]);
    // tgkill: to this process's own threads only.
    p.extend([
        ins(JEQ_K, 0, 4, nr(libc::SYS_tgkill)),
        ins(LD_ABS_W, 0, 0, off_arg_lo(0)),
        ins(JEQ_K, 0, 1, pid),
        ins(RET_K, 0, 0, RET_ALLOW),
        ins(RET_K, 0, 0, RET_KILL_PROCESS),
    ]);
    p.push(ins(RET_K, 0, 0, RET_ERRNO | libc::EPERM as u32));
    p
}

/// Installs [`filter`] on every thread of the process. Needs `no_new_privs` (set by
/// `ProcessLimits::apply`).
#[cfg(target_arch = "x86_64")]
pub fn install() -> Result<(), Error> {
    let program = filter(std::process::id());
    os::install_seccomp(&program).map_err(|reason| Error::Sandbox { reason })
}

/// Seccomp is only written for x86_64; elsewhere the process runs without it.
#[cfg(not(target_arch = "x86_64"))]
pub fn install() -> Result<(), Error> {
    Err(Error::Sandbox { reason: "seccomp filter not available on this architecture".into() })
}
