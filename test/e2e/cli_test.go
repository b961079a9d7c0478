package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cgroupValue reads one file of a running container's cgroup: the v1
// controller's file on a hybrid host, the cgroup2 one otherwise.
func (e *env) cgroupValue(id, v1Controller, v1File, v2File string) string {
	e.t.Helper()
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup", v1Controller, "kago", id, v1File),
		filepath.Join("/sys/fs/cgroup/kago", id, v2File),
	} {
		if data, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	e.t.Fatalf("no %s or %s in the cgroup of %s", v1File, v2File, id)
	return ""
}

// TestInspectAndPsTemplates: docker's field names and functions reach a
// running container's inspect and ps, and a bad template is one line.
func TestInspectAndPsTemplates(t *testing.T) {
	e := newEnv(t)
	id := e.ok("run", "-d", "--name", "tpl", "bb", "sleep", "300")
	out := e.ok("inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.Name}} {{upper .Config.Image}}", "tpl")
	if out != "running true /tpl BB" {
		t.Errorf("inspect -f = %q", out)
	}
	ip, err := netip.ParseAddr(e.ok("inspect", "--format", "{{.NetworkSettings.IPAddress}}", "tpl"))
	if err != nil || !netip.MustParsePrefix(e.subnet).Contains(ip) {
		t.Errorf("inspect .NetworkSettings.IPAddress = %v (%v), want an address in %s", ip, err, e.subnet)
	}
	var cfg struct {
		Image string
		Cmd   []string
	}
	if err := json.Unmarshal([]byte(e.ok("inspect", "-f", "{{json .Config}}", "tpl")), &cfg); err != nil || cfg.Image != "bb" || strings.Join(cfg.Cmd, " ") != "sleep 300" {
		t.Errorf("inspect {{json .Config}}: %+v %v", cfg, err)
	}
	if out := e.ok("inspect", "-f", `{{range .Config.Env}}{{if eq (index (split . "=") 0) "PATH"}}{{.}}{{end}}{{end}} {{.Config.WorkingDir}} {{.Config.User}}`, "tpl"); !strings.HasPrefix(out, "PATH=/") || !strings.HasSuffix(out, " / 0:0") {
		t.Errorf("inspect of Config.Env, WorkingDir and User = %q", out)
	}
	if out := e.ok("inspect", "-f", `{{join .Config.Cmd "+"}}`, "--type", "container", id[:8]); out != "sleep+300" {
		t.Errorf("inspect with join = %q", out)
	}
	table := e.ok("ps", "--format", `table {{.ID}}\t{{.Names}}\t{{.State}}\t{{.Command}}`)
	if !regexp.MustCompile(`^CONTAINER ID +NAMES +STATE +COMMAND\n` + id[:12] + ` +tpl +running +"sleep 300"$`).MatchString(table) {
		t.Errorf("ps --format table:\n%s", table)
	}
	if out := e.ok("ps", "--no-trunc", "--format", "{{.ID}}|{{.Image}}|{{.Networks}}|{{.RunningFor}}"); !regexp.MustCompile(`^` + id + `\|bb\|bridge\|\d+ seconds ago$`).MatchString(out) {
		t.Errorf("ps --format template = %q", out)
	}
	for _, bad := range [][]string{
		{"inspect", "-f", "{{.State.Status", "tpl"},
		{"ps", "--format", "{{.Nosuch}}"},
		{"ps", "--format", "{{nofunc .ID}}"},
	} {
		errs := e.fails(bad...)
		if strings.Count(strings.TrimSpace(errs), "\n") > 0 || !strings.Contains(errs, "template") || !strings.Contains(errs, strings.TrimSuffix(bad[2], "}}")) {
			t.Errorf("kago %s: want one line naming the template, got %q", strings.Join(bad, " "), errs)
		}
	}
	if errs := e.fails("inspect", "-f", "{{.Id}}", "nosuch"); !strings.Contains(errs, "no such container, image, network or volume: nosuch") {
		t.Errorf("inspect of an unknown name: %q", errs)
	}
	// Volumes: volume ls and inspect through templates.
	e.ok("volume", "create", "--label", "tier=db", "s3cl-data")
	if out := e.ok("volume", "ls", "--format", `{{.Name}} {{.Driver}} {{.Label "tier"}}`); out != "s3cl-data local db" {
		t.Errorf("volume ls --format = %q", out)
	}
	if out := e.ok("volume", "ls", "--format", `table {{.Name}}\t{{.Labels}}`); !regexp.MustCompile(`^VOLUME NAME +LABELS\ns3cl-data +tier=db$`).MatchString(out) {
		t.Errorf("volume ls --format table = %q", out)
	}
	if out := e.ok("volume", "inspect", "-f", "{{.Mountpoint}}", "s3cl-data"); out != filepath.Join(e.root, "volumes", "s3cl-data", "_data") {
		t.Errorf("volume inspect -f = %q", out)
	}
	if out := e.ok("inspect", "-f", "{{.Name}}/{{.Scope}}", "s3cl-data"); out != "s3cl-data/local" {
		t.Errorf("inspect of a volume = %q", out)
	}
	if out := e.ok("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Subnet}}"); out != "bridge bridge "+e.subnet {
		t.Errorf("network ls --format = %q", out)
	}
	if out := e.ok("inspect", "-f", "{{.Subnet}}", "--type", "network", "bridge"); out != e.subnet {
		t.Errorf("inspect of a network = %q", out)
	}
	e.ok("volume", "rm", "s3cl-data")
}

