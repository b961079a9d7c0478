package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/internal/explainflag"
	"github.com/kago-run/kago/runtime"
)

// oneID checks the positional arguments hold exactly one container ID.
func oneID(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%s requires exactly one argument: the container ID (usage: kago-runc %s)", verb, cmd.Use)
		}
		return nil
	}
}

// createFlags are shared by create and run.
type createFlags struct {
	bundle        string
	pidFile       string
	consoleSocket string
	noPivot       bool
	noNewKeyring  bool
	preserveFDs   int
	explain       string
}

func (f *createFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.bundle, "bundle", "b", "", "path to the root of the bundle directory (default: current directory)")
	fl.StringVar(&f.pidFile, "pid-file", "", "file to write the container init's PID to")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "unix socket that receives the pty master of a terminal container")
	fl.BoolVar(&f.noPivot, "no-pivot", false, "do not use pivot_root (for a rootfs on a ramdisk)")
	fl.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "do not create a new session keyring")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass N additional file descriptors (from fd 3) to the container")
	explainflag.Add(fl, &f.explain)
}

func (f *createFlags) options() (runtime.CreateOptions, error) {
	if f.preserveFDs < 0 {
		return runtime.CreateOptions{}, fmt.Errorf("--preserve-fds must not be negative")
	}
	bundle := f.bundle
	if bundle == "" {
		bundle = "."
	}
	return runtime.CreateOptions{
		Bundle: bundle, PidFile: f.pidFile, NoPivot: f.noPivot,
		NoNewKeyring: f.noNewKeyring, PreserveFDs: f.preserveFDs,
		IO: runtime.IO{ConsoleSocket: f.consoleSocket},
	}, nil
}

// prepare checks the flags and opens the runtime, for create and run.
func (f *createFlags) prepare(g *globals) (*runtime.Runtime, runtime.CreateOptions, error) {
	opts, err := f.options()
	if err != nil {
		return nil, opts, err
	}
	if opts.Explain, err = explainflag.Recorder(f.explain, os.Stderr); err != nil {
		return nil, opts, err
	}
	rt, err := g.runtime()
	return rt, opts, err
}

func newCreateCmd(g *globals) *cobra.Command {
	f := &createFlags{}
	cmd := &cobra.Command{
		Use:   "create [flags] CONTAINER_ID",
		Short: "create a container, leaving its process waiting for start",
		Args:  oneID("create"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, opts, err := f.prepare(g)
			if err != nil {
				return err
			}
			_, err = rt.Create(ctx(cmd), args[0], opts)
			return err
		},
	}
	f.add(cmd)
	return cmd
}

func newStartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start CONTAINER_ID",
		Short: "start the user process of a created container",
		Args:  oneID("start"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Start(ctx(cmd))
		},
	}
}

func newDeleteCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete [--force] CONTAINER_ID...",
		Short: "delete a container and everything the runtime made for it",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, id := range args {
				c, err := g.load(id)
				if err != nil {
					if force && errors.Is(err, runtime.ErrNotExist) {
						continue // runc: delete --force of a missing container succeeds
					}
					errs = append(errs, err)
					continue
				}
				if err := c.Delete(ctx(cmd), force); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container before deleting it")
	return cmd
}

func newPauseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER_ID",
		Short: "freeze every process of a container",
		Args:  oneID("pause"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Pause()
		},
	}
}

func newResumeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume CONTAINER_ID",
		Short: "thaw a paused container",
		Args:  oneID("resume"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Resume()
		},
	}
}

// load opens the container, with an error naming the ID and the root.
func (g *globals) load(id string) (*runtime.Container, error) {
	rt, err := g.runtime()
	if err != nil {
		return nil, err
	}
	c, err := rt.Load(id)
	if errors.Is(err, runtime.ErrNotExist) {
		return nil, fmt.Errorf("container %s does not exist (state root %s): %w", id, rt.Root, runtime.ErrNotExist)
	}
	return c, err
}

// containerState is runc's `state` and `list --format json` record.
type containerState struct {
	Version        string            `json:"ociVersion"`
	ID             string            `json:"id"`
	InitProcessPid int               `json:"pid"`
	Status         string            `json:"status"`
	Bundle         string            `json:"bundle"`
	Rootfs         string            `json:"rootfs"`
	Created        time.Time         `json:"created"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	Owner          string            `json:"owner"`
}

func stateOf(c *runtime.Container) containerState {
	st := c.State()
	return containerState{
		Version: st.Version, ID: st.ID, InitProcessPid: st.Pid, Status: string(st.Status),
		Bundle: st.Bundle, Rootfs: c.Rootfs(), Created: c.Created(), Annotations: st.Annotations, Owner: c.Owner(),
	}
}

func newStateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "state CONTAINER_ID",
		Short: "print the container's OCI state as JSON",
		Args:  oneID("state"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return printJSON(os.Stdout, stateOf(c))
		},
	}
}

func newListCmd(g *globals) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "list containers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("invalid --format %q: use table or json", format)
			}
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			list, err := rt.List()
			if err != nil {
				return err
			}
			if quiet {
				for _, c := range list {
					fmt.Println(c.ID())
				}
				return nil
			}
			states := make([]containerState, 0, len(list))
			for _, c := range list {
				states = append(states, stateOf(c))
			}
			if format == "json" {
				return printJSON(os.Stdout, states)
			}
			w := newTable(os.Stdout)
			fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.InitProcessPid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only container IDs")
	return cmd
}

func newSpecCmd(g *globals) *cobra.Command {
	var bundle string
	var rootless bool
	cmd := &cobra.Command{
		Use:   "spec",
		Short: "write a default config.json",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := runtime.DefaultSpec()
			if rootless {
				runtime.RootlessSpec(spec)
			}
			path := filepath.Join(bundle, "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("%s exists: remove it first", path)
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			if err := printJSON(f, spec); err != nil {
				f.Close()
				return fmt.Errorf("write %s: %w", path, err)
			}
			return f.Close()
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", ".", "directory to write config.json in")
	cmd.Flags().BoolVar(&rootless, "rootless", false, "make a spec for a rootless container")
	return cmd
}
