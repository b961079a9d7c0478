package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/initproc"
	_ "github.com/kago-run/kago/linux/nsenter" // the C constructor that enters namespaces for exec
	"github.com/kago-run/kago/runtime/containerinit"
)

// init turns this process into a container init when the runtime re-executed
// kago as one. It must run before anything else in the program does work;
// package init of main runs after every imported package's init, which do
// no work that matters here, and before main.
//
// Under the name kago-init (--init) the binary is a container's PID 1.
func init() {
	containerinit.MaybeRun()
	if filepath.Base(os.Args[0]) == initproc.Name {
		os.Exit(initproc.Run(os.Args[1:]))
	}
}

// openEngine opens the engine at the global --root.
func openEngine(g *globalOptions) (*engine.Engine, error) {
	var log *slog.Logger
	if g.Debug {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return engine.Open(g.Root, log)
}

// withEngine adapts a verb body that needs the engine.
func withEngine(g *globalOptions, run func(cmd *cobra.Command, args []string, e *engine.Engine) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		e, err := openEngine(g)
		if err != nil {
			return err
		}
		return run(cmd, args, e)
	}
}

// newMonitorCmd is the hidden verb the engine starts per container: it
// runs the container, logs its output and applies its restart policy.
func newMonitorCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:    engine.MonitorCommand + " ID",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			return e.RunMonitor(context.Background(), args[0])
		}),
	}
}
