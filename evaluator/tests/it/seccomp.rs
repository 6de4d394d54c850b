//! The seccomp program, run through a small classic-BPF interpreter.

use quorate_evaluator::seccomp::{Insn, filter};

const ALLOW: u32 = 0x7fff_0000;
const KILL: u32 = 0x8000_0000;
const ERRNO: u32 = 0x0005_0000;
const X86_64: u32 = 0xc000_003e;

/// Runs `prog` on a `seccomp_data` with `arch`, `nr` and low words of the arguments.
fn run(prog: &[Insn], arch: u32, nr: i64, args: [u32; 6]) -> u32 {
    let word = |off: u32| -> u32 {
        match off {
            0 => nr as u32,
            4 => arch,
            o if (16..64).contains(&o) && (o - 16) % 8 == 0 => args[((o - 16) / 8) as usize],
            o => panic!("unexpected load at {o}"),
        }
    };
    let (mut pc, mut a) = (0usize, 0u32);
    for _ in 0..10_000 {
        let i = prog[pc];
        match i.code {
            0x20 => a = word(i.k),
            0x15 => pc += if a == i.k { i.jt } else { i.jf } as usize,
            0x45 => pc += if a & i.k != 0 { i.jt } else { i.jf } as usize,
            0x06 => return i.k,
            c => panic!("unexpected opcode {c:#x}"),
        }
        pc += 1;
    }
    panic!("the program does not terminate")
}

#[test]
fn the_filter_allows_v8s_needs_and_kills_exec_sockets_and_forks() {
    let pid = 4242;
    let prog = filter(pid);
    assert!(prog.len() < 4096);
    let call = |nr: i64, args: [u32; 6]| run(&prog, X86_64, nr, args);
    for nr in [
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_mmap,
        libc::SYS_futex,
        libc::SYS_madvise,
        libc::SYS_exit_group,
    ] {
        assert_eq!(call(nr, [0; 6]), ALLOW, "{nr}");
    }
    for nr in [
        libc::SYS_execve,
        libc::SYS_socket,
        libc::SYS_connect,
        libc::SYS_fork,
        libc::SYS_ptrace,
        libc::SYS_kill,
    ] {
        assert_eq!(call(nr, [0; 6]), KILL, "{nr}");
    }
    // Threads yes, processes no.
    assert_eq!(call(libc::SYS_clone, [0x0001_0000 | 0x100, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(call(libc::SYS_clone, [0x11, 0, 0, 0, 0, 0]), KILL);
    assert_eq!(call(libc::SYS_clone3, [0; 6]), ERRNO | libc::ENOSYS as u32);
    // Signals to its own threads only.
    assert_eq!(call(libc::SYS_tgkill, [pid, 7, 6, 0, 0, 0]), ALLOW);
    assert_eq!(call(libc::SYS_tgkill, [1, 1, 9, 0, 0, 0]), KILL);
    // Files and the rest: refused.
    for nr in [
        libc::SYS_openat,
        libc::SYS_open,
        libc::SYS_ioctl,
        libc::SYS_mount,
        libc::SYS_unlink,
        libc::SYS_setuid,
    ] {
        assert_eq!(call(nr, [0; 6]), ERRNO | libc::EPERM as u32, "{nr}");
    }
    // Another architecture's calling convention is refused outright.
    assert_eq!(run(&prog, 0x4000_0003, libc::SYS_read, [0; 6]), KILL);
}
