// Package cgroups places a container's processes in Linux control groups and
// applies the OCI runtime-spec linux.resources limits to them.
//
// A cgroup is a directory in a cgroup filesystem: mkdir makes one, writing a PID
// to its cgroup.procs moves a process in, writing a controller file (memory.max,
// cpu.cfs_quota_us, ...) sets a limit, rmdir removes it once it is empty. That is
// all this package does — it reads and writes those files directly.
//
// Linux has two cgroup layouts and hosts run three combinations of them:
//
//   - v2 (unified): /sys/fs/cgroup is one cgroup2 tree holding every controller.
//   - v1: one tree per controller (or per group of co-mounted controllers) under
//     /sys/fs/cgroup/<controller>.
//   - hybrid: the v1 trees plus a cgroup2 tree at /sys/fs/cgroup/unified that has
//     no controllers but still tracks processes, freezing and eBPF programs.
//
// Mode reports which one the host runs. New returns a Manager for one container:
// the v2 implementation for v2, the v1 implementation otherwise (which on a hybrid
// host also mirrors the container into the unified tree, as systemd expects).
//
// A Manager creates, joins, limits (Create/Update), freezes, lists, kills,
// measures (Stats, OOMKillCount, WaitOOM) and removes one container's cgroup.
// Every limit is validated before the first write, so a bad spec never leaves
// a cgroup half-configured.
//
// Limits follow runc's behaviour so that containerd, Docker and Kubernetes see what
// they expect: nil fields are left untouched on Update, cpu shares map to cpu.weight
// with runc's formula, and Stats marshals to the JSON of `runc events --stats`.
// Device rules on v2 become a BPF_PROG_TYPE_CGROUP_DEVICE program (devices.go),
// because cgroup2 has no devices controller.
//
// This package is the cgroupfs driver. The systemd driver (package
// cgroups/systemd, kago-runc --systemd-cgroup) has systemd make the cgroup as
// a scope unit and then uses a Manager of this package on the scope's
// directories; the runtime picks the driver per container.
package cgroups
