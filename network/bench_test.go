package network

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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

// BenchmarkWrk measures HTTP requests/s with wrk through a published port
// (nftables DNAT in the output chain, veth, bridge) and against the same
// server on host loopback, reported as the req/s metric of the sub-benchmarks
// published and loopback. One wrk run of KAGO_NET_BENCH_DURATION (default
// 5s) is one iteration: run it with -benchtime 1x, as network/bench/net.sh
// (section 5 of `make bench`) does.
func BenchmarkWrk(b *testing.B) {
	testbundle.RequireRoot(b)
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Fatal("BenchmarkWrk needs wrk: apt-get install -y wrk (network/bench/net.sh installs it)")
	}
	published, loopback := benchSetup(b)
	dur := os.Getenv("KAGO_NET_BENCH_DURATION")
	if dur == "" {
		dur = "5s"
	}
	for _, c := range []struct{ name, url string }{{"loopback", loopback}, {"published", published}} {
		b.Run(c.name, func(b *testing.B) {
			var sum float64
			for i := 0; i < b.N; i++ {
				out, err := exec.Command("wrk", "-t2", "-c16", "-d"+dur, c.url).CombinedOutput()
				if err != nil {
					b.Fatalf("wrk %s: %v\n%s", c.url, err, out)
				}
				mm := reqPerSec.FindSubmatch(out)
				if mm == nil {
					b.Fatalf("no Requests/sec in wrk output:\n%s", out)
				}
				rate, err := strconv.ParseFloat(string(mm[1]), 64)
				if err != nil || rate <= 0 {
					b.Fatalf("wrk reported %q requests/s for %s", mm[1], c.url)
				}
				sum += rate
			}
			b.ReportMetric(sum/float64(b.N), "req/s")
		})
	}
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
