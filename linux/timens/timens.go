// Package timens turns linux.timeOffsets (runtime-spec 1.2) into what the
// kernel reads from /proc/self/timens_offsets: the offsets of CLOCK_MONOTONIC
// and CLOCK_BOOTTIME in a new time namespace (time_namespaces(7)).
//
// The offsets can only be written after unshare(CLONE_NEWTIME) and before any
// process lives in the new namespace, so the runtime hands this text to the
// nsenter constructor (linux/nsenter), which writes it between its unshare and
// the fork of the process that becomes the container.
package timens

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// clocks are the clocks a time namespace offsets, by the names the kernel
// accepts in timens_offsets.
var clocks = map[string]bool{"monotonic": true, "boottime": true}

// Offsets checks offsets and returns the timens_offsets text, one
// "CLOCK SECS NANOSECS" line per clock; "" when there are none.
func Offsets(offsets map[string]specs.LinuxTimeOffset) (string, error) {
	names := make([]string, 0, len(offsets))
	for name, off := range offsets {
		if !clocks[name] {
			return "", fmt.Errorf("linux.timeOffsets: clock %q is unknown: use monotonic or boottime", name)
		}
		if off.Nanosecs >= 1e9 {
			return "", fmt.Errorf("linux.timeOffsets.%s.nanosecs %d must be below 1000000000", name, off.Nanosecs)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s %d %d\n", name, offsets[name].Secs, offsets[name].Nanosecs)
	}
	return b.String(), nil
}

// Validate checks that offsets go with a new time namespace, as runc does.
func Validate(offsets map[string]specs.LinuxTimeOffset, namespaces []specs.LinuxNamespace) error {
	if len(offsets) == 0 {
		return nil
	}
	var timeNS *specs.LinuxNamespace
	for i := range namespaces {
		if namespaces[i].Type == specs.TimeNamespace {
			timeNS = &namespaces[i]
		}
	}
	if timeNS == nil {
		return errors.New("linux.timeOffsets is set but there is no time namespace: add {\"type\": \"time\"} to linux.namespaces")
	}
	if timeNS.Path != "" {
		return errors.New("linux.timeOffsets is set but the time namespace is joined by path, whose offsets are fixed: remove one of them")
	}
	_, err := Offsets(offsets)
	return err
}
