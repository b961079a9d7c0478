package systemd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// jobTimeout bounds each systemd job kago waits for (start, stop) and the
// D-Bus calls around it: systemd answers in milliseconds unless it is stuck.
const jobTimeout = 30 * time.Second

// connect opens a connection to systemd: the system bus, or for root
// systemd's private socket when no bus daemon runs.
func connect(ctx context.Context) (*sd.Conn, error) {
	c, err := sd.NewWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd over D-Bus (--systemd-cgroup needs systemd as PID 1 and root, or drop the flag to use cgroupfs): %w", err)
	}
	return c, nil
}

// withSystemd runs f on a fresh connection to systemd, all of it bounded by
// jobTimeout. kago-runc makes one or two calls per run, so a connection is
// opened for them and closed, rather than kept.
func withSystemd(f func(ctx context.Context, c *sd.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	c, err := connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return f(ctx, c)
}

// IsRunningSystemd reports whether systemd is the host's init, the test of
// sd_booted(3): /run/systemd/system is a directory.
func IsRunningSystemd() bool {
	return isDir("/run/systemd/system")
}

func isDbusError(err error, name string) bool {
	var derr dbus.Error
	return errors.As(err, &derr) && derr.Name == name
}

// ErrUnitExists is Join's error when a live unit already has the
// container's scope name.
var ErrUnitExists = errors.New("the unit already exists")

// startUnit starts a transient unit and waits for systemd's start job.
//
// A unit of that name may exist already. If it is a leftover (a failed
// scope of a container whose runtime crashed), resetting its failed state
// lets systemd drop it, and one retry then succeeds; if it is live, the
// retry fails too and the error says so.
func startUnit(ctx context.Context, c *sd.Conn, name string, props []sd.Property) error {
	done := make(chan string, 1)
	_, err := c.StartTransientUnitContext(ctx, name, "replace", props, done)
	if isDbusError(err, "org.freedesktop.systemd1.UnitExists") {
		_ = c.ResetFailedUnitContext(ctx, name)
		_, err = c.StartTransientUnitContext(ctx, name, "replace", props, done)
		if isDbusError(err, "org.freedesktop.systemd1.UnitExists") {
			return fmt.Errorf("start systemd unit %s: %w (another container uses this cgroupsPath; choose another, or delete that container first)", name, ErrUnitExists)
		}
	}
	if err != nil {
		return fmt.Errorf("start systemd unit %s: %w", name, err)
	}
	if err := waitJob(ctx, done, "start", name); err != nil {
		_ = c.ResetFailedUnitContext(context.WithoutCancel(ctx), name)
		return err
	}
	return nil
}

// stopUnit stops a unit, waits for the stop job, and resets a failed state
// so that systemd forgets the unit. A unit that does not exist is stopped.
func stopUnit(ctx context.Context, c *sd.Conn, name string) error {
	done := make(chan string, 1)
	_, err := c.StopUnitContext(ctx, name, "replace", done)
	switch {
	case isDbusError(err, "org.freedesktop.systemd1.NoSuchUnit"):
	case err != nil:
		return fmt.Errorf("stop systemd unit %s: %w", name, err)
	default:
		if err := waitJob(ctx, done, "stop", name); err != nil {
			return err
		}
	}
	err = c.ResetFailedUnitContext(ctx, name)
	if err != nil && !isDbusError(err, "org.freedesktop.systemd1.NoSuchUnit") && !isDbusError(err, "org.freedesktop.systemd1.UnitNotLoaded") {
		return fmt.Errorf("reset failed state of systemd unit %s: %w", name, err)
	}
	return nil
}

// waitJob waits for a job's result; anything but "done" is an error.
func waitJob(ctx context.Context, done <-chan string, verb, name string) error {
	select {
	case r := <-done:
		if r != "done" {
			return fmt.Errorf("%s systemd unit %s: the job ended %q (journalctl -u %s says why)", verb, name, r, name)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s systemd unit %s: no answer from systemd: %w", verb, name, ctx.Err())
	}
}

// systemdVersion is the manager's version number ("252.38-1~deb12u1" is
// 252), or 0 if it cannot be read, which turns off every version-gated
// property.
func systemdVersion(c *sd.Conn) int {
	s, err := c.GetManagerProperty("Version")
	if err != nil {
		return 0
	}
	return parseVersion(s)
}

func parseVersion(s string) int {
	s = strings.TrimLeft(s, "\"v")
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	v, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0
	}
	return v
}
