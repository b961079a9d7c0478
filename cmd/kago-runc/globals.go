package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/kago-run/kago/runtime"
)

// globals are runc's global flags.
type globals struct {
	root          string
	logPath       string
	logFormat     string
	debug         bool
	systemdCgroup bool
	criu          string
	rootless      string
	log           *slog.Logger
	logFile       io.Writer
}

func (g *globals) addFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&g.root, "root", runtime.DefaultRoot, "root directory for storage of container state (this should be located in tmpfs)")
	f.StringVar(&g.logPath, "log", "", "set the log file to write runtime logs to (default is stderr)")
	f.StringVar(&g.logFormat, "log-format", "text", "set the log format ('text' (default), or 'json')")
	f.BoolVar(&g.debug, "debug", false, "enable debug logging")
	f.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "have systemd create new containers' cgroups as transient scope units over D-Bus (linux.cgroupsPath is slice:prefix:name)")
	f.StringVar(&g.criu, "criu", "criu", "path to the criu binary used for checkpoint and restore (unused: no CRIU support)")
	f.StringVar(&g.rootless, "rootless", "auto", "ignore cgroup permission errors ('true', 'false', or 'auto')")
}

// setup validates the global flags and opens the log.
func (g *globals) setup() error {
	if g.logFormat != "text" && g.logFormat != "json" {
		return fmt.Errorf("invalid --log-format %q: use text or json", g.logFormat)
	}
	if g.rootless != "auto" && g.rootless != "true" && g.rootless != "false" {
		return fmt.Errorf("invalid --rootless %q: use true, false or auto", g.rootless)
	}
	var w io.Writer = os.Stderr
	if g.logPath != "" {
		f, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("open log file %s: %w", g.logPath, err)
		}
		w = f
		g.logFile = f
	}
	level := slog.LevelWarn
	if g.debug {
		level = slog.LevelDebug
	}
	// runc's logs are logrus lines: lowercase levels, "msg" and "time";
	// containerd's go-runc parses {"level":"error","msg":...} from the log file.
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.LevelKey:
			a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
		case slog.TimeKey:
			a.Value = slog.StringValue(a.Value.Time().Format(time.RFC3339Nano))
		}
		return a
	}}
	if g.logFormat == "json" {
		g.log = slog.New(slog.NewJSONHandler(w, opts))
	} else {
		g.log = slog.New(slog.NewTextHandler(w, opts))
	}
	return nil
}

// reportError writes the one-line error: to the log (in its format) and to
// stderr, which is what a person at a terminal reads.
func (g *globals) reportError(err error) {
	msg := err.Error()
	if g.logFile != nil && g.log != nil {
		g.log.Error(msg)
	}
	if g.logFormat == "json" && g.logFile == nil {
		line, _ := json.Marshal(map[string]string{"level": "error", "msg": msg, "time": time.Now().Format(time.RFC3339Nano)})
		fmt.Fprintln(os.Stderr, string(line))
		return
	}
	fmt.Fprintln(os.Stderr, "kago-runc:", msg)
}

func versionText() string {
	return fmt.Sprintf("runc version %s-kago\ncommit: kago-runc %s\nspec: %s\ngo: %s\n", version, version, specs.Version, goruntime.Version())
}

// ctx returns the command's context.
func ctx(cmd *cobra.Command) context.Context { return cmd.Context() }

// printJSON writes v as indented JSON, as runc does for state and list.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
