package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/runtime"
)

func newRunCmd(g *globals) *cobra.Command {
	f := &createFlags{}
	var detach, keep bool
	cmd := &cobra.Command{
		Use:   "run [flags] CONTAINER_ID",
		Short: "create and start a container, and wait for it unless --detach",
		Args:  oneID("run"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, opts, err := f.prepare(g)
			if err != nil {
				return err
			}
			fg := &foreground{}
			if !detach {
				if err := runtime.PrepareToWait(); err != nil {
					return err
				}
				if opts.IO.ConsoleSocket == "" {
					opts.IO.OnConsole = fg.onConsole
				}
			}
			c, err := rt.Create(ctx(cmd), args[0], opts)
			if err != nil {
				return err
			}
			if err := c.Start(ctx(cmd)); err != nil {
				c.Delete(context.Background(), true)
				return err
			}
			if detach {
				return nil
			}
			fg.start()
			code, err := fg.wait(c.InitProcess())
			if !keep {
				if derr := c.Delete(context.Background(), true); derr != nil && err == nil {
					err = derr
				}
			}
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "detach from the container's process")
	cmd.Flags().BoolVar(&keep, "keep", false, "do not delete the container after it exits")
	return cmd
}
