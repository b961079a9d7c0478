package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/attach"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/internal/explainflag"
	"github.com/kago-run/kago/linux/console"
	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/trace"
)

// runFlags are the flags `run` and `create` share, as the user typed them.
type runFlags struct {
	r          engine.CreateRequest
	entrypoint string
	env        []string
	envFiles   []string
	publish    []string
	volumes    []string
	tmpfs      []string
	mounts     []string
	health     healthFlags
	networks   []string
	restart    string
	memory     string
	cpus       string
	pidsLimit  int64
	secOpts    []string
	labels     []string
	labelFiles []string
	addHosts   []string
	dns        []string
	ulimits    []string
	devices    []string
	shmSize    string
	stopTime   int
	sysctls    []string
	detach     bool
	traceFile  string
	traceKinds string
	explain    string
}

func (f *runFlags) register(fs *pflag.FlagSet) {
	fs.SetInterspersed(false) // flags after the image belong to the command
	fs.StringVar(&f.r.Name, "name", "", "assign a name to the container")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable (KEY=VALUE, or KEY to copy the host's)")
	fs.StringArrayVar(&f.envFiles, "env-file", nil, "read environment variables from a file")
	fs.StringVarP(&f.r.Workdir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&f.r.User, "user", "u", "", "user NAME|UID[:GROUP|GID]")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "override the image's ENTRYPOINT")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "publish a port: [IP:]HOST:CONTAINER[/tcp|udp]")
	fs.BoolVarP(&f.r.PublishAll, "publish-all", "P", false, "publish every EXPOSEd port on a free host port")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "bind mount or volume: HOST_PATH|NAME:CONTAINER_PATH[:ro]")
	fs.StringArrayVar(&f.tmpfs, "tmpfs", nil, "mount a tmpfs: PATH[:OPTIONS]")
	fs.StringArrayVar(&f.mounts, "mount", nil, "attach a mount: type=bind|volume|tmpfs,source=SRC,target=DST[,readonly]")
	fs.BoolVar(&f.r.ReadOnly, "read-only", false, "mount the root filesystem read-only")
	fs.StringVar(&f.r.Hostname, "hostname", "", "container host name (default: the short ID)")
	fs.StringArrayVar(&f.networks, "network", nil, "network: bridge (the default), host, none or a user network; repeat to join several")
	fs.StringArrayVar(&f.r.NetworkAliases, "network-alias", nil, "another name of the container on its user network")
	fs.StringVar(&f.r.MacAddress, "mac-address", "", "container MAC address (default: locally administered, derived from the IP)")
	fs.StringVarP(&f.memory, "memory", "m", "", "memory limit (e.g. 256m)")
	fs.StringVar(&f.cpus, "cpus", "", "CPU limit (e.g. 1.5)")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "maximum number of processes")
	fs.StringVar(&f.restart, "restart", "no", "restart policy: no, on-failure[:N], always, unless-stopped")
	fs.BoolVar(&f.r.AutoRemove, "rm", false, "remove the container when it exits")
	fs.StringArrayVar(&f.r.CapAdd, "cap-add", nil, "add a capability")
	fs.StringArrayVar(&f.r.CapDrop, "cap-drop", nil, "drop a capability")
	fs.StringArrayVar(&f.secOpts, "security-opt", nil, "seccomp=FILE|unconfined, apparmor=PROFILE|unconfined")
	fs.BoolVar(&f.r.Privileged, "privileged", false, "give the container all capabilities and devices, no seccomp")
	fs.BoolVarP(&f.r.Tty, "tty", "t", false, "allocate a pseudo-terminal")
	fs.BoolVarP(&f.r.OpenStdin, "interactive", "i", false, "keep stdin open")
	f.health.register(fs)
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "set metadata on the container (KEY=VALUE)")
	fs.StringArrayVar(&f.labelFiles, "label-file", nil, "read labels from a file of KEY=VALUE lines")
	fs.StringArrayVar(&f.addHosts, "add-host", nil, "add a line to /etc/hosts: HOST:IP (IP may be host-gateway)")
	fs.StringArrayVar(&f.dns, "dns", nil, "DNS server for the container (its network's resolver forwards to it)")
	fs.StringArrayVar(&f.r.DNS.Search, "dns-search", nil, "DNS search domain ('.' for none)")
	fs.StringArrayVar(&f.r.DNS.Options, "dns-option", nil, "resolv.conf option, like ndots:2")
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "resource limit: NAME=SOFT[:HARD], e.g. nofile=1024:2048")
	fs.StringArrayVar(&f.devices, "device", nil, "add a host device: HOST[:CONTAINER][:rwm]")
	fs.StringVar(&f.shmSize, "shm-size", "", "size of /dev/shm (default 64m)")
	fs.StringVar(&f.r.StopSignal, "stop-signal", "", "signal that stops the container (default: the image's, or SIGTERM)")
	fs.IntVar(&f.stopTime, "stop-timeout", 0, "seconds stop waits before killing (default 10; -1: for ever)")
	fs.StringArrayVar(&f.sysctls, "sysctl", nil, "namespaced kernel parameter: NAME=VALUE")
	fs.BoolVar(&f.r.Init, "init", false, "run a minimal init as PID 1 that forwards signals and reaps zombies")
	fs.StringVar(&f.traceFile, "trace", "", "record what the container's processes do (kago trace) from its first instruction, as JSON lines in this file")
	fs.StringVar(&f.traceKinds, "trace-events", "", "with --trace, the kinds of event to record (default all but syscalls; see kago trace --help)")
	explainflag.Add(fs, &f.explain)
}

