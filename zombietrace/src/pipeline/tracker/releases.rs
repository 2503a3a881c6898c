//! Releases the kernel reports as such: a zombie handed to a new parent (released at once when
//! that parent ignores SIGCHLD), a wait call's return (a ptracer's collection of the exit is not
//! a reap), and a non-leader thread's exit.

use super::{Release, Tracker};
use crate::pipeline::{
    Host,
    event::{Adopted, Event, ReapCall, ReapKind, Since, Zombie},
    kernel_event::{Call, Reparent, ThreadExit, WaitReturn},
    phases::{Moments, Phases},
};

impl Tracker {
    pub(super) fn on_reparent(&mut self, r: Reparent, host: &dyn Host, out: &mut Vec<Event>) {
        let Some(tgid) = self.find(r.old_ppid, r.new_parent_ns_level, r.ns_pid) else {
            return;
        };
        let Some(open) = self.open.get_mut(&tgid) else {
            return;
        };
        open.zombie.ppid = r.new_ppid;
        open.zombie.parent_comm = r.new_parent_comm.clone();
        open.reparented = true;
        if r.autoreap.is_none() && open.announced {
            out.push(Event::Adopted(Adopted {
                ts_ns: r.ts_ns,
                pid: tgid,
                ppid: r.new_ppid,
                parent_comm: r.new_parent_comm.clone(),
            }));
        }
        if r.autoreap.is_some() {
            let open = self.remove(tgid).expect("present");
            let role = host.role(r.new_ppid);
            let release = Release {
                phases: None,
                ts_ns: r.ts_ns,
                reaper_pid: r.new_ppid,
                reaper_comm: r.new_parent_comm,
                kind: ReapKind::Reparented,
                call: Some(ReapCall::Autoreap),
                role: Some(role),
                approx: false,
            };
            self.record_reap(open.zombie, release, out);
        }
    }

    pub(super) fn on_wait(&mut self, w: WaitReturn, host: &dyn Host, out: &mut Vec<Event>) {
        let found = self
            .find(w.reaper_tgid, w.ns_level, w.pid)
            .filter(|tgid| self.open[tgid].zombie.ts_ns <= w.ts_ns);
        let Some(tgid) = found else {
            self.stats.unmatched_waits += 1;
            return;
        };
        if let Some(open) = self.open.get_mut(&tgid)
            && open.tracer == Some(w.reaper_tgid)
            && open.zombie.ppid != w.reaper_tgid
        {
            // The ptracer collected the exit: not a reap; the real parent's wait will be.
            open.tracer = None;
            open.traced_until = Some(w.ts_ns);
            return;
        }
        let open = self.remove(tgid).expect("present");
        let adopted = open.reparented || open.zombie.ppid != w.reaper_tgid;
        let (kind, role) = if adopted {
            (ReapKind::Reparented, Some(host.role(w.reaper_tgid)))
        } else if w.call == Call::Wait4 {
            (ReapKind::Wait4, None)
        } else if w.call == Call::IoUringWaitid {
            (ReapKind::IoUring, None)
        } else {
            (ReapKind::Waitid, None)
        };
        let mut zombie = open.zombie;
        if let Some(status) = w.status {
            zombie.status = status;
        }
        let approx = zombie.since != Since::Notified;
        let phases = (zombie.since != Since::TracingStart).then(|| {
            Phases::of(&Moments {
                zombie: zombie.ts_ns,
                traced_until: open.traced_until,
                entered: w.entered_ns,
                returned: w.ts_ns,
                sigchld: w.sigchld_ns,
            })
        });
        let release = Release {
            phases,
            ts_ns: w.ts_ns,
            reaper_pid: w.reaper_tgid,
            reaper_comm: w.comm,
            kind,
            call: Some(match w.call {
                Call::Wait4 => ReapCall::Wait4,
                Call::Waitid => ReapCall::Waitid,
                Call::WaitidPidfd => ReapCall::WaitidPidfd,
                Call::IoUringWaitid => ReapCall::IoUringWaitid,
            }),
            role,
            approx,
        };
        self.record_reap(zombie, release, out);
    }

    pub(super) fn on_thread_exit(&mut self, t: ThreadExit, out: &mut Vec<Event>) {
        let zombie = Zombie {
            pid: t.tid,
            nspid: None,
            ppid: t.tgid,
            parent_start_ns: None,
            comm: t.comm.clone(),
            parent_comm: t.comm.clone(),
            status: t.status,
            start_ns: None,
            ts_ns: t.ts_ns,
            since: Since::ExitStart,
            cgroup: None,
            parent_cgroup: None,
        };
        if self.filter.wants(&zombie, None) {
            let release = Release {
                phases: None,
                ts_ns: t.ts_ns,
                reaper_pid: t.tgid,
                reaper_comm: t.comm,
                kind: ReapKind::Thread,
                call: None,
                role: None,
                approx: false,
            };
            self.record_reap(zombie, release, out);
        }
    }
}
