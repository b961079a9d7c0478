package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine"
)

// composePlugin is the program that does `kago compose`, as docker
// compose is a CLI plugin of docker: compose-go and its JSON schema
// validator (20 ms of package init) stay out of every start of kago, which
// `kago run` pays three times (the client, container-start, container-exited).
const composePlugin = "kago-compose"

// newComposeCmd is `kago compose ARGS...`: it replaces itself with
// kago-compose found beside kago (or on $PATH), handing on the global flags
// and every argument, --help included.
func newComposeCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:                "compose",
		Short:              "Run multi-container applications from compose files (the kago-compose program)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the kago binary: %w", err)
			}
			plugin, err := engine.FindProgram(self, composePlugin)
			if err != nil {
				return fmt.Errorf("kago compose: %w", err)
			}
			argv := []string{plugin, "--root", g.Root, "--debug=" + strconv.FormatBool(g.Debug), "compose"}
			if err := unix.Exec(plugin, append(argv, args...), os.Environ()); err != nil {
				return fmt.Errorf("run %s: %w", plugin, err)
			}
			return nil
		},
	}
}

// newStartAttachedCmd is the hidden `kago container-start-attached`, which
// kago-compose runs for a foreground `compose run`: it starts a created
// container with this process attached, as `kago run` without -d does, and
// exits with the container's code.
func newStartAttachedCmd(g *globalOptions) *cobra.Command {
	var interactive, tty bool
	cmd := &cobra.Command{
		Use:    "container-start-attached [--interactive] [--tty] CONTAINER",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			code, err := runForeground(cmd.Context(), e, args[0], interactive, tty)
			if err != nil {
				return err
			}
			os.Exit(code)
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "keep stdin open")
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "the container has a terminal")
	return cmd
}
