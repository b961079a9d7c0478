package build

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/linux/inroot"
	"github.com/kago-run/kago/network"
	"github.com/kago-run/kago/runtime"
)

// RunError is a RUN step whose command failed: its exit code and the last
// lines it printed, for callers that did not show the progress.
type RunError struct {
	Argv   []string
	Code   int
	Output []string
}

func (e *RunError) Error() string {
	return fmt.Sprintf("process %q did not complete successfully: exit code %d", strings.Join(e.Argv, " "), e.Code)
}

// outputTail is how many lines of a failed RUN's output RunError keeps.
const outputTail = 20

// runInstruction runs a RUN instruction as one layer step. Its cache key
// covers the command (a heredoc's text included), the network and what
// the --mounts show (see planMounts).
func (bd *build) runInstruction(ctx context.Context, st *state, i int, label string, c *instructions.RunCommand) error {
	argv, script, err := bd.runArgv(st, c)
	if err != nil {
		return err
	}
	netName := bd.o.Network
	switch n := instructions.GetNetwork(c); n {
	case instructions.NetworkNone, instructions.NetworkHost:
		netName = n
	}
	rms, mountKey, err := bd.planMounts(ctx, st, i, instructions.GetMounts(c))
	if err != nil {
		return err
	}
	createdBy := "RUN " + strings.Join(argv, " ")
	parts := append([]string{"RUN", jsonString(argv), jsonString(script), netName}, mountKey...)
	return bd.layerStep(ctx, st, label, stepKey(st.key, parts...), createdBy, func(s stepEnv) error {
		return bd.runStep(ctx, st, i, s, runRequest{argv: argv, script: script, network: netName, mounts: rms})
	})
}

// inlineScript is a RUN heredoc that starts with #!: BuildKit mounts it
// read-only at /dev/pipes/NAME (mode 0755) and runs that file.
type inlineScript struct {
	Name, Data string
}

// runArgv is the argv of a RUN, heredocs as BuildKit runs them: one
// heredoc starting with #! is a script file run by its interpreter; one
// heredoc otherwise is the shell's script; a command with heredocs in it
// goes to the shell with the heredocs after it, for the shell to read.
func (bd *build) runArgv(st *state, c *instructions.RunCommand) ([]string, *inlineScript, error) {
	if len(c.Files) == 0 {
		return bd.commandLine(st, c.ShellDependantCmdLine), nil, nil
	}
	if len(c.CmdLine) != 1 || !c.PrependShell {
		return nil, nil, fmt.Errorf("a heredoc RUN needs the shell form")
	}
	line := c.ShellDependantCmdLine
	line.CmdLine = []string{c.CmdLine[0]}
	if h := parser.MustParseHeredoc(c.CmdLine[0]); h != nil {
		data := c.Files[0].Data
		if c.Files[0].Chomp {
			data = parser.ChompHeredocContent(data)
		}
		if strings.HasPrefix(data, "#!") {
			name := c.Files[0].Name
			if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
				return nil, nil, fmt.Errorf("heredoc name %q cannot name a file", name)
			}
			return []string{path.Join("/dev/pipes", name)}, &inlineScript{Name: name, Data: data}, nil
		}
		line.CmdLine = []string{data}
		return bd.commandLine(st, line), nil, nil
	}
	var b strings.Builder
	b.WriteString(c.CmdLine[0])
	for _, f := range c.Files {
		b.WriteByte('\n')
		b.WriteString(f.Data)
		b.WriteString(f.Name)
	}
	line.CmdLine = []string{b.String()}
	return bd.commandLine(st, line), nil, nil
}

// runRequest is what a RUN step runs, resolved.
type runRequest struct {
	argv    []string
	script  *inlineScript
	network string // network.DefaultNetwork, "none" or "host"
	mounts  []runMount
}

