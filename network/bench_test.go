package network

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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

var (
	reqPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	requests  = regexp.MustCompile(`([0-9]+) requests in `)
)

// BenchmarkWrk measures HTTP requests/s with wrk through a published port
// (nftables DNAT in the output chain, veth, bridge) and against the same
// server on host loopback. One iteration is KAGO_NET_BENCH_ROUNDS (default
// 3) rounds of one wrk run of KAGO_NET_BENCH_DURATION (default 5s) on each
// path, alternated, so a load that comes and goes on a shared machine falls
// on both; it reports each path's median req/s and the whole machine's busy
// CPU time per request (/proc/stat: wrk, httpd and the kernel's NAT and
// bridge). Run it with -benchtime 1x, as network/bench/net.sh (section 5 of
// `make bench`) does.
func BenchmarkWrk(b *testing.B) {
	testbundle.RequireRoot(b)
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Fatal("BenchmarkWrk needs wrk: apt-get install -y wrk (network/bench/net.sh installs it)")
	}
	published, loopback := benchSetup(b)
	dur := cmp.Or(os.Getenv("KAGO_NET_BENCH_DURATION"), "5s")
	rounds, err := strconv.Atoi(cmp.Or(os.Getenv("KAGO_NET_BENCH_ROUNDS"), "3"))
	if err != nil || rounds < 1 {
		b.Fatalf("KAGO_NET_BENCH_ROUNDS=%q: want a count of rounds, 1 or more", os.Getenv("KAGO_NET_BENCH_ROUNDS"))
	}
	paths := []struct{ name, url string }{{"loopback", loopback}, {"published", published}}
	rates := make([][]float64, len(paths))
	cpus := make([][]float64, len(paths))
	for b.Loop() {
		for range rounds {
			for i, p := range paths {
				rate, cpu := wrkRun(b, p.url, dur)
				rates[i], cpus[i] = append(rates[i], rate), append(cpus[i], cpu)
			}
		}
	}
	for i, p := range paths {
		b.ReportMetric(median(rates[i]), p.name+"-req/s")
		b.ReportMetric(median(cpus[i]), p.name+"-cpu-us/req")
		b.Logf("%s: req/s of each run %.0f", p.name, rates[i])
	}
}

// wrkRun runs wrk on url for dur and returns its requests/s and the
// machine's busy CPU microseconds per request meanwhile.
func wrkRun(b *testing.B, url, dur string) (rate, cpuPerReq float64) {
	before := busyCPU(b)
	out, err := exec.Command("wrk", "-t2", "-c16", "-d"+dur, url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	busy := busyCPU(b) - before
	mm, mn := reqPerSec.FindSubmatch(out), requests.FindSubmatch(out)
	if mm == nil || mn == nil {
		b.Fatalf("no Requests/sec or request count in wrk output:\n%s", out)
	}
	rate, err = strconv.ParseFloat(string(mm[1]), 64)
	n, nerr := strconv.ParseFloat(string(mn[1]), 64)
	if err != nil || nerr != nil || rate <= 0 || n <= 0 {
		b.Fatalf("wrk reported %q requests/s, %q requests for %s", mm[1], mn[1], url)
	}
	return rate, busy.Seconds() * 1e6 / n
}

// busyCPU is the machine's non-idle CPU time so far: user, nice, system,
// irq, softirq and steal of /proc/stat's "cpu" line, in USER_HZ ticks.
func busyCPU(b *testing.B) time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		b.Fatalf("/proc/stat starts %q, not the cpu line", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			b.Fatalf("/proc/stat cpu field %d %q: %v", i, f[i], err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
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