// explainContext is ctx carrying the --explain recorder, if asked for: the
// engine's layers record their steps on it.
func (f *runFlags) explainContext(ctx context.Context) (context.Context, error) {
	rec, err := explainflag.Recorder(f.explain, os.Stderr)
	return explain.WithRecorder(ctx, rec), err
}

// request turns the flags into the engine's typed create request, with
// the engine's parsers; the engine validates the whole of it.
func (f *runFlags) request(cmd *cobra.Command, args []string) (engine.CreateRequest, error) {
	r := f.r
	r.Image, r.Cmd = args[0], args[1:]
	if cmd.Flags().Changed("entrypoint") {
		r.Entrypoint = &f.entrypoint
	}
	for _, name := range f.envFiles {
		data, err := os.ReadFile(name)
		if err != nil {
			return r, fmt.Errorf("--env-file: %w", err)
		}
		kvs, err := specgen.ParseEnvFile(name, data, os.LookupEnv)
		if err != nil {
			return r, err
		}
		r.Env = append(r.Env, kvs...)
	}
	for _, e := range f.env {
		kv, err := specgen.ParseEnv(e, os.LookupEnv)
		if err != nil {
			return r, err
		}
		if kv != "" {
			r.Env = append(r.Env, kv)
		}
	}
	var err error
	if r.Ports, err = engine.ParsePorts(f.publish); err != nil {
		return r, err
	}
	for _, v := range f.volumes {
		m, err := engine.ParseVolume(v)
		if err != nil {
			return r, err
		}
		r.Mounts = append(r.Mounts, m)
	}
	for _, v := range f.mounts {
		m, err := engine.ParseMount(v)
		if err != nil {
			return r, err
		}
		r.Mounts = append(r.Mounts, m)
	}
	for _, t := range f.tmpfs {
		m, err := engine.ParseTmpfs(t)
		if err != nil {
			return r, err
		}
		r.Mounts = append(r.Mounts, m)
	}
	if r.Healthcheck, err = f.health.config(); err != nil {
		return r, err
	}
	r.Network = engine.NetworkBridge
	for i, n := range f.networks {
		if i == 0 {
			r.Network = engine.NetworkMode(n)
			continue
		}
		nc := engine.NetworkConfig{Name: n}
		if engine.NetworkMode(n) != engine.NetworkBridge {
			nc.Aliases = r.NetworkAliases
		}
		r.MoreNetworks = append(r.MoreNetworks, nc)
	}
	if r.Restart, err = engine.ParseRestartPolicy(f.restart); err != nil {
		return r, err
	}
	if f.memory != "" {
		if r.Resources.Memory, err = engine.ParseMemory(f.memory); err != nil {
			return r, err
		}
	}
	if f.cpus != "" {
		if r.Resources.NanoCPUs, err = engine.ParseCPUs(f.cpus); err != nil {
			return r, err
		}
	}
	r.Resources.PidsLimit = f.pidsLimit
	if r.Security, err = engine.ParseSecurityOpts(f.secOpts); err != nil {
		return r, err
	}
	if err := f.hostConfig(cmd, &r); err != nil {
		return r, err
	}
	if r.Cwd, err = os.Getwd(); err != nil {
		return r, fmt.Errorf("the current directory (relative bind sources resolve against it): %w", err)
	}
	if r.Trace, err = f.trace(); err != nil {
		return r, err
	}
	r.PullProgress = os.Stderr
	return r, nil
}