// TestPauseRenameUpdate: pause freezes the cgroup and shows in ps and
// inspect; rename keeps the container; update changes the live cgroup and
// a restart keeps the new limits; bad input is refused with one line and
// changes nothing.
func TestPauseRenameUpdate(t *testing.T) {
	e := newEnv(t)
	id := e.ok("run", "-d", "--name", "p", "--memory", "64m", "bb", "sleep", "300")
	frozen := func() bool {
		for _, p := range []string{filepath.Join("/sys/fs/cgroup/freezer/kago", id, "freezer.state"), filepath.Join("/sys/fs/cgroup/kago", id, "cgroup.freeze")} {
			if data, err := os.ReadFile(p); err == nil {
				s := strings.TrimSpace(string(data))
				return s == "FROZEN" || s == "1"
			}
		}
		t.Fatal("no freezer file")
		return false
	}

	e.ok("pause", "p")
	if !frozen() {
		t.Error("pause did not freeze the cgroup")
	}
	if out := e.ok("ps", "--format", "{{.Names}} {{.State}} {{.Status}}"); !regexp.MustCompile(`^p paused Up .* \(Paused\)$`).MatchString(out) {
		t.Errorf("ps of a paused container = %q", out)
	}
	if out := e.ok("ps", "-q", "--filter", "status=paused"); out != id[:12] {
		t.Errorf("ps --filter status=paused = %q", out)
	}
	if out := e.ok("inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "p"); out != "paused true true" {
		t.Errorf("inspect of a paused container = %q", out)
	}
	if errs := e.fails("exec", "p", "true"); !strings.Contains(errs, "is paused: unpause it first") {
		t.Errorf("exec in a paused container: %q", errs)
	}
	if errs := e.fails("pause", "p"); !strings.Contains(errs, "already paused") {
		t.Errorf("pause twice: %q", errs)
	}
	e.ok("unpause", "p")
	if frozen() {
		t.Error("unpause left the cgroup frozen")
	}
	if out := e.ok("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "p"); out != "running false" {
		t.Errorf("inspect after unpause = %q", out)
	}
	if errs := e.fails("unpause", "p"); !strings.Contains(errs, "not paused") {
		t.Errorf("unpause of a running container: %q", errs)
	}
	// A paused container stops and is killed: frozen processes get their
	// signals once thawed (sleep as PID 1 ignores SIGTERM: stop kills).
	e.ok("pause", "p")
	start := time.Now()
	e.ok("stop", "-t", "1", "p")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop of a paused container took %s", d)
	}
	e.ok("start", "p")
	e.ok("pause", "p")
	e.ok("kill", "p")
	if code := e.ok("wait", "p"); code != "137" {
		t.Errorf("kill of a paused container: exit %s, want 137", code)
	}
	if errs := e.fails("pause", "p"); !strings.Contains(errs, "not running") {
		t.Errorf("pause of a stopped container: %q", errs)
	}
	e.ok("start", "p")

	// A paused container is not probed: its health stays as it was (a
	// probe of a frozen container would time out and make it unhealthy).
	e.ok("run", "-d", "--name", "h", "--health-cmd", "true", "--health-interval", "100ms", "--health-timeout", "200ms", "--health-retries", "1", "bb", "sleep", "300")
	e.eventually("h healthy", 20*time.Second, func() bool { return e.health("h")["Status"] == "healthy" })
	e.ok("pause", "h")
	time.Sleep(1500 * time.Millisecond)
	if h := e.health("h"); h["Status"] != "healthy" {
		t.Errorf("health of a paused container: %v", h)
	}
	e.ok("unpause", "h")
	e.ok("rm", "-f", "h")

	// rename
	e.ok("run", "-d", "--name", "other", "bb", "sleep", "300")
	e.ok("rename", "p", "q")
	if out := e.ok("inspect", "-f", "{{.Id}} {{.Name}}", "q"); out != id+" /q" {
		t.Errorf("inspect after rename = %q", out)
	}
	if errs := e.fails("inspect", "--type", "container", "p"); !strings.Contains(errs, "no such container") {
		t.Errorf("the old name still finds the container: %q", errs)
	}
	for _, tc := range []struct{ args, want string }{
		{"rename q other", "already in use"},
		{"rename q bad/name", "invalid container name"},
		{"rename nosuch x", "no such container"},
	} {
		if errs := e.fails(strings.Fields(tc.args)...); !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%s: %q, want one line with %q", tc.args, errs, tc.want)
		}
	}

	// update of a running container: the cgroup now, the bundle for later.
	mem := func() string { return e.cgroupValue(id, "memory", "memory.limit_in_bytes", "memory.max") }
	pids := func() string { return e.cgroupValue(id, "pids", "pids.max", "pids.max") }
	quota := func() string {
		if q, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpu,cpuacct/kago", id, "cpu.cfs_quota_us")); err == nil {
			return strings.TrimSpace(string(q))
		}
		q, _, _ := strings.Cut(e.cgroupValue(id, "cpu", "cpu.cfs_quota_us", "cpu.max"), " ")
		return q
	}
	if mem() != "67108864" {
		t.Fatalf("memory limit before update: %s", mem())
	}
	if out := e.ok("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", "q"); out != "67108864 0" {
		t.Errorf("inspect of the limits before update = %q", out)
	}
	e.ok("update", "--memory", "96m", "--pids-limit", "50", "--cpus", "0.5", "--cpu-shares", "512", "--restart", "on-failure:3", "q")
	check := func(when string) {
		t.Helper()
		if m, p, c := mem(), pids(), quota(); m != "100663296" || p != "50" || c != "50000" {
			t.Errorf("%s: memory %s, pids %s, cpu quota %s; want 100663296, 50, 50000", when, m, p, c)
		}
	}
	check("after update")
	if out := e.ok("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "q"); out != "on-failure:3" {
		t.Errorf("restart policy after update = %q", out)
	}
	if out := e.ok("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}", "q"); out != "100663296 500000000 512 50" {
		t.Errorf("inspect of the limits after update = %q", out)
	}
	e.ok("restart", "-t", "1", "q")
	check("after restart")
	for _, tc := range []struct{ args, want string }{
		{"update --memory 1m q", "6MiB"},
		{"update --memory-swap 10m q", "must not be below --memory"},
		{"update --cpu-shares 1 q", "--cpu-shares"},
		{"update --restart sometimes q", "restart"},
		{"update q", "nothing to update"},
		{"update --memory 64m nosuch", "no such container"},
		{"update --memory lots q", "--memory"},
	} {
		if errs := e.fails(strings.Fields(tc.args)...); !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%s: %q, want one line with %q", tc.args, errs, tc.want)
		}
	}
	check("after refused updates")
	e.ok("run", "-d", "--rm", "--name", "once", "bb", "sleep", "300")
	if errs := e.fails("update", "--restart", "always", "once"); !strings.Contains(errs, "--rm") {
		t.Errorf("update --restart of an --rm container: %q", errs)
	}
	e.ok("rm", "-f", "once")
	// A limit below what the container uses now is refused, and the
	// container keeps running under its old one.
	e.ok("exec", "q", "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1048576", "count=24")
	if errs := e.fails("update", "--memory", "8m", "q"); !strings.Contains(errs, "usage") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Errorf("update below the memory in use: %q", errs)
	}
	if out := e.ok("inspect", "-f", "{{.State.Status}} {{.HostConfig.Memory}}", "q"); out != "running 100663296" {
		t.Errorf("after a refused update: %q", out)
	}
	check("after an update below usage")
	// A stopped container gets the new limit at its next start.
	e.ok("stop", "-t", "1", "q")
	e.ok("update", "--memory", "128m", "q")
	e.ok("start", "q")
	if m := mem(); m != "134217728" {
		t.Errorf("memory limit of a container updated while stopped: %s, want 134217728", m)
	}
}

