// Command kago-runc is kago's OCI runtime with runc's command line, so that
// anything that drives runc (containerd, Docker, Podman, Kubernetes through
// CRI) can drive kago: same verbs, same flags, same JSON, same exit codes.
//
// It is a pure Go program (built with CGO_ENABLED=0): containers' init and
// exec processes run kago-init, installed beside it, which carries the C
// constructor that joins namespaces (linux/nsenter).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

// exitError carries an exit code that is not a failure of kago-runc itself
// (the container's own exit status for `run` and `exec`).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	g := &globals{}
	root := newRootCmd(g)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return
	}
	if e, ok := err.(exitError); ok {
		os.Exit(e.code)
	}
	g.reportError(err)
	os.Exit(1)
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "kago-runc",
		Short:         "Open Container Initiative runtime (runc-compatible), part of kago",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.setup()
		},
	}
	root.SetVersionTemplate(versionText())
	root.Flags().BoolP("version", "v", false, "print the version")
	g.addFlags(root)
	for _, newCmd := range []func(*globals) *cobra.Command{
		newSpecCmd, newCreateCmd, newStartCmd, newRunCmd, newStateCmd, newKillCmd,
		newDeleteCmd, newListCmd, newExecCmd, newPsCmd, newPauseCmd, newResumeCmd,
		newFeaturesCmd, newUpdateCmd, newEventsCmd, newTraceCmd, newUnsupportedCmd("checkpoint"), newUnsupportedCmd("restore"),
	} {
		root.AddCommand(newCmd(g))
	}
	return root
}

// runtime opens the state root named by --root.
func (g *globals) runtime() (*runtime.Runtime, error) {
	r, err := runtime.New(g.root, g.log)
	if err != nil {
		return nil, err
	}
	r.Rootless = g.rootless
	r.SystemdCgroup = g.systemdCgroup
	return r, nil
}

func newUnsupportedCmd(name string) func(*globals) *cobra.Command {
	return func(*globals) *cobra.Command {
		return &cobra.Command{
			Use:                name,
			Short:              name + " is not supported by kago-runc",
			DisableFlagParsing: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				return fmt.Errorf("%s is not supported by kago-runc (no CRIU support)", name)
			},
		}
	}
}
