package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
)

// newResolverCmd is the hidden verb the engine starts as a user network's
// resolver process (see network/resolver.go); it writes "ok" or
// "error: REASON" on --ready-fd once it serves.
func newResolverCmd(g *globalOptions) *cobra.Command {
	var readyFD int
	cmd := &cobra.Command{
		Use:    engine.ResolverCommand + " NETWORK",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ready *os.File
			if readyFD > 2 {
				ready = inherited(readyFD, "ready")
			}
			tell := func(err error) {
				if ready == nil {
					return
				}
				if err != nil {
					fmt.Fprintf(ready, "error: %v\n", err)
				} else {
					fmt.Fprintln(ready, "ok")
				}
				ready.Close()
				ready = nil
			}
			e, err := openHelperEngine(g)
			if err != nil {
				tell(err)
				return err
			}
			return e.ServeResolver(cmd.Context(), args[0], tell)
		},
	}
	cmd.Flags().IntVar(&readyFD, "ready-fd", -1, "descriptor to report readiness on")
	return cmd
}