// trace checks --trace and --trace-events and starts the trace file empty,
// so a file that cannot be written is said before the container is made.
func (f *runFlags) trace() (*containers.Trace, error) {
	if f.traceFile == "" {
		if f.traceKinds != "" {
			return nil, errors.New("--trace-events needs --trace FILE")
		}
		return nil, nil
	}
	if f.traceKinds != "" {
		if _, err := trace.ParseKinds(f.traceKinds); err != nil {
			return nil, fmt.Errorf("--trace-events: %w", err)
		}
	}
	abs, err := filepath.Abs(f.traceFile)
	if err != nil {
		return nil, fmt.Errorf("--trace %s: %w", f.traceFile, err)
	}
	fh, err := os.OpenFile(abs, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--trace: %w", err)
	}
	fh.Close()
	return &containers.Trace{File: abs, Events: f.traceKinds}, nil
}

// hostConfig parses the flags of labels, /etc files, limits, devices and
// stopping.
func (f *runFlags) hostConfig(cmd *cobra.Command, r *engine.CreateRequest) error {
	var err error
	if r.Labels, err = engine.ParseLabels(f.labels, f.labelFiles); err != nil {
		return err
	}
	for _, h := range f.addHosts {
		eh, err := engine.ParseExtraHost(h)
		if err != nil {
			return err
		}
		r.ExtraHosts = append(r.ExtraHosts, eh)
	}
	if r.DNS.Servers, err = engine.ParseDNSServers(f.dns); err != nil {
		return err
	}
	for _, u := range f.ulimits {
		ul, err := engine.ParseUlimit(u)
		if err != nil {
			return err
		}
		r.Ulimits = append(r.Ulimits, ul)
	}
	for _, d := range f.devices {
		dev, err := engine.ParseDevice(d)
		if err != nil {
			return err
		}
		r.Devices = append(r.Devices, dev)
	}
	if f.shmSize != "" {
		if r.ShmSize, err = specgen.ParseBytes(f.shmSize); err != nil || r.ShmSize <= 0 {
			return fmt.Errorf("invalid --shm-size %q: want a size like 64m", f.shmSize)
		}
	}
	if cmd.Flags().Changed("stop-timeout") {
		r.StopTimeout = &f.stopTime
	}
	for _, s := range f.sysctls {
		k, v, err := engine.ParseSysctl(s)
		if err != nil {
			return err
		}
		if r.Sysctls == nil {
			r.Sysctls = map[string]string{}
		}
		r.Sysctls[k] = v
	}
	return nil
}

func newRunCmd(g *globalOptions) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and start a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			r, err := f.request(cmd, args)
			if err != nil {
				return err
			}
			ctx, err := f.explainContext(cmd.Context())
			if err != nil {
				return err
			}
			r.StartNext = true
			rec, err := e.Create(ctx, r)
			if err != nil {
				return err
			}
			if f.detach {
				if _, err := e.Start(ctx, rec.ID); err != nil {
					e.Remove(context.WithoutCancel(ctx), rec.ID, true, true)
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), rec.ID)
				return nil
			}
			// A foreground run with --restart may exit and come back; the
			// client returns at its first exit, as docker run does.
			code, err := runForeground(ctx, e, rec.ID, r.OpenStdin, r.Tty)
			if err != nil {
				return err
			}
			os.Exit(code)
			return nil
		}),
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVarP(&f.detach, "detach", "d", false, "run in the background and print the container ID")
	return cmd
}

