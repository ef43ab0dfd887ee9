"""The seccomp filter every sandboxed worker runs under (Bubblewrap's ``--seccomp FD``).

A classic-BPF program (:func:`filter_program`, the bytes ``seccomp_export_bpf``
would write) made here, without libseccomp, from the system-call numbers of
this machine's architecture (x86-64 or AArch64; elsewhere
:class:`~.bwrap.SandboxError`, and ``grade`` refuses to run). It answers
``EPERM`` to:

* new namespaces: ``unshare``, ``setns``, and ``clone`` with any ``CLONE_NEW*``
  flag (``clone3``, whose flags a filter cannot read, answers ``ENOSYS``: the C
  library then falls back to ``clone``): so no user namespace, and no private
  mount or filesystem beyond the sized ones the sandbox gives;
* mounting anything: ``mount``, ``umount2``, ``pivot_root``, ``chroot`` and the
  new mount API (``fsopen``, ``fsmount``, ``move_mount``, ``open_tree``...);
* reading or steering another process: ``ptrace``, ``process_vm_readv/writev``,
  ``pidfd_getfd``;
* the kernel's keyrings: ``add_key``, ``request_key``, ``keyctl``;
* a new session: ``setsid`` (the kernel divides the CPU between sessions
  when no cgroup does: :mod:`.limits`; a submission must not make itself more
  of them);
* a few kernel interfaces no submission needs: ``bpf``, ``perf_event_open``,
  ``userfaultfd``, ``io_uring_setup``, module and ``kexec`` loading,
  ``open_by_handle_at``.

A system call of another ABI (32-bit ``int 0x80`` on x86-64) kills the
process; x32 calls answer ``ENOSYS``. Everything else is allowed.
"""

from __future__ import annotations

import errno
import platform
import struct

#: AUDIT_ARCH value, x32 bit (or 0), system-call numbers by name.
_ARCHES: dict[str, tuple[int, int, dict[str, int]]] = {
    "x86_64": (0xC000003E, 0x40000000, {
        "unshare": 272, "setns": 308, "clone": 56, "clone3": 435, "mount": 165, "umount2": 166,
        "pivot_root": 155, "chroot": 161, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "pidfd_getfd": 438, "add_key": 248, "request_key": 249, "keyctl": 250,
        "setsid": 112, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
        "open_by_handle_at": 304}),
    "aarch64": (0xC00000B7, 0, {
        "unshare": 97, "setns": 268, "clone": 220, "clone3": 435, "mount": 40, "umount2": 39,
        "pivot_root": 41, "chroot": 51, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "pidfd_getfd": 438, "add_key": 217, "request_key": 218, "keyctl": 219,
        "setsid": 157, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294,
        "open_by_handle_at": 265}),
}
_ARCHES["arm64"] = _ARCHES["aarch64"]

#: Every CLONE_NEW* flag (namespaces): clone with any of them is refused.
CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080

# Classic BPF, as <linux/filter.h> and <linux/seccomp.h> define it.
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL_PROCESS, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # offsets in struct seccomp_data (little-endian: the low word of args[0])


class UnsupportedArchitecture(RuntimeError):
    """No system-call table for this machine: the filter cannot be made."""


def _insn(code: int, jt: int = 0, jf: int = 0, k: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def filter_program(machine: str | None = None) -> bytes:
    """The filter as a cBPF program (struct sock_filter[]) for ``machine`` (default: this one's)."""
    machine = machine or platform.machine()
    if machine not in _ARCHES:
        raise UnsupportedArchitecture(
            f"the sandbox's seccomp filter knows the system calls of x86_64 and aarch64, not of {machine}")
    if struct.pack("=I", 1) != struct.pack("<I", 1):
        raise UnsupportedArchitecture("the sandbox's seccomp filter is written for little-endian machines")
    audit_arch, x32_bit, numbers = _ARCHES[machine]
    deny = ("unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
            "fsconfig", "fsmount", "fspick", "mount_setattr", "ptrace", "process_vm_readv", "process_vm_writev",
            "pidfd_getfd", "add_key", "request_key", "keyctl", "setsid", "bpf", "perf_event_open", "userfaultfd",
            "io_uring_setup", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
            "open_by_handle_at")
    eperm = _ERRNO | errno.EPERM
    program = [_insn(_LD_W_ABS, k=_ARCH), _insn(_JEQ_K, 1, 0, audit_arch), _insn(_RET_K, k=_KILL_PROCESS),
               _insn(_LD_W_ABS, k=_NR)]
    if x32_bit:
        program += [_insn(_JGE_K, 0, 1, x32_bit), _insn(_RET_K, k=_ERRNO | errno.ENOSYS)]
    for name in deny:
        program += [_insn(_JEQ_K, 0, 1, numbers[name]), _insn(_RET_K, k=eperm)]
    program += [_insn(_JEQ_K, 0, 1, numbers["clone3"]), _insn(_RET_K, k=_ERRNO | errno.ENOSYS),
                _insn(_JEQ_K, 0, 3, numbers["clone"]), _insn(_LD_W_ABS, k=_ARG0_LOW),
                _insn(_JSET_K, 0, 1, CLONE_NEW_ANY), _insn(_RET_K, k=eperm),
                _insn(_RET_K, k=_ALLOW)]
    return b"".join(program)
