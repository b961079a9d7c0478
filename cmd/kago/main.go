// Command kago is the engine: it pulls images, keeps containers and their
// networks, and runs them through kago's OCI runtime package.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// globalOptions are the flags every kago verb shares.
type globalOptions struct {
	// Root holds every piece of engine state (images, containers, networks), so two
	// engines with different roots never see each other.
	Root  string
	Debug bool
}

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "kago",
		Short:         "kago runs containers built from Linux system calls",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Each command of the path parses its own flags, as docker's CLI:
		// `kago compose -f FILE logs -f` (file, then follow).
		TraverseChildren: true,
	}
	root.PersistentFlags().StringVar(&g.Root, "root", "/var/lib/kago", "directory for all engine state")
	root.PersistentFlags().BoolVar(&g.Debug, "debug", false, "print debug messages")
	// Each verb lives in its own file as newXxxCmd(g); add new verbs to this list.
	for _, newCmd := range []func(*globalOptions) *cobra.Command{
		newRunCmd, newCreateCmd, newStartCmd, newRestartCmd, newStopCmd, newKillCmd, newRmCmd, // container verbs
		newRenameCmd, newPauseCmd, newUnpauseCmd, newUpdateCmd,
		newPsCmd, newInspectCmd, newPortCmd, newLogsCmd, newExecCmd, newWaitCmd, newTopCmd, newStatsCmd, newAttachCmd, newCpCmd, newStartRunCmd, newExitedCmd, newHealthCmd,
		newExportCmd, newDiffCmd, newCommitCmd, // container filesystem verbs
		newPullCmd, newImagesCmd, newRmiCmd, newTagCmd, newImageCmd, // image verbs
		newSaveCmd, newLoadCmd, newImportCmd, newPushCmd, newLoginCmd, newLogoutCmd,
		newNetworkCmd, newResolverCmd, // network verbs
		newVolumeCmd, // volume verbs
		newExplainCmd,
		newBuildCmd, newBuilderCmd,
		newInfoCmd, newVersionCmd, newSystemCmd, newContainerCmd, // system verbs
		newTraceCmd, newContainerTraceCmd,
		newComposeCmd, newStartAttachedCmd, // compose verbs (the kago-compose program)
	} {
		root.AddCommand(newCmd(g))
	}
	return root
}

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "kago:", err)
		os.Exit(1)
	}
}
