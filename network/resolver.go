package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/lockfile"
	"github.com/kago-run/kago/network/dns"
	"github.com/kago-run/kago/network/etcfiles"
	"github.com/kago-run/kago/network/internal/statefile"
)

// A user network's resolver (package network/dns) is one small process per
// network, as podman's aardvark-dns, listening on the network's gateway
// address, port 53, in the host's network namespace: there it can forward
// to every resolver the host has, loopback ones (systemd-resolved's
// 127.0.0.53) included, and the containers reach it by the route they
// already have. kago has no daemon, so the process lives as long as the
// network has containers: the engine starts it after attaching a
// container (EnsureResolver's caller runs ServeResolver in a new process),
// and it exits by itself once no container is attached.
//
// It holds an flock on dns/NAME.pid (with its pid written in) for its
// whole life. Exiting and attaching cannot miss each other: the resolver
// decides to exit under the network lock, and closes its sockets and
// drops its flock before that lock is released; the engine checks the flock
// after Attach recorded the container, and starts a new resolver if it is
// free.

// resolverPort is where resolvers listen: resolv.conf cannot name a port.
const resolverPort = 53

// ResolverPIDPath is the file a network's resolver locks and writes its
// pid into.
func (m *Manager) ResolverPIDPath(name string) string {
	return filepath.Join(m.dir, "dns", name+".pid")
}

// ResolverRunning tells whether a resolver serves the network.
func (m *Manager) ResolverRunning(name string) bool {
	return lockfile.Held(m.ResolverPIDPath(name))
}

// ServeResolver is the body of a network's resolver process: it serves the
// network's names until no container is attached to it. ready is called
// once it serves (or with the reason it cannot); when another resolver
// already serves the network it is called with nil and ServeResolver
// returns at once.
func (m *Manager) ServeResolver(ctx context.Context, name string, ready func(error)) error {
	err := m.serveResolver(ctx, name, ready)
	if ready != nil && err != nil {
		ready(err)
	}
	return err
}

func (m *Manager) serveResolver(ctx context.Context, name string, ready func(error)) error {
	var n NetworkInfo
	if err := m.locked(ctx, false, func(s *state) (err error) {
		n, err = m.lookup(s, name)
		return err
	}); err != nil {
		return err
	}
	if n.Default {
		return fmt.Errorf("network %s is the default bridge: it has no resolver (as docker's)", name)
	}
	pidPath := m.ResolverPIDPath(name)
	if err := os.MkdirAll(filepath.Dir(pidPath), 0o700); err != nil {
		return fmt.Errorf("resolver of %s: %w", name, err)
	}
	lock, err := os.OpenFile(pidPath, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("resolver of %s: %w", name, err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			ready(nil) // another one serves it
			return nil
		}
		return fmt.Errorf("resolver of %s: lock %s: %w", name, pidPath, err)
	}
	lock.Truncate(0)
	lock.WriteString(strconv.Itoa(os.Getpid()) + "\n")

	addr := net.JoinHostPort(n.Gateway.String(), strconv.Itoa(resolverPort))
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return fmt.Errorf("resolver of %s: %w", name, err)
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("resolver of %s: %w", name, err)
	}
	recs := &recordFile{path: m.endpointsPath(), network: name}
	recs.reload()
	srv := &dns.Server{Records: recs.table, Subnet: n.Subnet, Upstreams: m.upstreams()}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, pc, l) }()
	ready(nil)

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-served:
			return err
		case <-ctx.Done():
			stop()
			<-served
			return nil
		case <-tick.C:
		}
		if recs.reload() > 0 {
			continue
		}
		if _, err := os.Stat(m.dir); err != nil {
			return nil // the engine's state is gone, and its networks with it
		}
		// Decide under the network lock, so an Attach either comes first
		// (and the resolver stays) or finds the flock free.
		last := false
		err := m.locked(ctx, false, func(s *state) error {
			if len(peersOn(s, name, "")) > 0 {
				return nil
			}
			last = true
			stop()
			<-served
			lock.Close()
			return nil
		})
		if err != nil || last {
			return err
		}
	}
}

// upstreams are the host's resolvers, where other names go; loopback ones
// work too, as the resolver runs in the host's network namespace.
func (m *Manager) upstreams() []string {
	data, _ := os.ReadFile(m.cfg.ResolvConf)
	return upstreamAddrs(etcfiles.Nameservers(data))
}

// upstreamAddrs are resolver addresses as host:53.
func upstreamAddrs(addrs []netip.Addr) []string {
	var out []string
	for _, a := range addrs {
		if a.Zone() == "" {
			out = append(out, net.JoinHostPort(a.String(), "53"))
		}
	}
	return out
}

// recordFile keeps a network's records read from endpoints.json, read
// again when the file changes (it is replaced by rename, so a read without
// the lock still sees one whole version). A container on several networks
// resolves the names of all of them through this one (as through docker's
// per-container resolver): its address here tells which.
type recordFile struct {
	mu      sync.Mutex
	path    string
	network string
	stamp   [2]int64 // inode and modification time of the version read
	t       *dns.Table
	n       int
	// entries are every network's records; netsOf the networks of each
	// container on this network, by its address here.
	entries map[string][]dns.Entry
	netsOf  map[netip.Addr][]string
}

// reload reads the file if it changed and returns the number of containers
// on the network.
func (r *recordFile) reload() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var st unix.Stat_t
	if err := unix.Stat(r.path, &st); err != nil {
		if r.t == nil || errors.Is(err, unix.ENOENT) {
			r.t, r.n, r.stamp, r.entries, r.netsOf = dns.NewTable(nil), 0, [2]int64{}, nil, nil
		}
		return r.n
	}
	stamp := [2]int64{int64(st.Ino), st.Mtim.Nano()}
	if r.t != nil && stamp == r.stamp {
		return r.n
	}
	eps := map[string]Endpoint{}
	if _, err := statefile.Read(r.path, &eps); err != nil {
		return max(r.n, 1) // unreadable: keep serving what we had
	}
	entries := map[string][]dns.Entry{}
	nets := map[string][]string{}
	here := map[string]netip.Addr{}
	for _, ep := range eps {
		entries[ep.Network] = append(entries[ep.Network], dns.Entry{IP: ep.IP, Names: append(append([]string{}, ep.Aliases...), ep.Hostname),
			Upstreams: upstreamAddrs(ep.DNSServers)})
		nets[ep.ContainerID] = append(nets[ep.ContainerID], ep.Network)
		if ep.Network == r.network {
			here[ep.ContainerID] = ep.IP
		}
	}
	r.netsOf = map[netip.Addr][]string{}
	for id, ip := range here {
		if len(nets[id]) > 1 {
			r.netsOf[ip] = nets[id]
		}
	}
	r.entries = entries
	r.t, r.n, r.stamp = dns.NewTable(entries[r.network]), len(entries[r.network]), stamp
	return r.n
}

// table is what client may resolve: this network's names, and those of
// the other networks of its container.
func (r *recordFile) table(client netip.Addr) *dns.Table {
	r.reload()
	r.mu.Lock()
	defer r.mu.Unlock()
	nets := r.netsOf[client]
	if len(nets) == 0 {
		return r.t
	}
	var all []dns.Entry
	for _, n := range nets {
		if n != DefaultNetwork {
			all = append(all, r.entries[n]...)
		}
	}
	return dns.NewTable(all)
}
