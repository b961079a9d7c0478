package shim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf/proto"
	"github.com/containerd/fifo"
	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/runtime"
)

// flags are what containerd passes on a shim's command line (1.6 through
// 2.x): the first argument after them is the action, "start" or "delete";
// none means serve.
type flags struct {
	namespace, id, address, bundle string
	debug                          bool
	action                         string
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("containerd-shim-kago-v2", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.namespace, "namespace", "", "containerd namespace")
	fs.StringVar(&f.id, "id", "", "task id")
	fs.StringVar(&f.address, "address", "", "containerd's grpc address")
	fs.StringVar(&f.bundle, "bundle", "", "bundle path (defaults to the working directory)")
	fs.BoolVar(&f.debug, "debug", false, "debug logging")
	fs.String("publish-binary", "", "containerd binary (events go over ttrpc instead)")
	fs.String("socket", "", "unused")
	version := fs.Bool("v", false, "print the version")
	if err := fs.Parse(args); err != nil {
		return f, fmt.Errorf("%w (this binary is started by containerd for runtime %s)", err, Name)
	}
	if *version {
		f.action = "version"
		return f, nil
	}
	f.action = fs.Arg(0)
	if f.namespace == "" {
		return f, fmt.Errorf("-namespace is required (this binary is started by containerd for runtime %s)", Name)
	}
	if f.id == "" {
		return f, errors.New("-id is required")
	}
	if err := runtime.ValidateID(f.id); err != nil {
		return f, err
	}
	return f, nil
}

// Main runs the shim binary: the `start` and `delete` actions containerd
// runs, or the long-lived daemon `start` launches.
func Main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", Name, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	f, err := parseFlags(args)
	if err != nil {
		return err
	}
	if f.bundle != "" {
		if err := os.Chdir(f.bundle); err != nil {
			return fmt.Errorf("bundle %s: %w", f.bundle, err)
		}
	}
	ctx := namespaces.WithNamespace(context.Background(), f.namespace)
	switch f.action {
	case "version":
		fmt.Printf("%s (kago)\n", Name)
		return nil
	case "start":
		address, err := startShim(ctx, f)
		if err != nil {
			return err
		}
		_, err = os.Stdout.WriteString(address)
		return err
	case "delete":
		resp, err := cleanup(ctx, f)
		if err != nil {
			return err
		}
		data, err := proto.Marshal(resp)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(data)
		return err
	case "":
		return serve(ctx)
	}
	return fmt.Errorf("unknown action %q: containerd runs this shim with start or delete", f.action)
}

// serve is the daemon: it answers the task API on the socket `start`
// passed as fd 3 until containerd shuts it down.
func serve(ctx context.Context) error {
	signal.Ignore(unix.SIGPIPE)
	signal.Notify(make(chan os.Signal, 1), unix.SIGTERM, unix.SIGINT) // containerd stops us with Shutdown
	if err := runtime.PrepareToWait(); err != nil {
		return err
	}
	// containerd reads the shim's log from the "log" FIFO in the bundle.
	if lf, err := fifo.OpenFifo(ctx, "log", unix.O_WRONLY|unix.O_NONBLOCK, 0o700); err == nil {
		if raw, ok := lf.(interface {
			SyscallConn() (syscall.RawConn, error)
		}); ok {
			if rc, err := raw.SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) { unix.Dup2(int(fd), 2) }) //nolint:errcheck // logging is best effort
			}
		}
	}
	ln, err := net.FileListener(os.NewFile(3, "shim-socket"))
	if err != nil {
		return fmt.Errorf("shim socket from fd 3: %w", err)
	}
	publisher := newPublisher(os.Getenv("TTRPC_ADDRESS"))
	defer publisher.Close()
	svc := NewService(ctx, publisher)
	reapCtx, stopReaping := context.WithCancel(ctx)
	defer stopReaping()
	go reapOrphans(reapCtx, svc.Tracks)
	idle := startIdleTrim(reapCtx, svc)
	server, err := ttrpc.NewServer(ttrpc.WithUnaryServerInterceptor(idle.intercept))
	if err != nil {
		return err
	}
	if err := svc.RegisterTTRPC(server); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- server.Serve(ctx, ln) }()
	select {
	case <-svc.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
			return fmt.Errorf("serve task API: %w", err)
		}
	}
	svc.Flush()
	server.Close()
	if address, err := readAddress(); err == nil {
		_ = removeSocket(address)
	}
	return nil
}
