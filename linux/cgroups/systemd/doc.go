// Package systemd is kago's systemd cgroup driver (kago-runc --systemd-cgroup):
// systemd, not kago, creates the container's cgroup, as a transient scope unit
// started over systemd's D-Bus API.
//
// On a host whose PID 1 is systemd, systemd owns the cgroup tree: it creates
// and removes the cgroups of its units, and rewrites their control files from
// the units' properties whenever it re-realises them (a daemon-reload, a
// sibling unit's change). A cgroup made behind its back with mkdir is neither
// accounted for nor protected from those rewrites. The kubelet's systemd
// driver, containerd's `SystemdCgroup = true` and podman's default therefore
// ask the runtime to let systemd make the container's cgroup: the OCI
// linux.cgroupsPath is then "slice:prefix:name" (path.go), and the runtime
// starts the transient unit "prefix-name.scope" in that slice with the
// container's init as its first process (the PIDs property; a scope exists
// only around processes), Delegate=yes so the container may manage the
// cgroups below it, and the limits as unit properties (properties.go).
//
// systemd cannot express every limit of the OCI spec, so after the unit is
// up the limits are written to the cgroup files too, by the cgroupfs manager
// of package cgroups pointed at the scope's directory, which also does
// everything systemd has no verb for: freezing, listing, killing, stats and
// OOM events. That is runc's design (libcontainer/cgroups/systemd), on
// cgroup v1, hybrid and v2 alike. Removing the container stops the unit and
// waits for the stop job, then clears a failed unit's record, so nothing of
// the container stays in systemd's unit list.
//
// Product code speaks D-Bus only (github.com/coreos/go-systemd/v22/dbus over
// github.com/godbus/dbus/v5, as runc, containerd and podman do); it never runs
// systemctl.
package systemd
