package systemd

import (
	"fmt"
	"strings"

	sd "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deviceAllow is one DeviceAllow entry, D-Bus type (ss): a device pattern
// and the access it gets ("rwm" letters).
type deviceAllow struct {
	Path  string
	Perms string
}

// deviceProperties maps the device cgroup rules to DevicePolicy and
// DeviceAllow. systemd only knows allow lists: "strict" denies every device
// not listed, "auto" with an empty list allows every device. The usual rules
// (deny all, then allow some) map exactly. Rules systemd cannot say (a deny
// after an allow, "*:minor" patterns) are enforced by kago's own device
// filter, written after the unit starts; the unit then gets:
//
//   - on cgroup v2, "auto" and no list: systemd's device program and kago's
//     would both have to allow an access, so systemd stays out of the way;
//   - on cgroup v1, "strict" with only the allows after the last deny, which
//     allow less than the rules do: systemd rewrites devices.allow/deny from
//     the unit whenever it re-realises it, and that rewrite must never open
//     a device the rules deny.
//
// The first list entry is empty, which clears what an earlier update set.
func deviceProperties(rules []specs.LinuxDeviceCgroup, v2 bool, version int) []sd.Property {
	if len(rules) == 0 {
		return nil
	}
	last := -1 // the last rule that allows or denies every device
	for i, r := range rules {
		if isAllDevices(r) {
			last = i
		}
	}
	after := rules[last+1:]
	if last >= 0 && rules[last].Allow && !hasDeny(after) {
		return devicePolicy("auto", nil)
	}
	if last >= 0 && !rules[last].Allow {
		if list, exact := allowList(after, version); exact {
			return devicePolicy("strict", list)
		}
	}
	if v2 {
		return devicePolicy("auto", nil)
	}
	lastDeny := -1
	for i, r := range rules {
		if !r.Allow {
			lastDeny = i
		}
	}
	list, _ := allowList(rules[lastDeny+1:], version)
	return devicePolicy("strict", list)
}

func devicePolicy(policy string, list []deviceAllow) []sd.Property {
	return []sd.Property{
		prop("DeviceAllow", []deviceAllow{}),
		prop("DevicePolicy", policy),
		prop("DeviceAllow", append([]deviceAllow{}, list...)),
	}
}

// isAllDevices reports whether r is about every access to every device.
func isAllDevices(r specs.LinuxDeviceCgroup) bool {
	return (r.Type == "" || r.Type == "a") && r.Major == nil && r.Minor == nil && perms(r.Access) == "rwm"
}

func hasDeny(rules []specs.LinuxDeviceCgroup) bool {
	for _, r := range rules {
		if !r.Allow {
			return true
		}
	}
	return false
}

// allowList converts allow rules to DeviceAllow entries; exact is false when
// a rule is a deny or has no systemd spelling (those are left out).
func allowList(rules []specs.LinuxDeviceCgroup, version int) (list []deviceAllow, exact bool) {
	exact = true
	for _, r := range rules {
		if !r.Allow {
			exact = false
			continue
		}
		types := []string{r.Type}
		if r.Type == "" || r.Type == "a" {
			types = []string{"c", "b"}
		}
		for _, t := range types {
			p, ok := devicePattern(t, r.Major, r.Minor, version)
			if !ok {
				exact = false
				continue
			}
			list = append(list, deviceAllow{Path: p, Perms: perms(r.Access)})
		}
	}
	return list, exact
}

// devicePattern spells a device for DeviceAllow: "/dev/char/1:3" for one
// device, "char-136" for a major (systemd 240 and later), "char-*" for all.
// systemd has no spelling for "any major, this minor".
func devicePattern(typ string, major, minor *int64, version int) (string, bool) {
	group := map[string]string{"c": "char", "b": "block"}[typ]
	switch {
	case group == "":
		return "", false
	case major == nil && minor == nil:
		return group + "-*", true
	case major == nil:
		return "", false
	case minor == nil:
		if version < versionDeviceMajor {
			return "", false
		}
		return fmt.Sprintf("%s-%d", group, *major), true
	}
	return fmt.Sprintf("/dev/%s/%d:%d", group, *major, *minor), true
}

// perms normalises an OCI access string to systemd's order; empty is all.
func perms(access string) string {
	if access == "" {
		return "rwm"
	}
	var b strings.Builder
	for _, c := range "rwm" {
		if strings.ContainsRune(access, c) {
			b.WriteRune(c)
		}
	}
	return b.String()
}
