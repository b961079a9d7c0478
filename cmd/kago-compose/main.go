// Command kago-compose is `kago compose`: multi-container applications from
// compose files. kago runs it (as docker runs its compose CLI plugin), so
// that compose-go and its JSON schema validator are linked here only and
// not into kago, whose every start would pay their package init. Verbs that
// are kago's own (exec, top, build, attaching to a container) run kago.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
)

// globalOptions are kago's global flags, which kago hands on.
type globalOptions struct {
	Root  string
	Debug bool
}

// openEngine opens the engine at the global --root; its helpers (the
// monitor's container-start, resolvers, --init) are kago's.
func openEngine(g *globalOptions) (*engine.Engine, error) {
	bin, err := kagoBinary()
	if err != nil {
		return nil, err
	}
	var log *slog.Logger
	if g.Debug {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e, err := engine.Open(g.Root, log)
	if err != nil {
		return nil, err
	}
	e.Program = bin
	return e, nil
}

// kagoBinary is the kago program beside this one (or on $PATH).
func kagoBinary() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the kago-compose binary: %w", err)
	}
	return engine.FindProgram(self, "kago")
}

// kago is a command line of kago with the global flags first.
func kago(g *globalOptions, args ...string) ([]string, error) {
	bin, err := kagoBinary()
	if err != nil {
		return nil, err
	}
	return append([]string{bin, "--root", g.Root, "--debug=" + strconv.FormatBool(g.Debug)}, args...), nil
}

// runKago runs kago with args, its output going where cmd's goes.
func runKago(cmd *cobra.Command, g *globalOptions, args ...string) error {
	argv, err := kago(g, args...)
	if err != nil {
		return err
	}
	c := exec.CommandContext(cmd.Context(), argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := c.Run(); err != nil {
		return fmt.Errorf("kago %s: %w", args[0], err)
	}
	return nil
}

func main() {
	g := &globalOptions{}
	// The root is kago, as kago runs it (`kago-compose --root R compose
	// ARGS`), so usage and errors read `kago compose ...`.
	root := &cobra.Command{
		Use:           "kago",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Each command of the path parses its own flags, as docker's CLI:
		// `kago compose -f FILE logs -f` (file, then follow).
		TraverseChildren: true,
	}
	root.AddCommand(newComposeCmd(g))
	root.PersistentFlags().StringVar(&g.Root, "root", "/var/lib/kago", "directory for all engine state")
	root.PersistentFlags().BoolVar(&g.Debug, "debug", false, "print debug messages")
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "kago:", err)
		os.Exit(1)
	}
}
