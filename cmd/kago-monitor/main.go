// Command kago-monitor watches one container of the kago engine for its
// whole life (see package engine/monitor). kago starts it; it is not meant
// to be run by hand.
//
// It is its own small program, not a verb of kago, because one runs per
// container: a process of the whole engine would cost several MiB each.
// For the same reason it does without fmt and flag (and the reflection
// they bring): every page of it that runs stays resident in every monitor.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine/monitor"
)

func main() {
	// No allocation profile: its sample buckets would be memory in every
	// monitor that nobody reads.
	runtime.MemProfileRate = 0
	o, protocol, err := parseArgs(os.Args[1:])
	if err == nil {
		err = check(protocol, o)
	}
	if err != nil {
		if o.Ready != nil {
			o.Ready.WriteString(monitor.ResultError + ": " + err.Error() + "\n")
		}
		os.Stderr.WriteString(monitor.Binary + ": " + err.Error() + "\n")
		os.Exit(2)
	}
	// The monitor outlives the terminal and the kago that started it.
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE, unix.SIGINT, unix.SIGTERM)
	if _, err := monitor.Run(context.Background(), o); err != nil {
		os.Stderr.WriteString(monitor.Binary + " " + o.ID + ": " + err.Error() + "\n")
		os.Exit(1)
	}
}

// parseArgs reads the flags kago passes: --name value or --name=value.
func parseArgs(args []string) (o monitor.Options, protocol string, err error) {
	for len(args) > 0 {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(args[0], "--"), "=")
		args = args[1:]
		if !hasValue {
			switch name {
			case "tty", "stdin":
				value = "true"
			default:
				if len(args) == 0 {
					return o, "", errors.New("flag --" + name + " needs a value")
				}
				value, args = args[0], args[1:]
			}
		}
		switch name {
		case "protocol":
			protocol = value
		case "kago":
			o.Kago = value
		case "root":
			o.Root = value
		case "id":
			o.ID = value
		case "dir":
			o.Dir = value
		case "log":
			o.LogPath = value
		case "log-max-size":
			o.LogMaxSize, err = strconv.ParseInt(value, 10, 64)
		case "tty":
			o.Tty, err = strconv.ParseBool(value)
		case "stdin":
			o.OpenStdin, err = strconv.ParseBool(value)
		case "health-delay":
			var ns int64
			ns, err = strconv.ParseInt(value, 10, 64)
			o.HealthDelay = time.Duration(ns)
		case "ready-fd":
			o.Ready, err = inherit(value, "ready", false)
		case "attach-fd":
			var f *os.File
			if f, err = inherit(value, "attach", true); f != nil {
				o.First = f
			}
		default:
			return o, "", errors.New("unknown flag --" + name)
		}
		if err != nil {
			return o, "", errors.New("flag --" + name + "=" + value + ": " + err.Error())
		}
	}
	return o, protocol, nil
}

// inherit takes a descriptor from kago. It is for the monitor alone, not
// for the helpers and the container: a ready pipe held open elsewhere would
// hang kago. A socket is made non-blocking so Go's poller serves it.
func inherit(value, name string, nonblock bool) (*os.File, error) {
	fd, err := strconv.Atoi(value)
	if err != nil || fd < 3 {
		return nil, errors.New("not a descriptor number above 2")
	}
	unix.CloseOnExec(fd)
	if nonblock {
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, err
		}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func check(protocol string, o monitor.Options) error {
	if protocol != monitor.Protocol {
		return errors.New(monitor.Binary + " speaks protocol " + monitor.Protocol + ", kago asked for " + strconv.Quote(protocol) + ": install kago and " + monitor.Binary + " from the same build")
	}
	if o.Kago == "" || o.Root == "" || o.ID == "" || o.Dir == "" || o.LogPath == "" {
		return errors.New("it needs --kago, --root, --id, --dir and --log: kago starts it, it is not run by hand")
	}
	return nil
}