// runStep runs a RUN step in a container on rootfs: the stage's
// environment, user and working directory, its --mounts, no network of its
// own unless host, hostname buildkitsandbox as BuildKit's.
func (bd *build) runStep(ctx context.Context, st *state, i int, s stepEnv, r runRequest) error {
	rootfs := s.rootfs
	argv := r.argv
	cfg := st.cfg.Config
	id := "build-" + randomID()
	so := specgen.Options{Hostname: "buildkitsandbox", Rootfs: rootfs, HostNetwork: r.network == "host", CgroupsPath: "kago/" + id}
	if cfg.User != "" {
		passwd, err := engine.ReadInRoot(rootfs, "/etc/passwd")
		if err != nil {
			return err
		}
		group, err := engine.ReadInRoot(rootfs, "/etc/group")
		if err != nil {
			return err
		}
		if so.User, err = specgen.ResolveUser(cfg.User, passwd, group); err != nil {
			return fmt.Errorf("USER %s: %w", cfg.User, err)
		}
		so.UserSet = true
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	if err := mkdirInRoot(rootfs, cwd); err != nil {
		return err
	}
	bundle := filepath.Join(bd.b.bundleDir(), id)
	if err := os.Mkdir(bundle, 0o700); err != nil {
		return fmt.Errorf("create bundle: %w", err)
	}
	defer os.RemoveAll(bundle)
	switch r.network {
	case "host":
		for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
			so.Mounts = append(so.Mounts, specs.Mount{Destination: f, Type: "bind", Source: f, Options: []string{"rbind", "ro", "rprivate"}})
		}
	case network.DefaultNetwork:
		// The network manager fills these when it attaches the step.
		for _, f := range []string{"hosts", "resolv.conf"} {
			p := filepath.Join(bundle, f)
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", p, err)
			}
			so.Mounts = append(so.Mounts, specs.Mount{Destination: "/etc/" + f, Type: "bind", Source: p, Options: []string{"rbind", "rprivate"}})
		}
	}
	if r.script != nil {
		dir := filepath.Join(bundle, "pipes")
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		p := filepath.Join(dir, r.script.Name)
		if err := os.WriteFile(p, []byte(r.script.Data), 0o755); err != nil {
			return fmt.Errorf("write the heredoc script: %w", err)
		}
		if err := os.Chmod(p, 0o755); err != nil {
			return err
		}
		so.Mounts = append(so.Mounts, specs.Mount{Destination: "/dev/pipes", Type: "bind", Source: dir, Options: []string{"rbind", "ro", "rprivate", "nosuid", "nodev"}})
	}
	mounts, secretEnv, release, err := bd.mountSpecs(ctx, i, r.mounts, bundle)
	if err != nil {
		return err
	}
	defer release()
	so.Mounts = append(so.Mounts, mounts...)
	env := st.env()
	for _, kv := range secretEnv {
		k, v, _ := strings.Cut(kv, "=")
		env = image.SetEnv(env, k, v)
	}
	spec, err := specgen.Generate(ocispec.ImageConfig{Env: env, WorkingDir: cwd, Cmd: argv}, so)
	if err != nil {
		return err
	}
	// The runtime makes missing mount points; they are no change of the
	// step's and must not end up in its layer: neither the top-level ones
	// (/proc, /dev, /run, ...) nor those of the --mounts, at any depth.
	var stubs []string
	for _, m := range spec.Mounts {
		if _, err := statInRoot(rootfs, m.Destination); errors.Is(err, unix.ENOENT) && (strings.Count(m.Destination, "/") <= 2 || isRunMount(r.mounts, m.Destination)) {
			stubs = append(stubs, m.Destination)
		}
	}
	defer removeStubs(s.upper, stubs, inUpper(s.upper, stubs))
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	return bd.b.runContainer(ctx, id, bundle, r.network, argv, bd.p, s.n)
}

func isRunMount(ms []runMount, dest string) bool {
	for _, m := range ms {
		if m.target == dest {
			return true
		}
	}
	return false
}

