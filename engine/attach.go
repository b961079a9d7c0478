package engine

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// AttachConn connects to a running container's monitor (package
// engine/attach has the protocol; attach.Client speaks it).
func (e *Engine) AttachConn(ref string) (net.Conn, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if !e.monitorAlive(rec.ID) {
		return nil, fmt.Errorf("cannot attach to %s: it is not running (it is %s)", rec.Name, rec.State.Status)
	}
	// Unix socket paths are limited to 108 bytes and engine roots can be
	// long, so the path goes through /proc/self/fd of the directory.
	dir := e.containers.Dir(rec.ID)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	c, err := net.Dial("unix", fmt.Sprintf("/proc/self/fd/%d/attach.sock", fd))
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", rec.Name, err)
	}
	return c, nil
}
