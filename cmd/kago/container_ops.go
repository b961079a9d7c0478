package main

import (
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/logs"
	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/linux/console"
	"github.com/kago-run/kago/runtime"
)

func newStopCmd(g *globalOptions) *cobra.Command {
	var secs int
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop containers: the stop signal, then SIGKILL after a timeout",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			if secs < 0 {
				return fmt.Errorf("--time %d must not be negative", secs)
			}
			return eachContainer(cmd, args, func(ref string) error {
				return e.Stop(cmd.Context(), ref, stopTimeout(cmd, secs))
			})
		}),
	}
	cmd.Flags().IntVarP(&secs, "time", "t", 10, "seconds to wait before killing (default: the container's --stop-timeout, 10)")
	return cmd
}

func newKillCmd(g *globalOptions) *cobra.Command {
	var sig string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Send a signal (default SIGKILL) to containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			s, err := runtime.ParseSignal(sig)
			if err != nil {
				return err
			}
			return eachContainer(cmd, args, func(ref string) error { return e.Kill(cmd.Context(), ref, s) })
		}),
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send")
	return cmd
}

func newRmCmd(g *globalOptions) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Remove containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			return eachContainer(cmd, args, func(ref string) error {
				return e.Remove(cmd.Context(), ref, force, volumes)
			})
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill and remove a running container")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove the container's anonymous volumes")
	return cmd
}

func newWaitCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Wait for containers to stop and print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			for _, ref := range args {
				code, err := e.WaitStopped(cmd.Context(), ref)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), code)
			}
			return nil
		}),
	}
}

func newLogsCmd(g *globalOptions) *cobra.Command {
	var o logs.ReadOptions
	var since, until string
	tail := "all"
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Print a container's output",
		Args:  cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			rec, err := e.Lookup(args[0])
			if err != nil {
				return err
			}
			now := time.Now()
			for _, f := range []struct {
				name, value string
				to          *time.Time
			}{{"--since", since, &o.Since}, {"--until", until, &o.Until}} {
				if f.value == "" {
					continue
				}
				if *f.to, err = logs.ParseTime(f.value, now); err != nil {
					return fmt.Errorf("%s: %w", f.name, err)
				}
			}
			o.Tail = -1
			if tail != "all" {
				if _, err := fmt.Sscanf(tail, "%d", &o.Tail); err != nil || o.Tail < 0 {
					return fmt.Errorf("invalid --tail %q: use a number of lines or all", tail)
				}
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, unix.SIGTERM)
			defer cancel()
			if o.Follow {
				done := make(chan struct{})
				o.Done = done
				go func() {
					e.WaitStopped(ctx, rec.ID)
					close(done)
				}()
			}
			return logs.Read(ctx, e.LogPath(rec.ID), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		}),
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep printing output until the container stops")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "number of lines to show from the end")
	cmd.Flags().BoolVarP(&o.Timestamps, "timestamps", "t", false, "show timestamps")
	cmd.Flags().StringVar(&since, "since", "", "only output since this time: a duration back (10m), an RFC 3339 time or Unix seconds")
	cmd.Flags().StringVar(&until, "until", "", "only output before this time (same forms as --since)")
	return cmd
}

func newExecCmd(g *globalOptions) *cobra.Command {
	var o engine.ExecOptions
	var env []string
	var interactive bool
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Run a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			o.Args = args[1:]
			for _, kv := range env {
				v, err := specgen.ParseEnv(kv, os.LookupEnv)
				if err != nil {
					return err
				}
				if v != "" {
					o.Env = append(o.Env, v)
				}
			}
			if interactive {
				o.IO.Stdin = os.Stdin
			}
			var master *os.File
			if o.Tty {
				o.IO.OnConsole = func(m *os.File) error {
					fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
					if err != nil {
						return fmt.Errorf("dup pty master: %w", err)
					}
					master = os.NewFile(uintptr(fd), "pty")
					return nil
				}
			}
			p, err := e.Exec(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			code := waitExec(p, master, interactive)
			os.Exit(code)
			return nil
		}),
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "keep stdin open")
	cmd.Flags().BoolVarP(&o.Tty, "tty", "t", false, "allocate a pseudo-terminal")
	cmd.Flags().StringArrayVarP(&env, "env", "e", nil, "set an environment variable")
	cmd.Flags().StringVarP(&o.User, "user", "u", "", "user NAME|UID[:GROUP|GID]")
	cmd.Flags().StringVarP(&o.Workdir, "workdir", "w", "", "working directory")
	return cmd
}

// waitExec relays the pty (if any), forwards signals and returns the exit code.
func waitExec(p *runtime.Process, master *os.File, interactive bool) int {
	copied := make(chan struct{})
	if master != nil {
		restore, _ := console.MakeRaw(0)
		defer restore()
		stop := followWindowSize(func(rows, cols uint16) { console.SetSize(master, rows, cols) })
		defer stop()
		go func() { copyAll(os.Stdout, master); close(copied) }()
		if interactive {
			go copyAll(master, os.Stdin)
		}
	} else {
		close(copied)
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			p.Signal(s.(unix.Signal))
		}
	}()
	code, err := p.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kago:", err)
	}
	select {
	case <-copied:
	case <-time.After(time.Second):
	}
	return code
}

func copyAll(dst *os.File, src *os.File) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