// runContainer runs the bundle's container to its end, its output to the
// progress, and deletes it whatever happens: a build step leaves no
// container, cgroup or process behind, also when ctx is cancelled.
func (b *Builder) runContainer(ctx context.Context, id, bundle, netName string, argv []string, p *progress, step int) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer outR.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		outW.Close()
		return err
	}
	defer devnull.Close()
	c, err := b.Runtime.Create(ctx, id, runtime.CreateOptions{Bundle: bundle, IO: runtime.IO{Stdin: devnull, Stdout: outW, Stderr: outW}})
	outW.Close()
	if err != nil {
		return fmt.Errorf("create build container: %w", err)
	}
	defer func() {
		if err := c.Delete(context.WithoutCancel(ctx), true); err != nil {
			p.note(step, "WARNING: delete build container %s: %v", id, err)
		}
	}()
	if netName == network.DefaultNetwork {
		if _, err := b.Net.Attach(ctx, network.AttachRequest{
			ContainerID: id, Network: netName, NetnsPath: fmt.Sprintf("/proc/%d/ns/net", c.Pid()), Hostname: "buildkitsandbox",
			HostsPath: filepath.Join(bundle, "hosts"), ResolvConfPath: filepath.Join(bundle, "resolv.conf"),
		}); err != nil {
			return fmt.Errorf("attach build container to the %s network: %w", netName, err)
		}
		defer func() {
			if err := b.Net.Detach(context.WithoutCancel(ctx), id); err != nil {
				p.note(step, "WARNING: detach build container %s: %v", id, err)
			}
		}()
	}
	start := time.Now()
	var tail []string
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.output(step, time.Since(start), line)
			if tail = append(tail, line); len(tail) > outputTail {
				tail = tail[1:]
			}
		}
	}()
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("start build container: %w", err)
	}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := c.InitProcess().Wait()
		done <- result{code, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		_ = c.Kill(unix.SIGKILL, true)
		<-done
		<-copied
		return ctx.Err()
	}
	<-copied
	if res.err != nil {
		return fmt.Errorf("wait for build container: %w", res.err)
	}
	if res.code != 0 {
		return &RunError{Argv: argv, Code: res.code, Output: tail}
	}
	return nil
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// statInRoot stats path inside rootfs without following its last
// component; every other lookup stays inside rootfs.
func statInRoot(rootfs, path string) (*unix.Stat_t, error) {
	dir, base := filepath.Split(filepath.Clean("/" + path))
	d, err := inroot.OpenFile(rootfs, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if base == "" {
		base = "."
	}
	var st unix.Stat_t
	if err := unix.Fstatat(int(d.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, err
	}
	return &st, nil
}

// inUpper lists which parents of the stubs are in the upper directory
// before the step runs: the step's own changes, kept whatever happens.
func inUpper(upper string, stubs []string) map[string]bool {
	have := map[string]bool{}
	for _, s := range stubs {
		for d := filepath.Dir(s); d != "/"; d = filepath.Dir(d) {
			if _, err := os.Lstat(filepath.Join(upper, d)); err == nil {
				have[d] = true
			}
		}
	}
	return have
}

// removeStubs removes the empty mount points the runtime made from the
// step's upper directory, and the parents that were copied up only to hold
// them, so the layer has only what the step's command changed. Lookups in
// upper follow no symlink.
func removeStubs(upper string, stubs []string, had map[string]bool) {
	ufd, err := unix.Open(upper, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(ufd)
	remove := func(p string) bool {
		dir, base := filepath.Split(strings.TrimPrefix(p, "/"))
		if dir == "" {
			dir = "."
		}
		dfd, err := unix.Openat2(ufd, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH})
		if err != nil {
			return false
		}
		defer unix.Close(dfd)
		if unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR) == nil {
			return true
		}
		var st unix.Stat_t
		if unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == 0 {
			return unix.Unlinkat(dfd, base, 0) == nil
		}
		return false
	}
	for i := len(stubs) - 1; i >= 0; i-- {
		if !remove(stubs[i]) {
			continue
		}
		for d := filepath.Dir(stubs[i]); d != "/" && !had[d]; d = filepath.Dir(d) {
			if !remove(d) { // not empty: the step changed something in it
				break
			}
		}
	}
}

func mkdirInRoot(rootfs, path string) error { return engine.MkdirInRoot(rootfs, path) }
