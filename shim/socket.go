package shim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// socketRoot holds the shims' sockets, where containerd's own shims put
// theirs.
const socketRoot = "/run/containerd/s"

// socketAddress names the socket of the shim serving group in namespace ns
// of the containerd at containerdAddress: a hash, so the path stays under
// the 108-byte limit of unix socket names whatever the ids.
func socketAddress(containerdAddress, ns, group string, debug bool) string {
	key := filepath.Join(containerdAddress, ns, group)
	if debug {
		key = filepath.Join(key, "debug")
	}
	return fmt.Sprintf("unix://%s/%x", socketRoot, sha256.Sum256([]byte(key)))
}

func socketPath(address string) string { return strings.TrimPrefix(address, "unix://") }

// listen makes the shim's socket, readable by root only.
func listen(address string) (*net.UnixListener, error) {
	path := socketPath(address)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		os.Remove(path)
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return l.(*net.UnixListener), nil
}

func addrInUse(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "listen" && errors.Is(err, syscall.EADDRINUSE)
}

// canConnect tells a live shim's socket from a stale one.
func canConnect(address string) bool {
	c, err := net.DialTimeout("unix", socketPath(address), 100*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func removeSocket(address string) error {
	if err := os.Remove(socketPath(address)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// readAddress reads the bundle's "address" file.
func readAddress() (string, error) {
	data, err := os.ReadFile("address")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// adjustOOMScore makes the shim one step likelier to be OOM-killed than
// containerd, as containerd's own shims do: the daemon should outlive them.
func adjustOOMScore(pid int) error {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", os.Getppid()))
	if err != nil {
		return fmt.Errorf("read containerd's OOM score: %w", err)
	}
	score, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("parse containerd's OOM score %q: %w", data, err)
	}
	if score < 1000 {
		score++
	}
	path := fmt.Sprintf("/proc/%d/oom_score_adj", pid)
	if err := os.WriteFile(path, []byte(strconv.Itoa(score)), 0o644); err != nil {
		return fmt.Errorf("set shim OOM score: %w", err)
	}
	return nil
}
