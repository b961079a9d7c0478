package trace

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spf13/pflag"
)

// StreamOptions are the choices `kago trace` and `kago-runc trace` share.
type StreamOptions struct {
	Events string // --events: comma-separated kinds; "" is all
	Format string // --format: "json" or "human" ("" is human)
	// Interval is how often the syscalls summary is printed (--interval).
	Interval time.Duration
}

// Follow is the whole of `kago trace` and `kago-runc trace` once the
// container is found: it streams events to out until Ctrl-C, SIGTERM or the
// container's exit, and says on errOut when the programs are attached (from
// then on nothing the container does is missed).
func Follow(ctx context.Context, t Target, opts StreamOptions, out, errOut io.Writer) error {
	if t.Pid <= 0 {
		return fmt.Errorf("container %s is not running: start it first", t.Name)
	}
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, unix.SIGTERM)
	defer cancel()
	return Stream(ctx, t, opts, out, func() { fmt.Fprintf(errOut, "tracing container %s\n", t.Name) })
}

// AddFlags adds --events and --format to a trace command.
func (o *StreamOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Events, "events", "", "comma-separated kinds of event (default all)")
	fs.StringVar(&o.Format, "format", "human", "human or json")
	fs.DurationVar(&o.Interval, "interval", 5*time.Second, "how often to print the syscalls summary")
}

// FlagsHelp describes --events and --format for the commands' help.
const FlagsHelp = `--events picks the kinds of event (default: all but syscalls): exec, open,
connect, accept, bind, signal, oom, syscalls. --format json prints one JSON object per line:
{"time","container","pid","hostPid","comm","event", ...} with filename and
argv for exec; path, flags and ret for open; family, addr ("IP:port") and
ret for connect, accept and bind; target and signal for signal;
victimHostPid for oom; error names a negative ret. syscalls (not in the
default) prints a per-syscall count, error count and latency summary every
--interval and when tracing ends ({"event":"syscalls","syscalls":[{"name",
"count","errors","totalNs"}]}).`

// Stream traces t and writes each event to w until ctx ends or the
// container exits, then releases every program and map.
// ready, if not nil, is called once the programs are attached.
func Stream(ctx context.Context, t Target, opts StreamOptions, w io.Writer, ready func()) error {
	write := WriteHuman
	switch opts.Format {
	case "json":
		write = WriteJSON
	case "", "human", "table":
	default:
		return fmt.Errorf("unknown --format %q: use human or json", opts.Format)
	}
	var kinds []Kind
	if opts.Events != "" {
		var err error
		if kinds, err = ParseKinds(opts.Events); err != nil {
			return err
		}
	}
	tr, err := Open(t, kinds)
	if err != nil {
		return err
	}
	defer tr.Close()
	if opts.Interval > 0 {
		tr.Interval = opts.Interval
	}
	if opts.Format != "json" {
		if _, err := fmt.Fprintln(w, HumanHeader); err != nil {
			return err
		}
	}
	if ready != nil {
		ready()
	}
	if err := tr.Run(ctx, func(e Event) error { return write(w, e) }); err != nil {
		return err
	}
	return tr.Close()
}
