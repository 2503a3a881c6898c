#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/seeds/<target>/ (committed, small).

Run from anywhere: `python3 fuzz/make_seeds.py`. The procfs seeds are this machine's files
(and a zombie's); the decode seeds are real kernel records from the pipeline fixture; the BTF
seed is a hand-built miniature of a kernel's BTF that `offsets::resolve` resolves whole (its
unit tests read it too: zombietrace/src/kernel/btf_props_tests.rs).
"""

import json
import os
import struct
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SEEDS = ROOT / "seeds"


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


class Btf:
    """A raw BTF blob: types from id 1, strings from offset 1."""

    def __init__(self):
        self.types = b""
        self.strings = b"\0"
        self.next_id = 1

    def s(self, name):
        if not name:
            return 0
        off = len(self.strings)
        self.strings += name.encode() + b"\0"
        return off

    def ty(self, name, kind, vlen=0, size_or_type=0, extra=b"", kflag=False):
        info = (kind << 24) | vlen | (1 << 31 if kflag else 0)
        self.types += struct.pack("<III", self.s(name), info, size_or_type) + extra
        self.next_id += 1
        return self.next_id - 1

    def int(self, name, size, signed=True):
        return self.ty(name, 1, 0, size, struct.pack("<I", (1 << 24 if signed else 0) | size * 8))

    def composite(self, name, size, members, union=False):
        extra = b"".join(struct.pack("<III", self.s(m), t, off * 8) for m, t, off in members)
        return self.ty(name, 5 if union else 4, len(members), size, extra)

    def blob(self):
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types), len(self.strings))
        return hdr + self.types + self.strings


def kernel_btf():
    """What offsets::resolve reads of a kernel, laid out as on x86_64 (ids fixed ahead)."""
    b = Btf()
    INT, ULONG, CHAR, U64 = 1, 2, 3, 4
    COMM, TASK_PTR, TASK, SIG_PTR, SIG, SIGHAND_PTR, SIGHAND, PID_PTR, PID = range(5, 14)
    # The cgroup chain, after the one-of-every-kind types (ids 25-35).
    CSS_SET_PTR, CSS_SET, CGROUP_PTR, CGROUP, KN_PTR, KN = range(36, 42)
    # What offsets::resolve_io_uring reads (a kernel with IORING_OP_WAITID).
    U8, IO_CMD_DATA, IO_KIOCB, IO_WAITID, WAITID_INFO = range(42, 47)
    b.int("int", 4)  # 1
    b.int("long unsigned int", 8, signed=False)  # 2
    b.int("char", 1)  # 3
    b.int("long long unsigned int", 8, signed=False)  # 4
    b.ty("", 3, extra=struct.pack("<III", CHAR, INT, 16))  # 5 char[16]
    b.ty("", 2, size_or_type=TASK)  # 6
    b.composite("task_struct", 128, [  # 7
        ("flags", INT, 0), ("exit_state", INT, 4), ("exit_code", 22, 8), ("exit_signal", INT, 12),
        ("", 14, 16), ("start_time", U64, 24), ("real_parent", TASK_PTR, 32),
        ("group_leader", TASK_PTR, 40), ("signal", SIG_PTR, 48), ("sighand", SIGHAND_PTR, 56),
        ("thread_pid", PID_PTR, 64), ("comm", COMM, 72), ("cgroups", CSS_SET_PTR, 88)])
    b.ty("", 2, size_or_type=SIG)  # 8
    b.composite("signal_struct", 16, [("live", 15, 0), ("flags", INT, 4), ("group_exit_code", INT, 8)])  # 9
    b.ty("", 2, size_or_type=SIGHAND)  # 10
    b.composite("sighand_struct", 8 + 64 * 32, [("count", INT, 0), ("action", 16, 8)])  # 11
    b.ty("", 2, size_or_type=PID)  # 12
    b.composite("pid", 24, [("count", INT, 0), ("level", INT, 4), ("numbers", 19, 8)])  # 13
    b.composite("", 8, [("pid", INT, 0), ("tgid", INT, 4)])  # 14 anonymous
    b.ty("atomic_t", 8, size_or_type=21)  # 15 typedef
    b.ty("", 3, extra=struct.pack("<III", 17, INT, 64))  # 16 k_sigaction[64]
    b.composite("k_sigaction", 32, [("sa", 18, 0)])  # 17
    b.composite("sigaction", 32, [("sa_handler", 23, 0), ("sa_flags", ULONG, 8), ("sa_mask", U64, 16)])  # 18
    b.ty("", 3, extra=struct.pack("<III", 20, INT, 1))  # 19 upid[1]
    b.composite("upid", 16, [("nr", INT, 0), ("ns", 6, 8)])  # 20
    b.composite("", 4, [("counter", INT, 0)])  # 21
    b.ty("", 10, size_or_type=INT)  # 22 const int
    b.ty("__sighandler_t", 8, size_or_type=24)  # 23 typedef
    b.ty("", 2, size_or_type=0)  # 24 void *
    # One of every other kind, so that the parser's sizes of each are seeded too.
    b.ty("e", 6, 2, 4, struct.pack("<iIiI", b.s("A"), 0, b.s("B"), 1))  # enum
    b.ty("", 13, 1, INT, struct.pack("<II", b.s("x"), INT))  # func_proto
    b.ty("f", 12, 0, 26)  # func
    b.ty("v", 14, 0, INT, struct.pack("<I", 1))  # var
    b.ty(".data", 15, 1, 4, struct.pack("<III", 28, 0, 4))  # datasec
    b.ty("double", 16, 0, 8)  # float
    b.ty("tag", 17, 0, TASK, struct.pack("<i", -1))  # decl_tag
    b.ty("user", 18, 0, INT)  # type_tag
    b.ty("e64", 19, 1, 8, struct.pack("<III", b.s("C"), 1, 0))  # enum64
    b.ty("mm_struct", 7)  # fwd
    b.ty("", 11, 0, 6)  # restrict
    b.ty("", 2, size_or_type=CSS_SET)  # 36
    b.composite("css_set", 16, [("refcount", INT, 0), ("dfl_cgrp", CGROUP_PTR, 8)])  # 37
    b.ty("", 2, size_or_type=CGROUP)  # 38
    b.composite("cgroup", 24, [("flags", ULONG, 0), ("level", INT, 8), ("kn", KN_PTR, 16)])  # 39
    b.ty("", 2, size_or_type=KN)  # 40
    b.composite("kernfs_node", 24, [("count", INT, 0), ("parent", KN_PTR, 8), ("id", U64, 16)])  # 41
    b.int("u8", 1, signed=False)  # 42
    b.composite("io_cmd_data", 64, [("data", U64, 0)])  # 43
    b.composite("io_kiocb", 72, [("cmd", IO_CMD_DATA, 0), ("opcode", U8, 64), ("flags", INT, 68)])  # 44
    b.composite("io_waitid", 32, [("which", INT, 0), ("upid", INT, 4), ("options", INT, 8),
                                  ("info", WAITID_INFO, 16)])  # 45
    b.composite("waitid_info", 16, [("pid", INT, 0), ("uid", INT, 4), ("status", INT, 8),
                                    ("cause", INT, 12)])  # 46
    return b.blob()


def decode_seeds():
    fixture = ROOT.parent / "tests/fixtures/pipeline/fixture.jsonl"
    kinds = {}
    for line in fixture.read_text().splitlines():
        record = json.loads(line).get("record")
        if record:
            raw = bytes.fromhex(record)
            kinds.setdefault(int.from_bytes(raw[8:12], "little"), []).append(raw)
    for kind, records in sorted(kinds.items()):
        for n, raw in enumerate(records[:2]):
            write("decode", f"kind{kind}-{n}", raw)


def pipeline_seeds():
    # options byte (its top bit: every event, as a recording), then ops (see
    # fuzz_targets/pipeline.rs): 0 zombie, 2 wait, 3 free, 5 tick, 1 reparent, 6 adopt; pids
    # are taken modulo 8, cgroup ids too (7: a container's).
    comm = b"sleep\0\0\0\0\0\0\0\0\0\0\0"
    # ... comm, parent_comm, then cgroup 7, parent cgroup 0, no tracer.
    zombie = (bytes([0, 5, 1, 2, 4, 0]) + struct.pack("<I", 0) + bytes([0, 0, 0, 0]) + comm
              + b"bash".ljust(16, b"\0") + bytes([7, 0, 0]))
    # ... comm, then entered 3 ms and a SIGCHLD handled 1 ms before the reap.
    wait = bytes([2 | 8, 4, 5, 0, 1]) + struct.pack("<I", 0) + b"bash".ljust(16, b"\0") + bytes([3, 1])
    free = bytes([3 | 16, 5, 1])
    tick = bytes([5 | 64, 0])
    write("pipeline", "exit-wait-free", bytes([0]) + zombie + wait + free + tick)
    reparent = bytes([1 | 8, 4, 1, 5, 0, 0]) + b"systemd".ljust(16, b"\0")
    write("pipeline", "reparent-json", bytes([1 | 128]) + zombie + reparent + free + tick + tick)
    hostile = zombie.replace(comm, b"\x1b[2J\n\xff\xfeFAKE\0\0\0\0\0\0")
    write("pipeline", "hostile-report", bytes([2 | 4 | 64]) + bytes([6, 3, 4]) + b"\x1b]0;X\x07\n!" + bytes([1]) + hostile + tick)


def procfs_seeds():
    for name in ["stat", "status", "cmdline", "cgroup", "sched", "loginuid", "wchan"]:
        write("procfs", f"self-{name}", (Path("/proc/self") / name).read_bytes())
    write("procfs", "init-status", Path("/proc/1/status").read_bytes())
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    time.sleep(0.1)
    write("procfs", "zombie-stat", (Path(f"/proc/{pid}") / "stat").read_bytes())
    os.waitpid(pid, 0)
    write("procfs", "hostile-stat", b"42 (a) (b\x1b[2J\xff) Z 1 42 42 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0\n")
    write("procfs", "passwd", b"root:x:0:0:root:/root:/bin/bash\n\xff\x1b:x:7:7::/:/bin/sh\n")
    write("procfs", "container-cgroup", "0::/kubepods.slice/kubepods-burstable.slice/"
          "kubepods-burstable-pod1f2e3d4c_5b6a_4789_8a0b_c1d2e3f4a5b6.slice/"
          f"cri-containerd-{'8c3af0a9b2c1' * 5}abcd.scope\n1:name=systemd:/docker/{'ab' * 32}\n")
    write("procfs", "mounts", b"proc /proc proc rw 0 0\ncgroup2 /sys/fs/cgroup\\040x cgroup2 rw 0 0\n")
    fmt = Path("/sys/kernel/tracing/events/syscalls/sys_enter_waitid/format")
    if fmt.exists():
        write("procfs", "format-sys_enter_waitid", fmt.read_bytes())


def cli_seeds():
    for n, text in enumerate([
        b"250ms", b"1.5s", b"\x00\x10\xa5\xd4\xe8\x00\x00\x00", b"SIGSEGV", b"9", b"\\e[2J\\xff\\u{9b}\\n",
        b"--json\0--ppid\x007\0--min-zombie\x00250ms", b"report\0--for\x005s\0--comm\0py",
        b"spawn\0direct\0--child-name\0\\xff\\e", b"ps\0--json",
    ]):
        write("cli_values", f"seed{n}", text)


if __name__ == "__main__":
    write("btf", "kernel.btf", kernel_btf())
    decode_seeds()
    pipeline_seeds()
    procfs_seeds()
    cli_seeds()
