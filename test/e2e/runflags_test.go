package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// s3rfUpstream is the address of the test's --dns server: a loopback
// address of this test's own, port 53. The host's resolver configuration
// (s3rfHostResol) names another loopback address where nothing listens.
const (
	s3rfUpstream  = "127.133.0.53"
	s3rfHostResol = "search host.s3rf.test\noptions ndots:3\nnameserver 127.133.0.99\n"
)

// useRunflagsNet points the env's networks at 10.133.0.0/16 and the host
// resolver configuration at a file of the test's own with hostResolv.
func (e *env) useRunflagsNet(hostResolv string) {
	e.t.Helper()
	resolv := filepath.Join(e.t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte(hostResolv), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.subnet = fmt.Sprintf("10.133.%d.0/24", e.n%128)
	cfg := fmt.Sprintf(`{"Network":{"BridgeName":%q,"Subnet":%q,"TableName":%q,"UserSubnetPool":"10.133.128.0/17","UserBridgePrefix":"ku%d-","ResolvConf":%q}}`,
		e.bridge, e.subnet, e.table, e.n, resolv)
	if err := os.WriteFile(filepath.Join(e.root, "config.json"), []byte(cfg), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// serveTestDNS serves name (fully qualified) as ip on addr:53 and NXDOMAIN
// for every other name, until the test ends; the test is skipped when the
// address cannot be bound.
func serveTestDNS(t *testing.T, addr, name, ip string) {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		if len(r.Question) == 1 && strings.EqualFold(r.Question[0].Name, name) {
			m.SetReply(r)
			if r.Question[0].Qtype == dns.TypeA {
				rr, _ := dns.NewRR(name + " 30 IN A " + ip)
				m.Answer = append(m.Answer, rr)
			}
		} else {
			m.SetRcode(r, dns.RcodeNameError)
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", addr+":53")
	if err != nil {
		t.Skipf("test DNS server: %v", err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: h}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown(); pc.Close() })
}

// TestRunEtcFlags: --label/--label-file, --add-host (host-gateway too) and
// --dns/--dns-search/--dns-option, seen from inside the container: its
// /etc/hosts and /etc/resolv.conf, and a name only the --dns server knows
// resolved through the network's resolver.
func TestRunEtcFlags(t *testing.T) {
	e := newEnv(t)
	e.useRunflagsNet(s3rfHostResol)
	serveTestDNS(t, s3rfUpstream, "ext.s3rf.test.", "10.133.200.9")

	labels := filepath.Join(t.TempDir(), "labels")
	os.WriteFile(labels, []byte("# comment\nfrom.file=yes\ntier=file\n"), 0o644)
	e.ok("create", "--name", "lab", "--label-file", labels, "-l", "tier=flag", "--label", "empty", "bb")
	got := e.inspect("lab")["Config"].(map[string]any)["Labels"].(map[string]any)
	if got["from.file"] != "yes" || got["tier"] != "flag" || got["empty"] != "" || len(got) != 3 {
		t.Errorf("labels: %v", got)
	}
	e.ok("rm", "lab")

	e.ok("network", "create", "s3rfnet")
	e.ok("run", "-d", "--name", "dnsc", "--network", "s3rfnet", "--add-host", "db.s3rf:10.133.9.9", "--add-host", "host.s3rf:host-gateway",
		"--dns", s3rfUpstream, "--dns-search", "s3rf.test", "--dns-option", "ndots:2", "bb", "sleep", "300")
	gw := e.inspect("dnsc")["NetworkSettings"].(map[string]any)["Gateway"].(string)
	hosts := e.ok("exec", "dnsc", "cat", "/etc/hosts")
	for _, want := range []string{"10.133.9.9\tdb.s3rf\n", gw + "\thost.s3rf\n", e.ipOf("dnsc") + "\t"} {
		if !strings.Contains(hosts+"\n", want) {
			t.Errorf("/etc/hosts lacks %q:\n%s", want, hosts)
		}
	}
	rc := e.ok("exec", "dnsc", "cat", "/etc/resolv.conf")
	for _, want := range []string{"search s3rf.test\nnameserver " + gw + "\noptions ndots:2\n", "ExtServers: [" + s3rfUpstream + "]"} {
		if !strings.Contains(rc+"\n", want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, rc)
		}
	}
	if strings.Contains(rc, "host.s3rf.test") || strings.Contains(rc, "ndots:3") {
		t.Errorf("resolv.conf kept the host's search or options:\n%s", rc)
	}
	// The network's resolver forwards this container's other names to its
	// --dns server, and a peer's without --dns to the host's (dead) one.
	if out, ok, _ := e.lookup("dnsc", "ext.s3rf.test"); !ok || !strings.Contains(out, "10.133.200.9") {
		t.Fatalf("nslookup ext.s3rf.test through --dns %s:\n%s", s3rfUpstream, out)
	}
	e.ok("run", "-d", "--name", "plain", "--network", "s3rfnet", "bb", "sleep", "300")
	if out, ok, _ := e.lookup("plain", "ext.s3rf.test"); ok || strings.Contains(out, "10.133.200.9") {
		t.Fatalf("a container without --dns resolved ext.s3rf.test:\n%s", out)
	}
	// A peer added later keeps the --add-host lines of the container.
	if hosts := e.ok("exec", "dnsc", "cat", "/etc/hosts"); !strings.Contains(hosts, "db.s3rf") || !strings.Contains(hosts, "plain") {
		t.Errorf("/etc/hosts after a peer joined:\n%s", hosts)
	}
	hc := e.inspect("dnsc")["HostConfig"].(map[string]any)
	if fmt.Sprint(hc["ExtraHosts"]) != "[db.s3rf:10.133.9.9 host.s3rf:host-gateway]" || fmt.Sprint(hc["Dns"]) != "["+s3rfUpstream+"]" ||
		fmt.Sprint(hc["DnsSearch"]) != "[s3rf.test]" || fmt.Sprint(hc["DnsOptions"]) != "[ndots:2]" {
		t.Errorf("inspect HostConfig: %v", hc)
	}
	// The default bridge: the servers as given, and "." is no search.
	out := e.ok("run", "--rm", "--dns", "10.133.250.1", "--dns-search", ".", "--add-host", "x.s3rf:10.133.9.8", "bb", "sh", "-c", "cat /etc/resolv.conf /etc/hosts")
	if !strings.Contains(out, "nameserver 10.133.250.1\noptions ndots:3") || strings.Contains(out, "search") || strings.Contains(out, "127.133.0.99") ||
		!strings.Contains(out, "10.133.9.8\tx.s3rf") {
		t.Errorf("default bridge with --dns 10.133.250.1 --dns-search . --add-host:\n%s", out)
	}
	// --network host: the host's /etc/hosts with the line added.
	out = e.ok("run", "--rm", "--network", "host", "--add-host", "y.s3rf:10.133.9.7", "bb", "cat", "/etc/hosts")
	hostHosts, _ := os.ReadFile("/etc/hosts")
	if !strings.HasPrefix(out, strings.TrimSpace(string(hostHosts))) || !strings.HasSuffix(out, "10.133.9.7\ty.s3rf") {
		t.Errorf("--network host --add-host: /etc/hosts\n%s", out)
	}
	e.ok("rm", "-f", "dnsc", "plain")
	e.eventually("the resolver to exit", 5*time.Second, func() bool { return len(e.resolverPids()) == 0 })
	e.ok("network", "rm", "s3rfnet")
}

// TestRunLimitFlags: --ulimit, --device, --shm-size and --sysctl as the
// container sees them, and the values docker refuses refused before
// anything is made.
func TestRunLimitFlags(t *testing.T) {
	e := newEnv(t)
	node := filepath.Join(t.TempDir(), "s3rfdev")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 229))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ulimit", "nofile=1000:2000", "bb", "sh", "-c", "ulimit -Sn; ulimit -Hn"}, "1000\n2000\n"},
		{[]string{"--ulimit", "nproc=77", "bb", "sh", "-c", "ulimit -Su; ulimit -Hu"}, "77\n77\n"},
		{[]string{"--device", "/dev/null:/dev/s3rfnull", "bb", "sh", "-c", "stat -c '%F %t:%T' /dev/s3rfnull; echo x > /dev/s3rfnull && echo written"},
			"character special file 1:3\nwritten\n"},
		// 10:229 (fuse) is not among the default rules: the device's own
		// rule decides, and :r lets no one open it for writing.
		{[]string{"--device", node + ":/dev/s3rfdev:r", "bb", "sh", "-c", "(exec 3>/dev/s3rfdev) 2>&1 | grep -c 'not permitted'; true"}, "1\n"},
		{[]string{"--device", node + ":/dev/s3rfdev:rw", "bb", "sh", "-c", "(exec 3>/dev/s3rfdev) 2>&1 | grep -c 'not permitted'; true"}, "0\n"},
		{[]string{"--shm-size", "16m", "bb", "sh", "-c", "df -k /dev/shm | awk 'NR==2 {print $2}'"}, "16384\n"},
		{[]string{"bb", "sh", "-c", "df -k /dev/shm | awk 'NR==2 {print $2}'"}, "65536\n"},
		{[]string{"--sysctl", "net.core.somaxconn=1234", "--sysctl", "kernel.shmmax=123456789", "bb", "sh", "-c",
			"cat /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmax"}, "1234\n123456789\n"},
	} {
		args := append([]string{"run", "--rm"}, tc.args...)
		out, errs, code := e.run(args...)
		if code != 0 || out != tc.want {
			t.Errorf("kago %s: exit %d, stdout %q (want %q), stderr %q", strings.Join(args, " "), code, out, tc.want, errs)
		}
	}
	// The host keeps its own values.
	if b, _ := os.ReadFile("/proc/sys/net/core/somaxconn"); strings.TrimSpace(string(b)) == "1234" {
		t.Errorf("--sysctl changed the host's net.core.somaxconn")
	}

	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	above := strconv.FormatUint(lim.Max+1000, 10)
	refused := []struct {
		args []string
		want string
	}{
		{[]string{"--ulimit", "bogus=1"}, "invalid ulimit type"},
		{[]string{"--ulimit", "nofile=20:10"}, "soft limit 20 is above hard limit 10"},
		{[]string{"--ulimit", "nofile=x"}, "invalid --ulimit"},
		{[]string{"--device", "/dev/s3rf-no-such"}, "/dev/s3rf-no-such"},
		{[]string{"--device", "/etc/passwd"}, "not a character or block device"},
		{[]string{"--device", "/dev/null:rwx"}, "invalid device"},
		{[]string{"--shm-size", "lots"}, "invalid --shm-size"},
		{[]string{"--sysctl", "vm.swappiness=1"}, `sysctl "vm.swappiness" is not allowed`},
		{[]string{"--sysctl", "kernel.hostname=x"}, "is not allowed"},
		{[]string{"--network", "host", "--sysctl", "net.core.somaxconn=1"}, "not allowed with --network host"},
		{[]string{"--sysctl", "noequals"}, "invalid --sysctl"},
		{[]string{"--add-host", "noip"}, "invalid --add-host"},
		{[]string{"--add-host", "h:notanip"}, "is not an IP address"},
		{[]string{"--dns", "8.8.8"}, "invalid --dns"},
		{[]string{"--dns-option", ""}, "invalid --dns-option"},
		{[]string{"--stop-signal", "SIGNOPE"}, "stop signal"},
		{[]string{"--stop-timeout", "-5"}, "--stop-timeout"},
	}
	if !capSysResource() {
		refused = append(refused, struct {
			args []string
			want string
		}{[]string{"--ulimit", "nofile=" + above}, "above this host's hard limit"})
	}
	for _, tc := range refused {
		args := append(append([]string{"run", "-d"}, tc.args...), "bb")
		if errs := e.fails(args...); !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("kago %s: stderr %q, want one line with %q", strings.Join(args, " "), errs, tc.want)
		}
	}
	if ids := e.ids(); len(ids) > 0 {
		t.Errorf("refused runs left containers: %v", ids)
	}
}

