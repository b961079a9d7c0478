// Package engine is kago's docker-like container engine: it turns an image
// and a CreateRequest (typed: the CLI builds it from `kago run` flags with
// the Parse functions of request.go, compose from a service) into a
// container, runs it under a per-container monitor process, and takes it
// through ps, logs, exec, stop, start and rm.
//
// Everything lives under one root directory (default /var/lib/kago), so two
// engines with different roots never see each other's containers:
//
//	<root>/config.json              engine config (network bridge, subnet, nft table)
//	<root>/containers/<id>/         bundle (config.json), container.json record,
//	                                <id>-json.log, hosts, hostname, resolv.conf,
//	                                monitor.lock, monitor.log, attach.sock,
//	                                create.lock (held while Create works)
//	<root>/init/                    kago-init bundle for --init (initproc)
//	<root>/runtime/<id>/            the OCI runtime's state
//	<root>/network/                 network manager state
//	<root>/volumes/<name>/_data     named and anonymous volumes
//	<root>/snapshots, content, image   image store
//
// The model is conmon's: `kago run -d` creates the record and the bundle,
// then starts kago-monitor (package engine/monitor), a small program that
// outlives the CLI. The monitor runs short-lived kago helpers (`kago
// container-start`, StartRun: runtime create, network attach between create
// and start, runtime start) and, when the container exits, `kago
// container-exited` (FinishRun: the exit code and OOM kill recorded, network
// detached so published ports disappear, --rm, the restart decision). The
// container's init is re-parented to the monitor (a child subreaper) when
// the start helper exits, so the monitor waits for it; it holds the stdio
// or pty, writes the log and serves attach.sock. Keeping the engine out of
// the long-lived process keeps it small: one runs per container.
// The CLI learns whether the start worked from a pipe the monitor writes.
// A foreground `kago run` is the monitor's first attached client (package
// engine/attach): output, input, window size and the exit code go over a
// socket, so the user can detach with Ctrl-P Ctrl-Q and `kago attach` again
// later, and killing the CLI never kills the container.
//
// A killed monitor is recovered lazily: the monitor holds an flock on
// <id>/monitor.lock while it lives, and any verb that finds a record saying
// "running" without a live monitor reconciles it with the runtime (see
// reconcile.go). A host reboot looks the same, so ps shows such containers
// as exited, not lost.
package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/volumes"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/network"
	"github.com/kago-run/kago/runtime"
)

// Config is <root>/config.json. Every field is optional.
type Config struct {
	// Network configures the default bridge, its subnet, the nftables table
	// and the user-network pool (JSON keys are network.Config's field names,
	// e.g. {"Network":{"BridgeName":"kt0","Subnet":"10.220.0.0/16","TableName":"kt"}}).
	Network network.Config `json:"Network"`
	// LogMaxSize is the json-file rotation size in bytes (default 10 MiB).
	LogMaxSize int64 `json:"LogMaxSize,omitempty"`
	// CgroupManager is podman's cgroup_manager: "systemd" (containers'
	// cgroups are systemd scopes) or "cgroupfs" (kago writes them itself).
	// Empty means systemd where systemd is PID 1, cgroupfs otherwise.
	CgroupManager string `json:"cgroup_manager,omitempty"`
}

// Engine is one engine root opened. The image store and the network
// manager are layers below it that others (build, network verbs) use too;
// its runtime and container records are its own: callers go through its
// methods, so every change to a container passes the checks and locks here.
type Engine struct {
	Root   string
	Config Config
	Images *image.Store
	Net    *network.Manager
	Log    *slog.Logger
	// StartTracer starts the tracer of a container created with a Trace,
	// between its create and its start (see TraceJob); nil in an engine
	// that cannot trace.
	StartTracer func(ctx context.Context, job TraceJob) error
	// Program is the kago binary the engine runs for its helpers (the
	// monitor's container-start and container-exited, a network's
	// resolver) and copies as the --init program; empty is the running
	// program, which is kago. kago-compose sets the kago beside it.
	Program string

	runtime    *runtime.Runtime
	containers *containers.Store
	volumes    *volumes.Store
}

// Open opens (creating if needed) the engine state under root.
func Open(root string, log *slog.Logger) (*Engine, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("engine root %s: %w", root, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(abs, 0o711); err != nil {
		return nil, fmt.Errorf("create engine root %s: %w", abs, err)
	}
	e := &Engine{Root: abs, Log: log}
	if err := e.loadConfig(); err != nil {
		return nil, err
	}
	if e.Images, err = image.Open(abs); err != nil {
		return nil, err
	}
	if e.runtime, err = runtime.New(filepath.Join(abs, "runtime"), log); err != nil {
		return nil, err
	}
	if e.runtime.SystemdCgroup, err = e.systemdCgroup(); err != nil {
		return nil, err
	}
	if e.Net, err = network.New(filepath.Join(abs, "network"), e.Config.Network); err != nil {
		return nil, fmt.Errorf("%s: %w", e.configPath(), err)
	}
	if e.containers, err = containers.Open(filepath.Join(abs, "containers")); err != nil {
		return nil, err
	}
	// What killed commands left in the store goes as soon as a command
	// meets it; records of killed creates go in reconcile.
	e.containers.Sweep()
	if e.volumes, err = volumes.Open(filepath.Join(abs, "volumes")); err != nil {
		return nil, err
	}
	e.Images.InUse = e.imageInUse
	return e, nil
}

func (e *Engine) configPath() string { return filepath.Join(e.Root, "config.json") }

func (e *Engine) loadConfig() error {
	data, err := os.ReadFile(e.configPath())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read engine config: %w", err)
	}
	if err := json.Unmarshal(data, &e.Config); err != nil {
		return fmt.Errorf("engine config %s is not valid JSON for engine.Config: %w", e.configPath(), err)
	}
	return nil
}

// imageInUse tells the image store whether rmi must refuse.
func (e *Engine) imageInUse(id digest.Digest) bool {
	all, err := e.containers.List()
	if err != nil {
		return true // when unsure, keep the image
	}
	for _, r := range all {
		if r.ImageID == id.String() {
			return true
		}
	}
	return false
}

func (e *Engine) logPath(id string) string {
	return filepath.Join(e.containers.Dir(id), id+"-json.log")
}

// LogPath is where the container's json-file log lives.
func (e *Engine) LogPath(id string) string { return e.logPath(id) }

func (e *Engine) volumeDir(name string) string { return e.volumes.Path(name) }

// program is the kago binary the engine runs for its helpers (Program).
func (e *Engine) program() (string, error) {
	if e.Program != "" {
		return e.Program, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the kago binary: %w", err)
	}
	return self, nil
}
