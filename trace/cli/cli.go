// Package cli is the trace verb of kago and of kago-runc: the flags, the
// help and the streaming are the same; each command only says how it finds
// a container (Lookup).
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/trace"
)

// Options are the trace verb's flags.
type Options struct {
	trace.StreamOptions
	// SinceStart shows the events since the container started, then
	// streams: from its recorded trace (kago run --trace), or live for a
	// container created but not started yet.
	SinceStart bool
}

// Command is the trace verb: use and short as the command spells them,
// lookup finding the container an argument names.
func Command(use, short, long string, lookup func(cmd *cobra.Command, arg string) (trace.Target, error)) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long + "\n\n" + FlagsHelp,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := lookup(cmd, args[0])
			if err != nil {
				return err
			}
			return Follow(cmd.Context(), t, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.Events, "events", "", "comma-separated kinds of event (default all but syscalls)")
	fs.StringVar(&opts.Format, "format", "human", "human or json")
	fs.DurationVar(&opts.Interval, "interval", 5*time.Second, "how often to print the syscalls summary")
	fs.BoolVar(&opts.SinceStart, "since-start", false, "first the events since the container started (recorded with run --trace), then new ones")
	return cmd
}

// FlagsHelp describes the flags for the commands' help.
const FlagsHelp = `--events picks the kinds of event (default: all but syscalls): exec, open,
connect, accept, bind, signal, oom, syscalls. --format json prints one JSON object per line:
{"time","container","pid","hostPid","comm","event", ...} with filename and
argv for exec; path, flags and ret for open; family, addr ("IP:port") and
ret for connect, accept and bind; target and signal for signal;
victimHostPid for oom; error names a negative ret. syscalls (not in the
default) prints a per-syscall count, error count and latency summary every
--interval and when tracing ends ({"event":"syscalls","syscalls":[{"name",
"count","errors","totalNs"}]}).

--since-start starts at the container's start instead of now: the events its
own tracer recorded since it started (a container run or created with
--trace FILE records into FILE from its first instruction; --since-start
reads FILE, so it shows the kinds recorded there), then the new ones as they
come, until the container exits. A container created but not started yet is
traced from its start anyway; any other container needs --trace for it.`

// Follow is the whole of the trace verb once the container is found: it
// streams events to out until Ctrl-C, SIGTERM or the container's exit, and
// says on errOut when the programs are attached (from then on nothing the
// container does is missed).
func Follow(ctx context.Context, t trace.Target, opts Options, out, errOut io.Writer) error {
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, unix.SIGTERM)
	defer cancel()
	if opts.SinceStart && t.Recording != nil {
		fmt.Fprintf(errOut, "tracing container %s since its start (%s)\n", t.Name, t.Recording.File)
		return trace.Replay(ctx, *t.Recording, opts.StreamOptions, out)
	}
	if opts.SinceStart && !t.Created {
		return fmt.Errorf("container %s recorded no trace since its start: run it with --trace FILE, or drop --since-start", t.Name)
	}
	if t.Pid <= 0 {
		return fmt.Errorf("container %s is not running: start it first", t.Name)
	}
	return trace.Stream(ctx, t, opts.StreamOptions, out, func() { fmt.Fprintf(errOut, "tracing container %s\n", t.Name) })
}