// runForeground starts the container's monitor with this process attached
// and relays the terminal until the container exits (its code is returned)
// or the user detaches with Ctrl-P Ctrl-Q.
func runForeground(ctx context.Context, e *engine.Engine, id string, interactive, tty bool) (int, error) {
	rec, conn, err := e.StartAttached(ctx, id)
	if err != nil {
		e.Remove(context.WithoutCancel(ctx), id, true, true)
		return -1, err
	}
	return attachTerminal(e, rec, conn, interactive, tty)
}

// attachTerminal relays the user's terminal to an attached monitor.
func attachTerminal(e *engine.Engine, rec *containers.Record, conn net.Conn, interactive, tty bool) (int, error) {
	o := attach.ClientOptions{Stdout: os.Stdout, Stderr: os.Stderr}
	if interactive {
		o.Stdin = os.Stdin
	}
	if tty {
		restore, _ := console.MakeRaw(0)
		defer restore()
		sizes := make(chan [2]uint16, 1)
		stop := followWindowSize(func(rows, cols uint16) {
			select {
			case sizes <- [2]uint16{rows, cols}:
			default:
			}
		})
		defer stop()
		o.Resize = sizes
	} else {
		// Without a tty, Ctrl-C and SIGTERM go to the container, as docker's
		// sig-proxy does; the container decides whether to exit.
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
		defer signal.Stop(sigs)
		go func() {
			for s := range sigs {
				e.Signal(rec.ID, s.(unix.Signal))
			}
		}()
	}
	code, err := attach.Client(conn, o)
	if errors.Is(err, attach.ErrDetached) {
		if tty {
			fmt.Fprint(os.Stderr, "\r\n")
		}
		return 0, nil
	}
	return code, err
}

func newAttachCmd(g *globalOptions) *cobra.Command {
	var noStdin bool
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach to a running container's output (and input); Ctrl-P Ctrl-Q detaches",
		Args:  cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			rec, err := e.Lookup(args[0])
			if err != nil {
				return err
			}
			conn, err := e.AttachConn(rec.ID)
			if err != nil {
				return err
			}
			code, err := attachTerminal(e, rec, conn, rec.OpenStdin && !noStdin, rec.Tty)
			if err != nil {
				return err
			}
			os.Exit(code)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach stdin")
	return cmd
}

func newCreateCmd(g *globalOptions) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a container without starting it",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			r, err := f.request(cmd, args)
			if err != nil {
				return err
			}
			ctx, err := f.explainContext(cmd.Context())
			if err != nil {
				return err
			}
			rec, err := e.Create(ctx, r)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), rec.ID)
			return nil
		}),
	}
	f.register(cmd.Flags())
	return cmd
}

func newStartCmd(g *globalOptions) *cobra.Command {
	var all bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "start CONTAINER [CONTAINER...] | start --all [--filter restart-policy=POLICY]...",
		Short: "Start created or stopped containers (in the background)",
		Long: `Start created or stopped containers (in the background).

kago has no daemon to bring containers back after the host reboots; run
  kago start --all --filter restart-policy=always --filter restart-policy=unless-stopped
at boot instead (contrib/systemd/kago-restart.service does). As docker does on
its start, that starts the "always" containers, and the "unless-stopped" ones
that were not stopped by hand.`,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			if all == (len(args) > 0) {
				return fmt.Errorf("start needs container names or --all (not both)")
			}
			if !all {
				if len(filters) > 0 {
					return fmt.Errorf("--filter goes with --all")
				}
				return eachContainer(cmd, args, func(ref string) error {
					_, err := e.Start(cmd.Context(), ref)
					return err
				})
			}
			var policies []engine.RestartPolicyName
			for _, f := range filters {
				p, ok := strings.CutPrefix(f, "restart-policy=")
				if !ok {
					return fmt.Errorf("unknown filter %q: start --all takes --filter restart-policy=no|on-failure|always|unless-stopped", f)
				}
				name, err := engine.ParseRestartPolicyName(p)
				if err != nil {
					return err
				}
				policies = append(policies, name)
			}
			refs, err := e.Startable(policies)
			if err != nil || len(refs) == 0 {
				return err
			}
			return eachContainer(cmd, refs, func(ref string) error {
				_, err := e.Start(cmd.Context(), ref)
				return err
			})
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "start every container that is not running")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "with --all, only containers with this restart policy (restart-policy=always); repeat for several")
	return cmd
}

