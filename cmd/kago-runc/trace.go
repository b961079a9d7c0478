package main

import (
	"github.com/spf13/cobra"

	"github.com/kago-run/kago/runtime"
	"github.com/kago-run/kago/trace"
	"github.com/kago-run/kago/trace/cli"
)

func newTraceCmd(g *globals) *cobra.Command {
	return cli.Command("trace [--events LIST] [--format human|json] CONTAINER_ID",
		"show what a container's processes do (eBPF), until Ctrl-C or the container exits",
		"Show what the processes of one container do — exec, open, connect, accept, bind,\n"+
			"signal, OOM kills — filtered in the kernel to that container. A created container\n"+
			"is traced from its first instruction.",
		func(cmd *cobra.Command, id string) (trace.Target, error) {
			c, err := g.load(id)
			if err != nil {
				return trace.Target{}, err
			}
			t := trace.Target{Name: c.ID(), Created: c.Status() == runtime.StatusCreated}
			if c.Status() != runtime.StatusStopped {
				t.Pid = c.Pid()
			}
			return t, nil
		})
}
