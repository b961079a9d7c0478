package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
)

// newInfoCmd is a minimal `docker info`: for now only what the security
// options are (SecurityOptions); more of docker's fields belong here.
func newInfoCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Display system-wide information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info := struct {
				KagoRootDir     string
				SecurityOptions []string
			}{g.Root, engine.HostSecurityOptions()}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				return json.NewEncoder(out).Encode(info)
			case "":
				fmt.Fprintf(out, "Kago Root Dir: %s\nSecurity Options:\n", info.KagoRootDir)
				for _, o := range info.SecurityOptions {
					fmt.Fprintf(out, " %s\n", o)
				}
				return nil
			}
			return fmt.Errorf("--format %q: use json, or leave it out for text", format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "json prints the information as one JSON object")
	return cmd
}
