package trace

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// StreamOptions are the choices `kago trace` and `kago-runc trace` share.
type StreamOptions struct {
	Events string // --events: comma-separated kinds; "" is the default kinds
	Format string // --format: "json" or "human" ("" is human)
	// Interval is how often the syscalls summary is printed (--interval).
	Interval time.Duration
}

// parse checks the options: the function that prints an event in their
// format, and the kinds asked for.
func (o StreamOptions) parse() (func(io.Writer, Event) error, []Kind, error) {
	kinds, err := o.kinds()
	if err != nil {
		return nil, nil, err
	}
	switch o.Format {
	case "json":
		return WriteJSON, kinds, nil
	case "", "human", "table":
		return WriteHuman, kinds, nil
	}
	return nil, nil, fmt.Errorf("unknown --format %q: use human or json", o.Format)
}

func (o StreamOptions) kinds() ([]Kind, error) {
	if o.Events == "" {
		return DefaultKinds, nil
	}
	return ParseKinds(o.Events)
}

// Stream traces t and writes each event to w until ctx ends or the
// container exits, then releases every program and map.
// ready, if not nil, is called once the programs are attached.
func Stream(ctx context.Context, t Target, opts StreamOptions, w io.Writer, ready func()) error {
	write, kinds, err := opts.parse()
	if err != nil {
		return err
	}
	tr, err := Open(t, kinds)
	if err != nil {
		return err
	}
	defer tr.Close()
	if opts.Interval > 0 {
		tr.Interval = opts.Interval
	}
	// One write per batch of events, not one per event: the tracer's
	// own system calls cost CPU the traced container may need.
	bw := bufio.NewWriterSize(w, 64<<10)
	tr.Idle = bw.Flush
	if opts.Format != "json" {
		if _, err := fmt.Fprintln(bw, HumanHeader); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if ready != nil {
		ready()
	}
	if err := tr.Run(ctx, func(e Event) error { return write(bw, e) }); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return tr.Close()
}

// Record is the body of a container's own tracer (kago run --trace): it
// traces t into file as JSON lines (appending: each run of the container
// adds its events) until the container's init exits. It holds an exclusive
// flock on lock from before ready is called until the last event is
// written (one tracer per container at a time: a run's tracer has ended
// before the next run starts, see engine.FinishRun).
func Record(ctx context.Context, t Target, events, file, lock string, ready func()) error {
	l, err := os.OpenFile(lock, os.O_CREATE|os.O_RDONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("open the trace lock: %w", err)
	}
	defer l.Close()
	if err := unix.Flock(int(l.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("lock %s (does a tracer of the previous run still write?): %w", lock, err)
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("open the trace file: %w", err)
	}
	defer f.Close()
	attached := func() {
		// It lives as long as the container: what loading took (the
		// kernel's BTF, decoded for CO-RE, is most of it) goes back
		// before the container starts.
		debug.FreeOSMemory()
		if ready != nil {
			ready()
		}
	}
	if err := Stream(ctx, t, StreamOptions{Events: events, Format: "json"}, f, attached); err != nil {
		return err
	}
	return f.Close()
}

// Replay writes the events recorded in rec.File (kago run --trace) in
// opts' format, of the kinds opts asks for, following the file while its
// tracer runs: the events since the container started, then the new ones,
// until ctx ends or the tracer stops. Asking for kinds the tracer does not
// record is an error: they were not kept.
func Replay(ctx context.Context, rec Recording, opts StreamOptions, w io.Writer) error {
	write, kinds, err := opts.parse()
	if err != nil {
		return err
	}
	have, err := StreamOptions{Events: rec.Events}.kinds()
	if err != nil {
		return err
	}
	for _, k := range kinds {
		if !slices.Contains(have, k) {
			return fmt.Errorf("--since-start shows what the container's tracer records (%s), not %s: drop --since-start to trace %s from now on", joinKinds(have), k, k)
		}
	}
	f, err := os.Open(rec.File)
	if err != nil {
		return fmt.Errorf("read the container's trace: %w", err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(w, 64<<10)
	if opts.Format != "json" {
		fmt.Fprintln(bw, HumanHeader)
	}
	r := bufio.NewReaderSize(f, 64<<10)
	var partial []byte
	for {
		// Whether the tracer still runs is asked before reading to the
		// end: what it wrote before stopping is read after.
		active := rec.Active != nil && rec.Active()
		for {
			line, err := r.ReadBytes('\n')
			if errors.Is(err, io.EOF) {
				partial = append(partial, line...) // a line being written
				break
			}
			if err != nil {
				return fmt.Errorf("read the container's trace: %w", err)
			}
			if len(partial) > 0 {
				line, partial = append(partial, line...), nil
			}
			var e Event
			if err := json.Unmarshal(line, &e); err != nil {
				return fmt.Errorf("read the container's trace %s: a line is not an event: %w", rec.File, err)
			}
			if !slices.Contains(kinds, e.Kind) {
				continue
			}
			if err := write(bw, e); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if !active {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
