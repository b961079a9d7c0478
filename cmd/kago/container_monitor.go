package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/initproc"
	"github.com/kago-run/kago/engine/monitor"
	"github.com/kago-run/kago/linux/console"
	_ "github.com/kago-run/kago/linux/nsenter" // the C constructor that enters namespaces for exec
	"github.com/kago-run/kago/runtime"
	"github.com/kago-run/kago/runtime/containerinit"
	"golang.org/x/sys/unix"
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

// The hidden verbs kago-monitor runs as helpers (see package engine/monitor):
// they do, in a short-lived process, what needs the whole engine, and
// answer on the result pipe.

func newStartRunCmd(g *globalOptions) *cobra.Command {
	var restart bool
	cmd := &cobra.Command{
		Use:    monitor.StartCommand + " ID",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			result := helperResult()
			e, err := openHelperEngine(g)
			if err != nil {
				return answer(result, "", err)
			}
			rec, err := e.Get(args[0])
			if err != nil {
				return answer(result, "", err)
			}
			var rio runtime.IO
			if rec.Tty {
				sock := inherited(monitor.StdioFD, "console")
				rio.OnConsole = func(master *os.File) error { return console.SendFd(sock, master.Name(), master) }
			} else {
				rio.Stdin = inherited(monitor.StdioFD, "stdin")
				rio.Stdout = inherited(monitor.StdioFD+1, "stdout")
				rio.Stderr = inherited(monitor.StdioFD+2, "stderr")
			}
			pid, err := e.StartRun(cmd.Context(), args[0], rio, restart)
			if errors.Is(err, engine.ErrRestartCancelled) {
				return answer(result, monitor.ResultCancelled, nil)
			}
			return answer(result, fmt.Sprintf("%s %d", monitor.ResultOK, pid), err)
		},
	}
	cmd.Flags().BoolVar(&restart, "restart", false, "a restart by the policy (a stop meanwhile cancels it)")
	return cmd
}

func newExitedCmd(g *globalOptions) *cobra.Command {
	return helperVerb(g, monitor.ExitedCommand+" ID EXIT_CODE", 2, func(cmd *cobra.Command, args []string, e *engine.Engine) (string, error) {
		code, err := strconv.Atoi(args[1])
		if err != nil {
			return "", fmt.Errorf("exit code %q is not a number", args[1])
		}
		again, err := e.FinishRun(cmd.Context(), args[0], code)
		if again {
			return monitor.ResultRestart, err
		}
		return monitor.ResultDone, err
	})
}

func newHealthCmd(g *globalOptions) *cobra.Command {
	return helperVerb(g, monitor.HealthCommand+" ID", 1, func(cmd *cobra.Command, args []string, e *engine.Engine) (string, error) {
		next, ok, err := e.Probe(cmd.Context(), args[0])
		if ok {
			return fmt.Sprintf("%s %d", monitor.ResultNext, next.Nanoseconds()), err
		}
		return monitor.ResultDone, err
	})
}

// helperVerb is a hidden helper verb taking n arguments: body's word, or
// its error, is the answer on the result pipe.
func helperVerb(g *globalOptions, use string, n int, body func(*cobra.Command, []string, *engine.Engine) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use:    use,
		Hidden: true,
		Args:   cobra.ExactArgs(n),
		RunE: func(cmd *cobra.Command, args []string) error {
			result := helperResult()
			e, err := openHelperEngine(g)
			if err != nil {
				return answer(result, "", err)
			}
			word, err := body(cmd, args, e)
			return answer(result, word, err)
		},
	}
}

// openHelperEngine opens the engine for a helper, whose warnings go to
// its stderr: the container's monitor.log.
func openHelperEngine(g *globalOptions) (*engine.Engine, error) {
	level := slog.LevelWarn
	if g.Debug {
		level = slog.LevelDebug
	}
	e, err := engine.Open(g.Root, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	if err != nil {
		return nil, err
	}
	e.StartTracer = startTracer(g)
	return e, nil
}

// inherited takes a descriptor the monitor passed, and keeps it from the
// processes this one starts (the container gets its stdio explicitly).
func inherited(fd int, name string) *os.File {
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name)
}

// helperResult is the monitor's result pipe.
func helperResult() *os.File { return inherited(monitor.ResultFD, "result") }

// answer writes the helper's result: word, or the error.
func answer(result *os.File, word string, err error) error {
	defer result.Close()
	if err != nil {
		fmt.Fprintf(result, "%s: %s\n", monitor.ResultError, strings.ReplaceAll(err.Error(), "\n", " "))
		return err
	}
	_, werr := fmt.Fprintln(result, word)
	return werr
}
