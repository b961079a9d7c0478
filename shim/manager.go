package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	shimapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/runtime"
)

// groupAnnotations name the containers that share one shim process: the
// CRI plugin puts every container of a pod under its sandbox id, so one
// kago shim serves a whole pod, as the runc shim does.
var groupAnnotations = []string{
	"io.containerd.kago.v2.group",
	"io.kubernetes.cri.sandbox-id",
}

// StateRoot is where the shim keeps kago runtime state for a containerd
// namespace; each namespace gets its own directory, as runc's shim does
// under /run/containerd/runc.
func StateRoot(ns string) string { return filepath.Join("/run/containerd/kago", ns) }

// groupOf reads the bundle's config.json (the shim's working directory)
// for the annotation that groups this container with others.
func groupOf(id string) (string, error) {
	data, err := os.ReadFile("config.json")
	if err != nil {
		return "", fmt.Errorf("read bundle config: %w", err)
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return "", fmt.Errorf("parse bundle config.json: %w", err)
	}
	for _, a := range groupAnnotations {
		if g := spec.Annotations[a]; g != "" {
			return g, nil
		}
	}
	return id, nil
}

// StartShim is the `start` subcommand: containerd runs it in the bundle
// directory and reads the ttrpc address from its stdout. A container whose
// group already has a running shim gets that shim's address; otherwise a new
// shim daemon is started on a fresh socket.
func startShim(ctx context.Context, f flags) (_ string, retErr error) {
	group, err := groupOf(f.id)
	if err != nil {
		return "", err
	}
	address := socketAddress(f.address, f.namespace, group, f.debug)
	socket, err := listen(address)
	if err != nil {
		if !addrInUse(err) {
			return "", fmt.Errorf("create shim socket %s: %w", address, err)
		}
		if canConnect(address) {
			// The pod's shim is already running: join it.
			if err := writeAddress(address); err != nil {
				return "", fmt.Errorf("write shim address: %w", err)
			}
			return address, nil
		}
		if err := removeSocket(address); err != nil {
			return "", fmt.Errorf("remove stale shim socket %s: %w", address, err)
		}
		if socket, err = listen(address); err != nil {
			return "", fmt.Errorf("create shim socket %s: %w", address, err)
		}
	}
	defer func() {
		if retErr != nil {
			socket.Close()
			_ = removeSocket(address)
		}
	}()
	if err := writeAddress(address); err != nil {
		return "", fmt.Errorf("write shim address: %w", err)
	}
	lf, err := socket.File()
	if err != nil {
		return "", err
	}
	defer lf.Close()
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	args := []string{"-namespace", f.namespace, "-id", f.id, "-address", f.address}
	if f.debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = cwd
	// A small GOMAXPROCS keeps the per-pod daemon's footprint down; it
	// mostly sleeps in ttrpc reads and wait4.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.ExtraFiles = []*os.File{lf} // fd 3: the listening socket
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start shim daemon: %w", err)
	}
	go cmd.Wait() //nolint:errcheck // the daemon outlives this process
	if err := adjustOOMScore(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		return "", fmt.Errorf("adjust OOM score of shim: %w", err)
	}
	return address, nil
}

// Cleanup is the `delete` subcommand: containerd runs it when the shim
// serving this container is gone (killed, crashed) to remove whatever the
// container left: its processes, cgroup, state and rootfs mount.
func cleanup(ctx context.Context, f flags) (*shimapi.DeleteResponse, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	bundle := filepath.Join(filepath.Dir(cwd), f.id)
	rt, err := runtime.New(StateRoot(f.namespace), nil)
	if err != nil {
		return nil, err
	}
	pid := 0
	if c, err := rt.Load(f.id); err == nil {
		pid = c.Pid()
		if err := c.Delete(ctx, true); err != nil {
			fmt.Fprintf(os.Stderr, "delete container %s: %v\n", f.id, err)
		}
	}
	if err := mount.UnmountAll(filepath.Join(bundle, "rootfs"), unix.MNT_DETACH); err != nil {
		fmt.Fprintf(os.Stderr, "unmount rootfs of %s: %v\n", f.id, err)
	}
	// A killed shim leaves its socket; a live one (another container of the
	// pod still served) keeps it.
	if address, err := readAddress(); err == nil && !canConnect(address) {
		_ = removeSocket(address)
	}
	return &shimapi.DeleteResponse{
		Pid:        uint32(pid),
		ExitStatus: 128 + uint32(unix.SIGKILL),
		ExitedAt:   protobuf.ToTimestamp(time.Now()),
	}, nil
}

// writeAddress records the shim's socket in the bundle's "address" file,
// where containerd and the daemon's own cleanup look for it; it is written
// whole or not at all.
func writeAddress(address string) error {
	tmp := "address.tmp"
	if err := os.WriteFile(tmp, []byte(address), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, "address")
}
