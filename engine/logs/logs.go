// Package logs writes and reads container logs in docker's json-file format:
// one JSON object per line, {"log":"text\n","stream":"stdout","time":"..."}.
// The same format means tools that read docker logs read kago's too.
//
// The file is size-rotated: when it passes MaxSize it is renamed to
// FILE.1 (replacing the previous one) and a new file starts, so a chatty
// container uses at most about 2*MaxSize of disk.
package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Entry is one line of the log.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// DefaultMaxSize is the rotation size when none is given.
const DefaultMaxSize = 10 << 20

// maxLine bounds one entry; longer output is split, as docker does at 16 KiB.
const maxLine = 16 << 10

// Writer appends entries to a json-file log. It is safe for concurrent use
// by the stdout and stderr copiers.
type Writer struct {
	mu      sync.Mutex
	path    string
	maxSize int64
	f       *os.File
	size    int64
	buf     []byte
}

// NewWriter opens (appending) the log at path.
func NewWriter(path string, maxSize int64) (*Writer, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	w := &Writer{path: path, maxSize: maxSize}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return &os.PathError{Op: "open log", Path: w.path, Err: err}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return &os.PathError{Op: "stat log", Path: w.path, Err: err}
	}
	w.f, w.size = f, fi.Size()
	return nil
}

