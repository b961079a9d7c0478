package trace

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// StreamOptions are the choices `kago trace` and `kago-runc trace` share.
type StreamOptions struct {
	Events string // --events: comma-separated kinds; "" is all
	Format string // --format: "json" or "human" ("" is human)
	// Ready is told once the programs are attached: from then on nothing
	// the container does is missed.
	Ready func()
}

// AddFlags adds --events and --format to a trace command.
func (o *StreamOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Events, "events", "", "comma-separated kinds of event (default all)")
	fs.StringVar(&o.Format, "format", "human", "human or json")
}

// FlagsHelp describes --events and --format for the commands' help.
const FlagsHelp = `--events picks the kinds of event (default: all): exec, open, connect,
accept, bind, signal, oom. --format json prints one JSON object per line:
{"time","container","pid","hostPid","comm","event", ...} with filename and
argv for exec; path, flags and ret for open; family, addr ("IP:port") and
ret for connect, accept and bind; target and signal for signal;
victimHostPid for oom; error names a negative ret.`

// Stream traces t and writes each event to w until ctx ends or the
// container exits, then releases every program and map.
func Stream(ctx context.Context, t Target, opts StreamOptions, w io.Writer) error {
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
	if opts.Format != "json" {
		if _, err := fmt.Fprintln(w, HumanHeader); err != nil {
			return err
		}
	}
	if opts.Ready != nil {
		opts.Ready()
	}
	if err := tr.Run(ctx, func(e Event) error { return write(w, e) }); err != nil {
		return err
	}
	return tr.Close()
}