// useCLISubnets moves the env onto this suite's own addresses
// (10.132.0.0/16), so its user networks never meet another test's.
func (e *env) useCLISubnets() {
	e.t.Helper()
	e.subnet = fmt.Sprintf("10.132.%d.0/24", e.n%128)
	cfg := fmt.Sprintf(`{"Network":{"BridgeName":%q,"Subnet":%q,"TableName":%q,"UserSubnetPool":"10.132.128.0/17","UserBridgePrefix":"ku%d-"}}`,
		e.bridge, e.subnet, e.table, e.n)
	if err := os.WriteFile(filepath.Join(e.root, "config.json"), []byte(cfg), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// TestPruneAndDf: each prune removes exactly what docker's does (stopped
// containers; unused user networks; anonymous volumes only; dangling, or
// with -a unused, images), honours until= and label= filters, and says
// what it freed; system df counts what is there.
func TestPruneAndDf(t *testing.T) {
	e := newEnv(t)
	e.useCLISubnets()
	keep := e.ok("run", "-d", "--name", "keep", "bb", "sleep", "300")
	e.ok("run", "--name", "done", "-v", "/anon", "bb", "dd", "if=/dev/zero", "of=/written", "bs=1024", "count=200")
	e.ok("create", "--name", "fresh", "bb")
	e.ok("volume", "create", "s3cl-named")
	e.ok("network", "create", "s3cl-unused")
	e.ok("network", "create", "s3cl-used")
	e.ok("run", "-d", "--name", "onnet", "--network", "s3cl-used", "bb", "sleep", "300")
	// A dangling image: tmp:1 moved to a second import.
	e.ok("import", "-c", "LABEL stage=old", imageTar, "tmp:1")
	old := e.ok("image", "inspect", "-f", "{{.ID}}", "tmp:1")
	e.ok("import", "-c", "LABEL stage=new", imageTar, "tmp:1")

	df := e.ok("system", "df")
	for _, want := range []string{
		`(?m)^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE$`,
		`(?m)^Containers +4 +2 +2\d\d(\.\d+)?kB +2\d\d(\.\d+)?kB \(100%\)$`, // done wrote 200 KiB
		`(?m)^Local Volumes +2 +1 `,
		`(?m)^Images +3 +1 +[\d.]+[kMG]?B +0B \(0%\)$`, // one layer, shared, in use by keep
		`(?m)^Build Cache +0 +0 +0B +0B$`,
	} {
		if !regexp.MustCompile(want).MatchString(df) {
			t.Errorf("system df lacks %s:\n%s", want, df)
		}
	}
	if out := e.ok("system", "df", "--format", "{{.Type}}={{.TotalCount}}"); out != "Images=3\nContainers=4\nLocal Volumes=2\nBuild Cache=0" {
		t.Errorf("system df --format = %q", out)
	}
	if v := e.ok("system", "df", "-v"); !strings.Contains(v, "Images space usage:") || !strings.Contains(v, "Containers space usage:") ||
		!regexp.MustCompile(`(?m)^s3cl-named +0 +0B$`).MatchString(v) || !strings.Contains(v, "Build cache usage: 0B") {
		t.Errorf("system df -v:\n%s", v)
	}

	// Filters: nothing is older than an hour, nothing has the label.
	for _, f := range []string{"until=1h", "label=nosuch"} {
		if out := e.ok("container", "prune", "-f", "--filter", f); out != "Total reclaimed space: 0B" {
			t.Errorf("container prune --filter %s = %q", f, out)
		}
	}
	for _, bad := range [][]string{{"container", "prune", "--filter", "color=red"}, {"system", "prune", "--filter", "until=someday"}, {"image", "prune", "--filter", "label"}} {
		if errs := e.fails(bad...); !strings.Contains(errs, "filter") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("kago %s: %q", strings.Join(bad, " "), errs)
		}
	}
	if n := len(strings.Fields(e.ok("ps", "-aq"))); n != 4 {
		t.Fatalf("a refused or filtered prune removed containers: %d left", n)
	}

	out := e.ok("container", "prune", "--filter", "until=0s")
	if !regexp.MustCompile(`^Deleted Containers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n\nTotal reclaimed space: 2\d\d(\.\d+)?kB$`).MatchString(out) {
		t.Errorf("container prune:\n%s", out)
	}
	if ps := strings.Fields(e.ok("ps", "-a", "--format", "{{.Names}}")); strings.Join(ps, " ") != "onnet keep" {
		t.Errorf("after container prune: %v", ps)
	}
	if out := e.ok("network", "prune", "-f"); out != "Deleted Networks:\ns3cl-unused" {
		t.Errorf("network prune = %q", out)
	}
	if out := e.ok("network", "ls", "-q"); out != "bridge\ns3cl-used" {
		t.Errorf("networks after prune: %q", out)
	}
	if out := e.ok("image", "prune", "--filter", "label=stage=new"); out != "Total reclaimed space: 0B" {
		t.Errorf("image prune of a label only a tagged image has = %q", out)
	}
	// system prune: anonymous volumes with --volumes, the named one stays;
	// images: the dangling one, and with -a the unused tmp:1; bb is in use.
	out = e.ok("system", "prune", "-f", "--volumes")
	if !strings.Contains(out, "Deleted Volumes:\n") || strings.Contains(out, "s3cl-named") || !strings.Contains(out, "Deleted Images:\ndeleted: "+old+"\n") ||
		!strings.Contains(out, "Total reclaimed space: ") {
		t.Errorf("system prune --volumes:\n%s", out)
	}
	if vols := e.ok("volume", "ls", "-q"); vols != "s3cl-named" {
		t.Errorf("volumes after system prune --volumes: %q", vols)
	}
	if imgs := e.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(imgs, "tmp:1") || !strings.Contains(imgs, "bb:latest") {
		t.Errorf("system prune without -a removed a tagged image: %q", imgs)
	}
	out = e.ok("system", "prune", "-a")
	if imgs := e.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); imgs != "bb:latest" {
		t.Errorf("images after system prune -a: %q (prune said %q)", imgs, out)
	}
	if ps := e.ok("ps", "-q", "--no-trunc"); !strings.Contains(ps, keep) {
		t.Errorf("system prune removed a running container: %q", ps)
	}
	e.ok("volume", "rm", "s3cl-named")
	e.ok("rm", "-f", "onnet")
	e.ok("network", "rm", "s3cl-used")
}

