package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/kago-run/kago/linux/console"
	"io"
	"sync"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/logs"
)

// composeColours are docker compose's rotation of prefix colours (ANSI).
var composeColours = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

// prefixWriter writes whole lines to out, each prefixed with the
// container's name padded to the longest one (and coloured on a terminal),
// as docker compose prints logs; writers of several containers share mu so
// their lines never interleave.
type prefixWriter struct {
	mu     *sync.Mutex
	out    io.Writer
	prefix string
	buf    []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.mu.Lock()
		_, err := fmt.Fprintf(w.out, "%s%s\n", w.prefix, w.buf[:i])
		w.mu.Unlock()
		w.buf = w.buf[i+1:]
		if err != nil {
			return len(p), err
		}
	}
}

// flush prints a last line without a newline.
func (w *prefixWriter) flush() {
	if len(w.buf) > 0 {
		w.Write([]byte("\n"))
	}
}

// logPrefixes are the padded (and on a terminal coloured) prefixes of the
// containers, docker compose's "name  | ".
func logPrefixes(recs []*containers.Record, colour bool) []string {
	width := 0
	for _, r := range recs {
		width = max(width, len(r.Name))
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		p := fmt.Sprintf("%-*s | ", width, r.Name)
		if colour {
			p = "\x1b[" + composeColours[i%len(composeColours)] + "m" + p + "\x1b[0m"
		}
		out[i] = p
	}
	return out
}

// followLogs prints the containers' logs (the last tail lines of each, all
// when tail < 0), and with follow keeps printing until each container
// stops or ctx ends.
func followLogs(ctx context.Context, e *engine.Engine, recs []*containers.Record, out io.Writer, tail int, follow bool) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	prefixes := logPrefixes(recs, console.IsTerminal(out))
	for i, r := range recs {
		w := &prefixWriter{mu: &mu, out: out, prefix: prefixes[i]}
		o := logs.ReadOptions{Tail: tail, Follow: follow}
		if follow {
			done := make(chan struct{})
			o.Done = done
			go func() {
				e.WaitStopped(ctx, r.ID)
				close(done)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := logs.Read(ctx, e.LogPath(r.ID), w, w, o); err != nil && ctx.Err() == nil {
				mu.Lock()
				fmt.Fprintf(out, "%s%v\n", prefixes[i], err)
				mu.Unlock()
			}
			w.flush()
		}()
	}
	wg.Wait()
}