func newRestartCmd(g *globalOptions) *cobra.Command {
	var secs int
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop and start containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			return eachContainer(cmd, args, func(ref string) error {
				if err := e.Stop(cmd.Context(), ref, stopTimeout(cmd, secs)); err != nil {
					return err
				}
				_, err := e.Start(cmd.Context(), ref)
				return err
			})
		}),
	}
	cmd.Flags().IntVarP(&secs, "time", "t", 10, "seconds to wait before killing (default: the container's --stop-timeout, 10)")
	return cmd
}

// stopTimeout is -t as Engine.Stop takes it: negative when not given, so
// the container's --stop-timeout applies.
func stopTimeout(cmd *cobra.Command, secs int) time.Duration {
	if !cmd.Flags().Changed("time") {
		return -1
	}
	return time.Duration(secs) * time.Second
}

// eachContainer runs fn for each argument, printing each one done, and
// fails if any failed (after trying them all, as docker does).
func eachContainer(cmd *cobra.Command, refs []string, fn func(ref string) error) error {
	failed := 0
	var last error
	for _, ref := range refs {
		if err := fn(ref); err != nil {
			failed++
			last = err
			if len(refs) > 1 {
				fmt.Fprintln(cmd.ErrOrStderr(), "kago:", err)
			}
			continue
		}
		fmt.Fprintln(cmd.OutOrStdout(), ref)
	}
	if failed == 1 && len(refs) == 1 {
		return last
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d containers failed", failed, len(refs))
	}
	return nil
}

// healthFlags are docker's --health-* flags.
type healthFlags struct {
	cmd                                           string
	interval, timeout, startPeriod, startInterval time.Duration
	retries                                       int
	none                                          bool
}

func (h *healthFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&h.cmd, "health-cmd", "", "command to run to check health (run by /bin/sh -c)")
	fs.DurationVar(&h.interval, "health-interval", 0, "time between running the check (default 30s)")
	fs.DurationVar(&h.timeout, "health-timeout", 0, "maximum time to allow one check to run (default 30s)")
	fs.DurationVar(&h.startPeriod, "health-start-period", 0, "start period for the container to initialize before failures count")
	fs.DurationVar(&h.startInterval, "health-start-interval", 0, "time between running the check during the start period")
	fs.IntVar(&h.retries, "health-retries", 0, "consecutive failures needed to report unhealthy (default 3)")
	fs.BoolVar(&h.none, "no-healthcheck", false, "disable any container-specified HEALTHCHECK")
}

// config is the request's healthcheck: nil when no flag was given.
func (h *healthFlags) config() (*engine.Healthcheck, error) {
	hc := &engine.Healthcheck{Interval: h.interval, Timeout: h.timeout, StartPeriod: h.startPeriod,
		StartInterval: h.startInterval, Retries: h.retries}
	timing := hc.Interval != 0 || hc.Timeout != 0 || hc.StartPeriod != 0 || hc.StartInterval != 0 || hc.Retries != 0
	switch {
	case h.none && (h.cmd != "" || timing):
		return nil, errors.New("--no-healthcheck conflicts with --health-* options")
	case h.none:
		return &engine.Healthcheck{Test: []string{"NONE"}}, nil
	case h.cmd != "":
		hc.Test = []string{"CMD-SHELL", h.cmd}
	case !timing:
		return nil, nil
	}
	return hc, nil
}