// TestRenameFollowsDNS: on a user network a renamed running container
// answers to its new name at once, in DNS and its peers' /etc/hosts, and no
// longer to the old one.
func TestRenameFollowsDNS(t *testing.T) {
	e := newEnv(t)
	e.useCLISubnets()
	e.ok("network", "create", "s3cl-dns")
	e.ok("run", "-d", "--name", "web", "--network", "s3cl-dns", "bb")
	e.ok("run", "-d", "--name", "client", "--network", "s3cl-dns", "bb", "sleep", "300")
	if out, ok, _ := e.lookup("client", "web"); !ok {
		t.Fatalf("web does not resolve before the rename:\n%s", out)
	}
	e.ok("rename", "web", "front")
	if out, ok, _ := e.lookup("client", "front"); !ok {
		t.Errorf("the new name does not resolve:\n%s", out)
	}
	if out, ok, _ := e.lookup("client", "web"); ok {
		t.Errorf("the old name still resolves:\n%s", out)
	}
	if out := e.ok("exec", "client", "wget", "-qO-", "http://front/index.html"); !strings.Contains(out, "hello from kago") {
		t.Errorf("wget by the new name: %q", out)
	}
	hosts := e.ok("exec", "client", "cat", "/etc/hosts")
	if !regexp.MustCompile(`(?m)\sfront(\s|$)`).MatchString(hosts) || regexp.MustCompile(`(?m)\sweb(\s|$)`).MatchString(hosts) {
		t.Errorf("the peer's /etc/hosts after the rename:\n%s", hosts)
	}
	e.ok("rm", "-f", "client", "front")
	e.ok("network", "rm", "s3cl-dns")
}
