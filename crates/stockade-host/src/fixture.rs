//! Test-only fixture trees: a fake `/proc`, `/sys` and `/etc` written into a
//! tempdir. [`Fixture::field_report`] is the host of seeds/000 (Docker-in-Docker,
//! `kernel.threads-max` 6337 with 5279 threads in use, the `noproc` typo);
//! tests change single files with [`Fixture::set`] and [`Fixture::remove`].

use crate::HostRoot;
use std::collections::BTreeMap;

/// Relative path (starting with `proc/`, `sys/` or `etc/`) → content. A path
/// ending in `/` is a directory.
#[derive(Debug, Clone, Default)]
pub struct Fixture {
    files: BTreeMap<String, String>,
}

impl Fixture {
    /// The field report's host.
    pub fn field_report() -> Fixture {
        let mut f = Fixture::default();
        f.set("proc/loadavg", "7.12 6.80 6.01 9/5279 48213\n")
            .set("proc/sys/kernel/threads-max", "6337\n")
            .set("proc/sys/kernel/pid_max", "32768\n")
            .set("proc/sys/fs/file-nr", "12032\t0\t1611486\n")
            .set("proc/sys/fs/nr_open", "1048576\n")
            .set("proc/sys/fs/inotify/max_user_watches", "65536\n")
            .set("proc/sys/fs/inotify/max_user_instances", "128\n")
            .set("proc/sys/vm/overcommit_memory", "0\n")
            .set(
                "proc/meminfo",
                "MemTotal:       16314500 kB\nMemFree:  2000000 kB\nMemAvailable:    9437184 kB\n\
                 SwapTotal:             0 kB\nSwapFree:              0 kB\n\
                 CommitLimit:     8157248 kB\nCommitted_AS:   14000000 kB\n",
            )
            .set("proc/vmstat", "nr_free_pages 500000\noom_kill 3\n")
            .set("proc/pressure/cpu", "some avg10=31.50 avg60=28.00 avg300=20.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
            .set("proc/pressure/memory", "some avg10=2.10 avg60=1.00 avg300=0.50 total=1\nfull avg10=0.80 avg60=0.20 avg300=0.10 total=1\n")
            .set("proc/pressure/io", "some avg10=4.00 avg60=3.00 avg300=2.00 total=1\nfull avg10=1.00 avg60=1.00 avg300=1.00 total=1\n")
            .set(
                "proc/self/limits",
                "Limit                     Soft Limit           Hard Limit           Units     \n\
                 Max processes             3168                 3168                 processes \n\
                 Max open files            1024                 524288               files     \n",
            )
            .set("proc/self/status", "Name:\tstockade\nUid:\t1000\t1000\t1000\t1000\n")
            .set(
                "proc/self/mountinfo",
                "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
            )
            .set("proc/self/cgroup", "0::/user.slice/user-1000.slice/session-1.scope\n")
            .set("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
            .set("sys/fs/cgroup/user.slice/user-1000.slice/session-1.scope/cgroup.controllers", "cpu io memory pids\n")
            .set("sys/devices/system/cpu/online", "0-7\n")
            .set("etc/security/limits.conf", &Fixture::field_report_limits_conf())
            .set(
                "etc/sysctl.conf",
                "# TraitorSim - increased for Docker-in-Docker\nkernel.threads-max = 65536\nkernel.pid_max = 65536\n",
            );
        f
    }

    /// The field report's limits.conf: line 3 has the `noproc` typo.
    pub fn field_report_limits_conf() -> String {
        "# /etc/security/limits.conf\n\
         #<domain> <type> <item> <value>\n\
         *    soft  noproc  65535\n\
         *    hard  nproc   100000\n\
         *    soft  nofile  65535\n\
         *    hard  nofile  65535\n"
            .to_string()
    }

    /// A quiet, roomy host: nothing near a limit, cgroup v2 with favordynmods.
    pub fn roomy() -> Fixture {
        let mut f = Fixture::field_report();
        f.set("proc/loadavg", "0.10 0.20 0.30 1/300 999\n")
            .set("proc/sys/kernel/threads-max", "192730\n")
            .set("proc/sys/kernel/pid_max", "4194304\n")
            .set("proc/sys/fs/inotify/max_user_instances", "8192\n")
            .set("proc/sys/fs/inotify/max_user_watches", "524288\n")
            .set("proc/meminfo", "MemTotal: 25165824 kB\nMemAvailable: 23068672 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n")
            .set("proc/pressure/cpu", "some avg10=0.50 avg60=0.20 avg300=0.10 total=1\n")
            .set("proc/pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
            .set("proc/pressure/io", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
            .set("proc/self/limits", "Max processes  unlimited  unlimited  processes\nMax open files  65535  65535  files\n")
            .set("proc/self/status", "Uid:\t0\t0\t0\t0\n")
            .set(
                "proc/self/mountinfo",
                "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,favordynmods\n",
            )
            .set("proc/self/cgroup", "0::/\n")
            .remove("sys/fs/cgroup/user.slice/user-1000.slice/session-1.scope/cgroup.controllers");
        f
    }

    /// Set one file.
    pub fn set(&mut self, path: &str, content: &str) -> &mut Fixture {
        self.files.insert(path.to_string(), content.to_string());
        self
    }

    /// Remove one file (as a container hiding it would).
    pub fn remove(&mut self, path: &str) -> &mut Fixture {
        self.files.remove(path);
        self
    }

    /// Write the tree into a fresh tempdir; keep the `TempDir` alive while using the root.
    pub fn write(&self) -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, content) in &self.files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(&full, content).expect("write fixture");
        }
        for top in ["proc", "sys", "etc"] {
            std::fs::create_dir_all(dir.path().join(top)).expect("mkdir");
        }
        let root = HostRoot::under(dir.path());
        (dir, root)
    }
}
