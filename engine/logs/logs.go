// Package logs writes and reads container logs in docker's json-file format:
// one JSON object per line, {"log":"text\n","stream":"stdout","time":"..."}.
// The same format means tools that read docker logs read kago's too.
//
// The file is size-rotated: when it passes MaxSize it is renamed to
// FILE.1 (replacing the previous one) and a new file starts, so a chatty
// container uses at most about 2*MaxSize of disk.
package logs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
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
		return fmt.Errorf("open log %s: %w", w.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log %s: %w", w.path, err)
	}
	w.f, w.size = f, fi.Size()
	return nil
}

// Write records one entry.
func (w *Writer) Write(stream string, line []byte, t time.Time) error {
	data, err := json.Marshal(Entry{Log: string(line), Stream: stream, Time: t.UTC()})
	if err != nil {
		return err
	}
	data = append(data, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.size+int64(len(data)) > w.maxSize && w.size > 0 {
		w.f.Close()
		if err := os.Rename(w.path, w.path+".1"); err != nil {
			return fmt.Errorf("rotate log %s: %w", w.path, err)
		}
		if err := w.open(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(data)
	w.size += int64(n)
	return err
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// Copy reads r to its end and writes each line (a trailing partial line
// too) as an entry of stream. tee, if not nil, also receives the raw bytes.
func (w *Writer) Copy(stream string, r io.Reader, tee io.Writer) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if tee != nil {
				tee.Write(line)
			}
			if werr := w.Write(stream, line, time.Now()); werr != nil {
				return werr
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// ReadOptions select what Read prints.
type ReadOptions struct {
	Tail       int  // last N entries; <0 all
	Timestamps bool // prefix each line with its RFC 3339 time
	Follow     bool // keep printing new entries until Done is closed
	// Done ends Follow (the container stopped); after it closes, what is
	// already in the file is still printed.
	Done <-chan struct{}
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
		entries = append(entries, Parse(data)...)
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
					print(e, stdout, stderr, o.Timestamps)
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
		if finishing {
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
