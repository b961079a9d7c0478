package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newPool(t *testing.T, subnet string) *Pool {
	t.Helper()
	p, err := New(filepath.Join(t.TempDir(), "net.json"), netip.MustParsePrefix(subnet), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A /29 has 6 host addresses; one is the gateway, so exactly 5 containers fit,
// none of them on the network, broadcast or gateway address; the 6th is ErrFull.
func TestAllocateSkipsReservedAndFills(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, "10.201.7.0/29")
	seen := map[netip.Addr]bool{}
	for i := 0; i < 5; i++ {
		a, err := p.Allocate(ctx, fmt.Sprintf("c%d", i), netip.Addr{})
		if err != nil {
			t.Fatalf("allocate %d: %v", i, err)
		}
		if a == netip.MustParseAddr("10.201.7.0") || a == netip.MustParseAddr("10.201.7.7") || a == p.Gateway() || seen[a] {
			t.Fatalf("allocate %d gave reserved or duplicate %v", i, a)
		}
		seen[a] = true
	}
	if _, err := p.Allocate(ctx, "c5", netip.Addr{}); !errors.Is(err, ErrFull) {
		t.Fatalf("6th allocation: want ErrFull, got %v", err)
	}
	// Releasing one makes exactly that address available again.
	if err := p.Release(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	a, err := p.Allocate(ctx, "c6", netip.Addr{})
	if err != nil || !seen[a] {
		t.Fatalf("after release got %v, %v", a, err)
	}
}

func TestAllocateIdempotentAndNextFit(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, "10.201.8.0/24")
	a1, _ := p.Allocate(ctx, "a", netip.Addr{})
	again, err := p.Allocate(ctx, "a", netip.Addr{})
	if err != nil || again != a1 {
		t.Fatalf("second allocate for same owner: %v %v, want %v", again, err, a1)
	}
	if err := p.Release(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	b, _ := p.Allocate(ctx, "b", netip.Addr{})
	if b == a1 {
		t.Fatalf("just-released %v handed out again immediately", a1)
	}
	if err := p.Release(ctx, "nobody"); err != nil {
		t.Fatalf("release of unknown owner: %v", err)
	}
}

func TestStaticIP(t *testing.T) {
	ctx := context.Background()
	p := newPool(t, "10.201.9.0/24")
	want := netip.MustParseAddr("10.201.9.42")
	got, err := p.Allocate(ctx, "s", want)
	if err != nil || got != want {
		t.Fatalf("static: %v %v", got, err)
	}
	if _, err := p.Allocate(ctx, "t", want); !errors.Is(err, ErrInUse) {
		t.Fatalf("taken static: want ErrInUse, got %v", err)
	}
	for _, bad := range []string{"10.201.9.0", "10.201.9.255", "10.201.9.1", "10.201.10.5"} {
		if _, err := p.Allocate(ctx, "u", netip.MustParseAddr(bad)); !errors.Is(err, ErrNotUsable) {
			t.Errorf("static %s: want ErrNotUsable, got %v", bad, err)
		}
	}
	m, _ := p.Allocations(ctx)
	if len(m) != 1 || m[want] != "s" {
		t.Fatalf("allocations after failures: %v", m)
	}
}

func TestNewRejectsBadSubnets(t *testing.T) {
	for _, s := range []string{"10.201.0.0/31", "fd00::/64"} {
		if _, err := New(filepath.Join(t.TempDir(), "x.json"), netip.MustParsePrefix(s), netip.Addr{}); err == nil {
			t.Errorf("New(%s) accepted", s)
		}
	}
	if _, err := New(filepath.Join(t.TempDir(), "x.json"), netip.MustParsePrefix("10.201.0.0/24"), netip.MustParseAddr("10.201.0.255")); err == nil {
		t.Error("broadcast gateway accepted")
	}
}

// helperEnv makes the test binary act as a second allocating process.
const helperEnv = "KAGO_IPAM_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		// spec = path|subnet|prefix|count
		f := strings.Split(spec, "|")
		p, err := New(f[0], netip.MustParsePrefix(f[1]), netip.Addr{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var n int
		fmt.Sscan(f[3], &n)
		for i := 0; i < n; i++ {
			if _, err := p.Allocate(context.Background(), fmt.Sprintf("%s-%d", f[2], i), netip.Addr{}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// 20 goroutines and a second process allocate at once; every owner must end
// up with its own address.
func TestConcurrentAllocationAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "net.json")
	subnet := "10.201.12.0/24"
	const perGoroutine, goroutines, procAllocs = 5, 20, 40

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|proc|%d", helperEnv, path, subnet, procAllocs))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			p, err := New(path, netip.MustParsePrefix(subnet), netip.Addr{})
			if err != nil {
				errs <- err
				return
			}
			for i := 0; i < perGoroutine; i++ {
				if _, err := p.Allocate(ctx, fmt.Sprintf("g%d-%d", g, i), netip.Addr{}); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	p, _ := New(path, netip.MustParsePrefix(subnet), netip.Addr{})
	m, err := p.Allocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := perGoroutine*goroutines + procAllocs; len(m) != want {
		t.Fatalf("got %d distinct addresses, want %d (duplicates or lost writes)", len(m), want)
	}
	owners := map[string]bool{}
	for _, o := range m {
		owners[o] = true
	}
	if len(owners) != len(m) {
		t.Fatalf("an owner holds two addresses")
	}
}

func TestNextSubnet(t *testing.T) {
	pool := netip.MustParsePrefix("10.201.64.0/18")
	used := []netip.Prefix{netip.MustParsePrefix("10.201.64.0/24"), netip.MustParsePrefix("10.201.65.128/25")}
	got, err := NextSubnet(pool, 24, used)
	if err != nil || got != netip.MustParsePrefix("10.201.66.0/24") {
		t.Fatalf("NextSubnet = %v, %v", got, err)
	}
	if _, err := NextSubnet(netip.MustParsePrefix("10.201.64.0/24"), 24, used); err == nil {
		t.Fatal("exhausted pool gave a subnet")
	}
	if _, err := NextSubnet(pool, 8, nil); err == nil {
		t.Fatal("subnet larger than pool accepted")
	}
}

func TestBroadcast(t *testing.T) {
	if b := Broadcast(netip.MustParsePrefix("10.201.0.0/16")); b != netip.MustParseAddr("10.201.255.255") {
		t.Fatal(b)
	}
}

// A corrupted or hostile state file must give an error or a sane allocation,
// never a panic or a reserved/duplicate address.
func FuzzStateFile(f *testing.F) {
	f.Add([]byte(`{"subnet":"10.201.13.0/29","gateway":"10.201.13.1","last":"10.201.13.6","owners":{"10.201.13.2":"a"}}`))
	f.Add([]byte(`{"owners":{"bogus":"a","10.201.13.3":""}}`))
	f.Add([]byte(`{"last":"255.255.255.255"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "s.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := New(path, netip.MustParsePrefix("10.201.13.0/29"), netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := p.Allocate(context.Background(), "new-owner", netip.Addr{})
		if err != nil {
			return
		}
		if !usable(p.Subnet(), a) || a == p.Gateway() {
			t.Fatalf("allocated reserved %v from %q", a, data)
		}
	})
}
