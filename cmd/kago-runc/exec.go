package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/kago-run/kago/runtime"
)

type execFlags struct {
	processPath   string
	consoleSocket string
	cwd           string
	env           []string
	tty           bool
	user          string
	groups        []string
	detach        bool
	pidFile       string
	noNewPrivs    bool
	caps          []string
	preserveFDs   int
	processLabel  string
	apparmor      string
	cgroup        []string
	ignorePaused  bool
}

func newExecCmd(g *globals) *cobra.Command {
	f := &execFlags{}
	cmd := &cobra.Command{
		Use:   "exec [flags] CONTAINER_ID [COMMAND [ARGS...]]",
		Short: "run a new process inside a running container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			proc, err := f.process(cmd, c.Spec(), args[1:])
			if err != nil {
				return err
			}
			fg := &foreground{}
			opts := runtime.ExecOptions{PidFile: f.pidFile, PreserveFDs: f.preserveFDs, IgnorePaused: f.ignorePaused, IO: runtime.IO{ConsoleSocket: f.consoleSocket}}
			if !f.detach {
				if err := runtime.PrepareToWait(); err != nil {
					return err
				}
				if f.consoleSocket == "" {
					opts.IO.OnConsole = fg.onConsole
				}
			}
			p, err := c.Exec(ctx(cmd), proc, opts)
			if err != nil {
				return err
			}
			if f.detach {
				return nil
			}
			fg.start()
			code, err := fg.wait(p)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringVarP(&f.processPath, "process", "p", "", "path to a process.json describing the process")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	fl.StringVar(&f.cwd, "cwd", "", "current working directory in the container")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	fl.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-TTY")
	fl.StringVarP(&f.user, "user", "u", "", "UID[:GID] to run as")
	fl.StringArrayVarP(&f.groups, "additional-gids", "g", nil, "additional group IDs")
	fl.BoolVarP(&f.detach, "detach", "d", false, "detach from the process")
	fl.StringVar(&f.pidFile, "pid-file", "", "file to write the process's PID to")
	fl.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set no_new_privs on the process")
	fl.StringArrayVarP(&f.caps, "cap", "c", nil, "add a capability to the process's sets")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass N additional file descriptors (from fd 3)")
	fl.StringVar(&f.processLabel, "process-label", "", "SELinux label of the process (default: the container's)")
	fl.StringVar(&f.apparmor, "apparmor", "", "AppArmor profile of the process (default: the container's)")
	fl.StringArrayVar(&f.cgroup, "cgroup", nil, "sub-cgroup to run in (not supported)")
	fl.BoolVar(&f.ignorePaused, "ignore-paused", false, "allow exec in a paused container (it completes once the container is resumed)")
	return cmd
}

// process builds the exec'd process the way runc does: from --process, or
// from the container's own process with the flags applied on top.
func (f *execFlags) process(cmd *cobra.Command, spec *specs.Spec, args []string) (*specs.Process, error) {
	if len(f.cgroup) > 0 {
		return nil, fmt.Errorf("--cgroup is not supported by kago-runc")
	}
	if f.preserveFDs < 0 {
		return nil, fmt.Errorf("--preserve-fds must not be negative")
	}
	if f.processPath != "" {
		data, err := os.ReadFile(f.processPath)
		if err != nil {
			return nil, fmt.Errorf("read --process %s: %w", f.processPath, err)
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("--process %s is not a valid OCI process: %w", f.processPath, err)
		}
		// runc ignores these two with --process; kago never drops a
		// security setting it was given.
		f.applyLabels(&p)
		return &p, nil
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("exec needs a command to run, or --process FILE")
	}
	p := *spec.Process
	p.Args = args
	f.applyLabels(&p)
	p.Terminal = f.tty
	p.Env = append(append([]string(nil), p.Env...), f.env...)
	if f.cwd != "" {
		p.Cwd = f.cwd
	}
	if cmd.Flags().Changed("no-new-privs") {
		p.NoNewPrivileges = f.noNewPrivs
	}
	if f.user != "" {
		uid, gid, hasGid := strings.Cut(f.user, ":")
		u, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %q: want UID[:GID] as numbers", f.user)
		}
		p.User.UID = uint32(u)
		if hasGid {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user %q: want UID[:GID] as numbers", f.user)
			}
			p.User.GID = uint32(g)
		}
	}
	for _, s := range f.groups {
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--additional-gids %q: want a number", s)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if len(f.caps) > 0 {
		c := specs.LinuxCapabilities{}
		if p.Capabilities != nil {
			c = *p.Capabilities
		}
		for _, name := range f.caps {
			c.Bounding = append(c.Bounding, name)
			c.Effective = append(c.Effective, name)
			c.Permitted = append(c.Permitted, name)
			c.Ambient = append(c.Ambient, name)
			c.Inheritable = append(c.Inheritable, name)
		}
		p.Capabilities = &c
	}
	return &p, nil
}

// applyLabels applies --apparmor and --process-label; without them the
// process keeps its own, or the container's (runtime.Exec).
func (f *execFlags) applyLabels(p *specs.Process) {
	if f.apparmor != "" {
		p.ApparmorProfile = f.apparmor
	}
	if f.processLabel != "" {
		p.SelinuxLabel = f.processLabel
	}
}
