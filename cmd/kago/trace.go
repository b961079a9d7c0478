package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/trace"
	"github.com/kago-run/kago/trace/cli"
)

func newTraceCmd(g *globalOptions) *cobra.Command {
	return cli.Command("trace [--events LIST] [--format human|json] [--since-start] CONTAINER",
		"Show what a container's processes do (eBPF), until Ctrl-C or the container exits",
		"Show what the processes of one running container do — exec, open, connect,\n"+
			"accept, bind, signal, OOM kills — filtered in the kernel to that container.",
		func(cmd *cobra.Command, ref string) (trace.Target, error) {
			e, err := openEngine(g)
			if err != nil {
				return trace.Target{}, err
			}
			rec, err := e.Lookup(ref)
			if err != nil {
				return trace.Target{}, err
			}
			t := trace.Target{Name: rec.Name}
			if rec.State.Status == containers.StatusRunning {
				t.Pid = rec.State.Pid
			}
			if rec.Trace != nil {
				id := rec.ID
				t.Recording = &trace.Recording{File: rec.Trace.File, Events: rec.Trace.Events,
					Active: func() bool { return e.TracerRunning(id) }}
			}
			return t, nil
		})
}

// traceCommand is the hidden verb of a container's own tracer: the engine
// starts it (startTracer) between the container's create and its start.
const traceCommand = "container-trace"

// tracerReadyFD is where the tracer says "ok" once attached, or the error.
const tracerReadyFD = 3

func newContainerTraceCmd(*globalOptions) *cobra.Command {
	var job engine.TraceJob
	cmd := &cobra.Command{
		Use:    traceCommand + " --pid PID --file FILE --lock LOCK NAME",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ready := inherited(tracerReadyFD, "ready")
			// It outlives the helper that started it and its session.
			signal.Ignore(unix.SIGHUP, unix.SIGPIPE, unix.SIGINT, unix.SIGTERM)
			t := trace.Target{Name: args[0], Pid: job.Pid}
			err := trace.Record(context.Background(), t, job.Trace.Events, job.Trace.File, job.Lock, func() {
				fmt.Fprintln(ready, "ok")
				ready.Close()
			})
			if err != nil {
				fmt.Fprintf(ready, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&job.Pid, "pid", 0, "host pid of the container's init")
	fs.StringVar(&job.Trace.File, "file", "", "trace file (appended to)")
	fs.StringVar(&job.Trace.Events, "events", "", "kinds of event")
	fs.StringVar(&job.Lock, "lock", "", "lock file held while tracing")
	return cmd
}

// startTracer is the engine's StartTracer: it runs `kago container-trace`
// and waits until its programs are attached. The tracer is not waited
// for: it ends with the container, re-parented to the container's monitor.
func startTracer(g *globalOptions) func(context.Context, engine.TraceJob) error {
	return func(ctx context.Context, job engine.TraceJob) error {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the kago binary: %w", err)
		}
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		defer r.Close()
		cmd := exec.Command(self, "--root", g.Root, traceCommand, "--pid", strconv.Itoa(job.Pid),
			"--file", job.Trace.File, "--events", job.Trace.Events, "--lock", job.Lock, job.Name)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr // the monitor's log
		cmd.ExtraFiles = []*os.File{w}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		err = cmd.Start()
		w.Close()
		if err != nil {
			return fmt.Errorf("start the tracer: %w", err)
		}
		defer cmd.Process.Release()
		line, _ := bufio.NewReader(r).ReadString('\n')
		line = strings.TrimSpace(line)
		if line == "ok" {
			return nil
		}
		if msg, ok := strings.CutPrefix(line, "error: "); ok {
			return errors.New(msg)
		}
		return errors.New("the tracer exited before attaching")
	}
}
