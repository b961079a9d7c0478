package network

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/kago-run/kago/internal/testbundle"
)

// benchSetup starts the same busybox httpd twice, once in a container
// namespace behind a published port and once on host loopback, and returns
// the two URLs.
func benchSetup(t testing.TB) (published, loopback string) {
	m := testManager(t, "10.201.27.0/24", nil)
	ns, path := testNetns(t)
	body := startHTTPD(t, ns)
	pub := freePort(t)
	if _, err := m.Attach(context.Background(), AttachRequest{ContainerID: "bench", NetnsPath: path, Ports: mustPorts(t, fmt.Sprintf("%d:80", pub))}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Detach(context.Background(), "bench") })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	lo := freePort(t)
	cmd := exec.Command(testbundle.BusyboxPath, "httpd", "-f", "-p", fmt.Sprintf("127.0.0.1:%d", lo), "-h", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	published, loopback = fmt.Sprintf("http://127.0.0.1:%d/", pub), fmt.Sprintf("http://127.0.0.1:%d/", lo)
	waitGet(t, published, body)
	waitGet(t, loopback, body)
	return published, loopback
}

var reqPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// TestWrkPublishedVsLoopback measures HTTP requests/s through a published
// port (nftables DNAT in the output chain, veth, bridge) against the same
// server on host loopback. It is a measurement, not a check: run it with
// KAGO_NET_BENCH=1 (network/bench/net.sh does) and read the log.
func TestWrkPublishedVsLoopback(t *testing.T) {
	if os.Getenv("KAGO_NET_BENCH") == "" {
		t.Skip("set KAGO_NET_BENCH=1 to run the wrk comparison (network/bench/net.sh)")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("needs wrk (apt-get install -y wrk)")
	}
	published, loopback := benchSetup(t)
	dur := os.Getenv("KAGO_NET_BENCH_DURATION")
	if dur == "" {
		dur = "5s"
	}
	rates := map[string]string{}
	for _, c := range []struct{ name, url string }{{"loopback", loopback}, {"published", published}} {
		out, err := exec.Command("wrk", "-t2", "-c16", "-d"+dur, c.url).CombinedOutput()
		if err != nil {
			t.Fatalf("wrk %s: %v\n%s", c.url, err, out)
		}
		mm := reqPerSec.FindSubmatch(out)
		if mm == nil {
			t.Fatalf("no Requests/sec in wrk output:\n%s", out)
		}
		rates[c.name] = string(mm[1])
		t.Logf("%s %s:\n%s", c.name, c.url, out)
	}
	t.Logf("req/s: host loopback %s, published port %s", rates["loopback"], rates["published"])
}

// BenchmarkHTTPPublished and BenchmarkHTTPLoopback are the same comparison
// with Go's client: one GET (on a new connection, as busybox httpd closes
// after every response) per iteration.
func BenchmarkHTTPPublished(b *testing.B) { benchGet(b, true) }
func BenchmarkHTTPLoopback(b *testing.B)  { benchGet(b, false) }

func benchGet(b *testing.B, published bool) {
	testbundle.RequireRoot(b)
	pub, lo := benchSetup(b)
	url := lo
	if published {
		url = pub
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := httpGet(url); err != nil {
			b.Fatal(err)
		}
	}
}