func capSysResource() bool {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			m, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return m&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

// TestRunStopFlags: --stop-signal is what the process gets from stop, and
// --stop-timeout is how long stop and restart wait before SIGKILL.
func TestRunStopFlags(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "usr1", "--stop-signal", "SIGUSR1", "bb", "sh", "-c",
		"trap 'echo got USR1; exit 0' USR1; trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done")
	e.eventually("the trap to be set", 10*time.Second, func() bool { return strings.Contains(e.ok("logs", "usr1"), "ready") })
	e.ok("stop", "usr1")
	if logs := e.ok("logs", "usr1"); !strings.Contains(logs, "got USR1") || strings.Contains(logs, "TERM") {
		t.Errorf("stop with --stop-signal SIGUSR1: logs %q", logs)
	}
	if st := state(e.inspect("usr1")); st["ExitCode"].(float64) != 0 {
		t.Errorf("exit code %v, want 0 (the trap's)", st["ExitCode"])
	}
	if sig := e.inspect("usr1")["Config"].(map[string]any)["StopSignal"]; sig != "SIGUSR1" {
		t.Errorf("Config.StopSignal %v", sig)
	}

	// sleep as PID 1 ignores SIGTERM: stop waits for the timeout.
	e.ok("run", "-d", "--name", "slow", "--stop-timeout", "1", "bb", "sleep", "300")
	if to := e.inspect("slow")["Config"].(map[string]any)["StopTimeout"]; to != float64(1) {
		t.Errorf("Config.StopTimeout %v", to)
	}
	for _, verb := range []string{"restart", "stop"} {
		start := time.Now()
		e.ok(verb, "slow")
		if took := time.Since(start); took < time.Second || took > 6*time.Second {
			t.Errorf("%s with --stop-timeout 1 took %s", verb, took)
		}
	}
	if st := state(e.inspect("slow")); st["ExitCode"].(float64) != 137 {
		t.Errorf("exit code %v, want 137 (SIGKILL after the timeout)", st["ExitCode"])
	}
	// -t still wins over the container's timeout.
	e.ok("start", "slow")
	start := time.Now()
	e.ok("stop", "-t", "0", "slow")
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("stop -t 0 took %s", took)
	}
}
