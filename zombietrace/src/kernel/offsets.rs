//! Resolves every offset the kernel programs read, from this kernel's BTF and tracefs formats.
//! aya has no CO-RE for Rust programs, so this is how one binary reads the right fields on every
//! kernel build: nothing about `task_struct` is compiled in.

use std::path::Path;

use anyhow::{Result, bail};
use zombietrace_common::Offsets;

use super::{btf::Btf, tracefs};

pub fn resolve(btf: &Btf, tracefs_root: &Path) -> Result<Offsets> {
    if !btf.has_type("task_struct") {
        bail!("the kernel's BTF describes no task_struct (is it a vmlinux BTF?)");
    }
    let task = |member: &str| field(btf, "task_struct", member);
    let sa = btf.member("k_sigaction", "sa")?.offset;
    let upid_size = btf.struct_size("upid")?;
    let mut offsets = Offsets {
        task_pid: sized(btf, "task_struct", "pid", 4)?,
        task_tgid: sized(btf, "task_struct", "tgid", 4)?,
        task_flags: sized(btf, "task_struct", "flags", 4)?,
        task_exit_state: sized(btf, "task_struct", "exit_state", 4)?,
        task_exit_code: sized(btf, "task_struct", "exit_code", 4)?,
        task_exit_signal: sized(btf, "task_struct", "exit_signal", 4)?,
        task_comm: sized(btf, "task_struct", "comm", 16)?,
        task_start_time: sized(btf, "task_struct", "start_time", 8)?,
        task_real_parent: task("real_parent")?,
        task_group_leader: task("group_leader")?,
        task_signal: task("signal")?,
        task_sighand: task("sighand")?,
        task_thread_pid: task("thread_pid")?,
        signal_live: sized(btf, "signal_struct", "live", 4)?,
        signal_flags: sized(btf, "signal_struct", "flags", 4)?,
        signal_group_exit_code: sized(btf, "signal_struct", "group_exit_code", 4)?,
        sighand_action: field(btf, "sighand_struct", "action")?,
        k_sigaction_size: btf.struct_size("k_sigaction")?,
        k_sigaction_handler: sa + sized(btf, "sigaction", "sa_handler", 8)?,
        k_sigaction_flags: sa + sized(btf, "sigaction", "sa_flags", 8)?,
        pid_level: sized(btf, "pid", "level", 4)?,
        pid_numbers: field(btf, "pid", "numbers")?,
        upid_size,
        upid_nr: sized(btf, "upid", "nr", 4)?,
        task_cgroups: field(btf, "task_struct", "cgroups")?,
        css_set_dfl_cgrp: field(btf, "css_set", "dfl_cgrp")?,
        cgroup_kn: field(btf, "cgroup", "kn")?,
        kernfs_node_id: sized(btf, "kernfs_node", "id", 8)?,
        kernfs_node_parent: field(btf, "kernfs_node", "parent")
            .or_else(|_| field(btf, "kernfs_node", "__parent"))?,
        ..Offsets::default()
    };
    if upid_size == 0 {
        bail!("BTF says struct upid is empty");
    }
    let exit_wait4 = tracefs::read_format(tracefs_root, "syscalls", "sys_exit_wait4")?;
    let exit_waitid = tracefs::read_format(tracefs_root, "syscalls", "sys_exit_waitid")?;
    let ret = exit_wait4.field("ret")?.offset;
    if exit_waitid.field("ret")?.offset != ret {
        bail!("sys_exit_wait4 and sys_exit_waitid disagree on where `ret` is");
    }
    offsets.tp_exit_ret = ret;
    let waitid = tracefs::read_format(tracefs_root, "syscalls", "sys_enter_waitid")?;
    offsets.tp_waitid_which = waitid.field("which")?.offset;
    offsets.tp_waitid_upid = waitid.field("upid")?.offset;
    offsets.tp_waitid_infop = waitid.field("infop")?.offset;
    offsets.tp_waitid_options = waitid.field("options")?.offset;
    Ok(offsets)
}

/// Whether this kernel has io_uring's IORING_OP_WAITID (Linux 6.7+: its request type is in the
/// BTF); if so, fills in what the io_uring programs read. Without it they are not attached:
/// no reap can be made that way.
pub fn resolve_io_uring(btf: &Btf, tracefs_root: &Path, offsets: &mut Offsets) -> Result<bool> {
    if !btf.has_type("io_waitid") {
        return Ok(false);
    }
    offsets.io_kiocb_opcode = sized(btf, "io_kiocb", "opcode", 1)?;
    offsets.io_kiocb_cmd = field(btf, "io_kiocb", "cmd")?;
    offsets.io_waitid_options = sized(btf, "io_waitid", "options", 4)?;
    offsets.io_waitid_info = sized(btf, "io_waitid", "info", 16)?;
    for (member, at) in [("pid", 0), ("status", 8), ("cause", 12)] {
        if btf.member("waitid_info", member)?.offset != at {
            bail!("this kernel's waitid_info.{member} is not at byte {at}");
        }
    }
    let submit = tracefs::read_format(tracefs_root, "io_uring", "io_uring_submit_req")?;
    offsets.tp_uring_submit_opcode = submit.field("opcode")?.offset;
    let complete = tracefs::read_format(tracefs_root, "io_uring", "io_uring_complete")?;
    offsets.tp_uring_complete_req = complete.field("req")?.offset;
    offsets.tp_uring_complete_res = complete.field("res")?.offset;
    Ok(true)
}

fn field(btf: &Btf, strukt: &str, member: &str) -> Result<u32> {
    Ok(btf.member(strukt, member)?.offset)
}

/// The member's offset, after checking it has the size the programs read.
fn sized(btf: &Btf, strukt: &str, member: &str, size: u32) -> Result<u32> {
    let m = btf.member(strukt, member)?;
    if m.size != size {
        bail!(
            "this kernel's {strukt}.{member} is {} bytes, zombietrace reads {size}",
            m.size
        );
    }
    Ok(m.offset)
}
