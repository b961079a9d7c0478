// Package sdunit reads a systemd unit's properties the way an operator
// sees them (`systemctl show`), for tests that check from outside what the
// systemd cgroup driver asked systemd for. Tests only: product code talks
// to systemd over D-Bus (package linux/cgroups/systemd).
package sdunit

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// Show is `systemctl show UNIT` as property -> value; a repeated property
// (DeviceAllow) has its values joined by newlines. An unknown unit is not an
// error: systemd reports it with LoadState=not-found.
func Show(unit string) (map[string]string, error) {
	out, err := exec.Command("systemctl", "show", unit).Output()
	if err != nil {
		return nil, fmt.Errorf("systemctl show %s: %w", unit, err)
	}
	props := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if old, dup := props[k]; dup && old != "" {
			v = old + "\n" + v
		}
		props[k] = v
	}
	return props, nil
}

// MustShow is Show that ends the test on error.
func MustShow(t testing.TB, unit string) map[string]string {
	t.Helper()
	props, err := Show(unit)
	if err != nil {
		t.Fatal(err)
	}
	return props
}
