package engine

import "github.com/kago-run/kago/linux/apparmor"

// HostSecurityOptions lists the security features containers get on this host,
// in docker info's form: apparmor where the host has AppArmor (containers
// then run under kago-default unless told otherwise), kago's builtin seccomp
// profile, and a private cgroup namespace.
func HostSecurityOptions() []string {
	var opts []string
	if apparmor.Enabled() {
		opts = append(opts, "name=apparmor")
	}
	return append(opts, "name=seccomp,profile=builtin", "name=cgroupns")
}