// Write records one entry.
func (w *Writer) Write(stream string, line []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// One buffer for every entry: the monitor writes every line of output
	// through here, and garbage would make it collect (and grow).
	w.buf = appendEntry(w.buf[:0], stream, line, t)
	data := w.buf
	if w.size+int64(len(data)) > w.maxSize && w.size > 0 {
		w.f.Close()
		if err := os.Rename(w.path, w.path+".1"); err != nil {
			return &os.PathError{Op: "rotate log", Path: w.path, Err: err}
		}
		if err := w.open(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(data)
	w.size += int64(n)
	return err
}

// appendEntry appends the JSON line of an entry: the bytes encoding/json
// makes of Entry, written by hand because the monitor writes every line of
// output through here and must stay small and quick (no reflection).
func appendEntry(b []byte, stream string, line []byte, t time.Time) []byte {
	b = append(b, `{"log":`...)
	b = appendString(b, line)
	b = append(b, `,"stream":`...)
	b = appendString(b, []byte(stream))
	b = append(b, `,"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

// appendString quotes s as encoding/json does: invalid UTF-8 becomes
// U+FFFD, and <, >, & and the line separators U+2028 and U+2029 are
// escaped so the log is safe to embed in HTML, as docker's is.
func appendString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// Copy reads r to its end and writes each line as an entry of stream: a
// line longer than 16 KiB is split, as docker splits it, and a partial last
// line is written at the end. tee, if not nil, receives every chunk as soon
// as it is read, so an attached terminal sees a prompt that has no newline
// yet. An EIO (a pty whose last slave closed) ends the copy like EOF.
func (w *Writer) Copy(stream string, r io.Reader, tee io.Writer) error {
	// conmon's size: a container's output rarely comes in bigger pieces,
	// and the buffer stays resident in every monitor.
	buf := make([]byte, 8<<10)
	var pending []byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if tee != nil {
				tee.Write(chunk)
			}
			for len(chunk) > 0 {
				i := bytes.IndexByte(chunk, '\n')
				if i < 0 {
					pending = append(pending, chunk...)
					break
				}
				pending = append(pending, chunk[:i+1]...)
				chunk = chunk[i+1:]
				if werr := w.writeSplit(stream, pending); werr != nil {
					return werr
				}
				pending = pending[:0]
			}
			if len(pending) >= maxLine {
				full := len(pending) - len(pending)%maxLine
				if werr := w.writeSplit(stream, pending[:full]); werr != nil {
					return werr
				}
				pending = append(pending[:0], pending[full:]...)
			}
		}
		if err != nil {
			if len(pending) > 0 {
				if werr := w.writeSplit(stream, pending); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.EIO) {
				return nil
			}
			return err
		}
	}
}

// writeSplit writes p as entries of at most maxLine bytes.
func (w *Writer) writeSplit(stream string, p []byte) error {
	now := time.Now()
	for len(p) > 0 {
		n := min(len(p), maxLine)
		if err := w.Write(stream, p[:n], now); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// ReadOptions select what Read prints.
type ReadOptions struct {
	Tail       int  // last N entries; <0 all
	Timestamps bool // prefix each line with its RFC 3339 time
	Follow     bool // keep printing new entries until Done is closed
	// Since and Until, if set, keep only the entries written in that time
	// (before Tail counts them); a follow ends once Until has passed.
	Since, Until time.Time
	// Done ends Follow (the container stopped); after it closes, what is
	// already in the file is still printed.
	Done <-chan struct{}
}

func (o ReadOptions) within(t time.Time) bool {
	return (o.Since.IsZero() || !t.Before(o.Since)) && (o.Until.IsZero() || !t.After(o.Until))
}

// ParseTime reads a --since or --until value as docker does: a duration
// back from now ("10m", "1h30m"), an RFC 3339 time (the zone may be left
// out, meaning UTC; the time of day too), or Unix seconds ("1700000000.5").
func ParseTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if sec, frac, ok := strings.Cut(s, "."); sec != "" && !strings.HasPrefix(sec, "-") {
		if n, err := strconv.ParseInt(sec, 10, 64); err == nil {
			var ns int64
			if ok {
				if len(frac) == 0 || len(frac) > 9 {
					return time.Time{}, fmt.Errorf("invalid time %q: Unix seconds take 1 to 9 decimals", s)
				}
				f, err := strconv.ParseUint(frac, 10, 64)
				if err != nil {
					return time.Time{}, fmt.Errorf("invalid time %q: use a duration (10m), an RFC 3339 time or Unix seconds", s)
				}
				ns = int64(f) * int64(math.Pow10(9-len(frac)))
			}
			return time.Unix(n, ns), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q: use a duration (10m), an RFC 3339 time (2006-01-02T15:04:05Z) or Unix seconds", s)
}

// Read prints the log at path (with its rotated part first) to stdout and
// stderr by stream.
func Read(ctx context.Context, path string, stdout, stderr io.Writer, o ReadOptions) error {
	var entries []Entry
	for _, p := range []string{path + ".1", path} {
		data, err := os.ReadFile(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return fmt.Errorf("read log: %w", err)
		}
		for _, e := range Parse(data) {
			if o.within(e.Time) {
				entries = append(entries, e)
			}
		}
	}
	if o.Tail >= 0 && len(entries) > o.Tail {
		entries = entries[len(entries)-o.Tail:]
	}
	for _, e := range entries {
		print(e, stdout, stderr, o.Timestamps)
	}
	if !o.Follow {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("follow log: %w", err)
	}
	defer func() { f.Close() }()
	fi, _ := f.Stat()
	off := fi.Size()
	var pending []byte
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	finishing := false
	for {
		buf := make([]byte, 64<<10)
		n, _ := f.ReadAt(buf, off)
		if n > 0 {
			off += int64(n)
			pending = append(pending, buf[:n]...)
			if i := bytes.LastIndexByte(pending, '\n'); i >= 0 {
				for _, e := range Parse(pending[:i+1]) {
					if o.within(e.Time) {
						print(e, stdout, stderr, o.Timestamps)
					}
				}
				pending = append([]byte(nil), pending[i+1:]...)
			}
			continue
		}
		// Rotation: the file we hold was renamed; reopen the new one.
		if st, err := os.Stat(path); err == nil && !os.SameFile(st, fi) {
			f.Close()
			if f, err = os.Open(path); err != nil {
				return nil
			}
			fi, _ = f.Stat()
			off = 0
			continue
		}
		if finishing || !o.Until.IsZero() && time.Now().After(o.Until) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.Done:
			finishing = true // one more read for what came last
		case <-tick.C:
		}
	}
}

func print(e Entry, stdout, stderr io.Writer, ts bool) {
	w := stdout
	if e.Stream == "stderr" {
		w = stderr
	}
	if ts {
		fmt.Fprintf(w, "%s %s", e.Time.Format(time.RFC3339Nano), e.Log)
		return
	}
	io.WriteString(w, e.Log)
}

// Parse decodes the entries of a log; lines that are not valid entries (a
// torn last line after a crash) are skipped.
func Parse(data []byte) []Entry {
	var out []Entry
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		var e Entry
		if len(line) == 0 || json.Unmarshal(line, &e) != nil {
			continue
		}
		out = append(out, e)
	}
	return out
}
