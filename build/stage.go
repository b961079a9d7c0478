package build

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/runtime"
)

// stage runs the instructions of stage i on the state its FROM gives.
func (bd *build) stage(ctx context.Context, i int) (*state, error) {
	stg := bd.df.stages[i]
	st, err := bd.from(ctx, i)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w", bd.df.name, stageLine(stg), err)
	}
	// As BuildKit and buildah: a stage always has a PATH.
	if _, ok := lookup(st.cfg.Config.Env, "PATH"); !ok {
		st.cfg.Config.Env = append(st.cfg.Config.Env, specgen.DefaultPath)
	}
	// The base image's ONBUILD triggers run first, as docker runs them;
	// the new image does not inherit them.
	triggers := st.cfg.Config.OnBuild
	st.cfg.Config.OnBuild = nil
	for _, trig := range triggers {
		c, err := parseTrigger(trig)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: ONBUILD trigger %q of the base image: %w", bd.df.name, stageLine(stg), trig, err)
		}
		if err := bd.dispatch(ctx, st, i, fmt.Sprintf("[%s] ONBUILD %s", bd.stageName(i), oneLine(trig)), c); err != nil {
			return nil, fmt.Errorf("%s:%d: ONBUILD %s: %w", bd.df.name, stageLine(stg), oneLine(trig), err)
		}
	}
	for n, c := range stg.Commands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		label := fmt.Sprintf("[%s %d/%d] %s", bd.stageName(i), n+2, len(stg.Commands)+1, oneLine(fmt.Sprint(c)))
		if err := bd.dispatch(ctx, st, i, label, c); err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", bd.df.name, line(c), oneLine(fmt.Sprint(c)), err)
		}
	}
	return st, nil
}

func (bd *build) stageName(i int) string {
	if n := bd.df.stages[i].Name; n != "" {
		return n
	}
	return fmt.Sprintf("stage-%d", i)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// from makes the state a stage starts with: an image, scratch, or an
// earlier stage's result.
func (bd *build) from(ctx context.Context, i int) (*state, error) {
	stg := bd.df.stages[i]
	base, err := bd.expand(stg.BaseName, bd.meta)
	if err != nil {
		return nil, fmt.Errorf("FROM %s: %w", stg.BaseName, err)
	}
	if stg.Platform != "" {
		p, err := bd.expand(stg.Platform, bd.meta)
		if err != nil {
			return nil, fmt.Errorf("FROM --platform=%s: %w", stg.Platform, err)
		}
		want, err := image.ParsePlatform(p)
		if err != nil {
			return nil, err
		}
		if host := image.HostPlatform(); image.FormatPlatform(want) != image.FormatPlatform(host) {
			return nil, fmt.Errorf("FROM --platform=%s: kago build builds for this machine's platform, %s, only", p, image.FormatPlatform(host))
		}
	}
	if j, ok := bd.stageIndex(base, i); ok {
		return bd.result(j).clone(), nil
	}
	if strings.EqualFold(base, "scratch") {
		plat := image.HostPlatform()
		return &state{
			cfg: dockerspec.DockerOCIImage{Image: ocispec.Image{
				Platform: ocispec.Platform{OS: plat.OS, Architecture: plat.Architecture, Variant: plat.Variant},
				RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}},
			}},
			key: stepKey("", "scratch"),
		}, nil
	}
	n := bd.p.begin(fmt.Sprintf("[%s 1/%d] FROM %s", bd.stageName(i), len(stg.Commands)+1, base))
	img, err := bd.b.Resolve(ctx, base, bd.o.Pull)
	if err != nil {
		bd.p.end(n, "", err)
		return nil, err
	}
	st, err := bd.imageState(img)
	if err != nil {
		return nil, err
	}
	bd.p.end(n, "DONE", nil)
	return st, nil
}

// imageState is the state of a stored image.
func (bd *build) imageState(img *image.Image) (*state, error) {
	raw, err := bd.b.Images.ConfigJSON(img)
	if err != nil {
		return nil, err
	}
	st := &state{key: stepKey("", "image", img.ID.String())}
	if err := json.Unmarshal(raw, &st.cfg); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", image.ShortID(img.ID), err)
	}
	if st.layers, err = bd.b.Images.LayerDescriptors(img); err != nil {
		return nil, err
	}
	if len(st.layers) != len(st.cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image %s: %d layers but %d diff IDs", image.ShortID(img.ID), len(st.layers), len(st.cfg.RootFS.DiffIDs))
	}
	return st, nil
}

// env is what ${VAR} expands to in the stage: ARGs, then ENV over them.
func (st *state) env() []string {
	env := append([]string(nil), st.args...)
	for _, kv := range st.cfg.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		env = image.SetEnv(env, k, v)
	}
	return env
}

func (bd *build) expand(word string, env []string) (string, error) {
	lex := shell.NewLex(bd.df.escape)
	res, _, err := lex.ProcessWord(word, shell.EnvsFromSlice(env))
	return res, err
}

func (bd *build) expander(st *state) instructions.SingleWordExpander {
	env := st.env()
	return func(w string) (string, error) { return bd.expand(w, env) }
}

// created is the time the stage's last change was made: config-only
// instructions take it, so a fully cached rebuild gives the same image.
func (st *state) created() time.Time {
	if st.cfg.Created != nil {
		return *st.cfg.Created
	}
	return time.Unix(0, 0).UTC()
}

// note records a config-only instruction in the history.
func (st *state) note(key digest.Digest, createdBy string) {
	t := st.created()
	st.cfg.History = append(st.cfg.History, ocispec.History{Created: &t, CreatedBy: createdBy, EmptyLayer: true})
	st.key = key
}

// addLayer records a step's layer (nil: it changed nothing).
func (st *state) addLayer(key digest.Digest, l *layer, createdBy string, t time.Time) {
	t = t.UTC()
	h := ocispec.History{Created: &t, CreatedBy: createdBy, EmptyLayer: l == nil}
	st.cfg.History = append(st.cfg.History, h)
	if l != nil {
		st.layers = append(st.layers, l.Desc)
		st.cfg.RootFS.DiffIDs = append(st.cfg.RootFS.DiffIDs, l.DiffID)
	}
	st.cfg.Created = &t
	st.key = key
}

// dispatch applies one instruction to the state.
func (bd *build) dispatch(ctx context.Context, st *state, i int, label string, c instructions.Command) error {
	if e, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if err := e.Expand(bd.expander(st)); err != nil {
			return err
		}
	}
	// Heredocs with an unquoted delimiter expand variables, quotes kept
	// (BuildKit's raw expansion).
	if e, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		env := shell.EnvsFromSlice(st.env())
		if err := e.ExpandRaw(func(w string) (string, error) {
			lex := shell.NewLex('\\')
			lex.SkipProcessQuotes = true
			res, _, err := lex.ProcessWord(w, env)
			return res, err
		}); err != nil {
			return err
		}
	}
	cfg := &st.cfg.Config
	text := fmt.Sprint(c)
	switch c := c.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = image.SetEnv(cfg.Env, kv.Key, kv.Value)
		}
		st.note(stepKey(st.key, text), "ENV "+kvString(c.Env))
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
		st.note(stepKey(st.key, text), "LABEL "+kvString(c.Labels))
	case *instructions.ArgCommand:
		var parts []string
		for _, kv := range c.Args {
			v, ok := bd.o.BuildArgs[kv.Key]
			if !ok && kv.Value != nil {
				v, ok = *kv.Value, true
			}
			if !ok {
				v, ok = lookup(bd.meta, kv.Key)
			}
			if ok {
				st.args = image.SetEnv(st.args, kv.Key, v)
				parts = append(parts, kv.Key+"="+v)
			} else {
				parts = append(parts, kv.Key)
			}
		}
		st.note(stepKey(st.key, "ARG", strings.Join(parts, " ")), "ARG "+strings.Join(parts, " "))
	case *instructions.WorkdirCommand:
		wd := c.Path
		if !path.IsAbs(wd) {
			wd = path.Join("/", cfg.WorkingDir, wd)
		}
		cfg.WorkingDir = path.Clean(wd)
		return bd.layerStep(ctx, st, label, stepKey(st.key, "WORKDIR", cfg.WorkingDir), "WORKDIR "+cfg.WorkingDir, func(s stepEnv) error {
			return mkdirInRoot(s.rootfs, cfg.WorkingDir)
		})
	case *instructions.UserCommand:
		cfg.User = c.User
		st.note(stepKey(st.key, text), "USER "+c.User)
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		lex := shell.NewLex(bd.df.escape)
		var all []string
		for _, p := range c.Ports {
			ps, err := lex.ProcessWords(p, shell.EnvsFromSlice(st.env()))
			if err != nil {
				return err
			}
			for _, p := range ps {
				port, err := normalizePort(p)
				if err != nil {
					return err
				}
				cfg.ExposedPorts[port] = struct{}{}
				all = append(all, port)
			}
		}
		st.note(stepKey(st.key, text), "EXPOSE map["+strings.Join(all, " ")+"]")
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return fmt.Errorf("VOLUME with an empty path")
			}
			cfg.Volumes[v] = struct{}{}
		}
		st.note(stepKey(st.key, text), "VOLUME "+fmt.Sprint(c.Volumes))
	case *instructions.StopSignalCommand:
		if _, err := runtime.ParseSignal(c.Signal); err != nil {
			return err
		}
		cfg.StopSignal = c.Signal
		st.note(stepKey(st.key, text), "STOPSIGNAL "+c.Signal)
	case *instructions.HealthCheckCommand:
		cfg.Healthcheck = c.Health
		st.note(stepKey(st.key, text), text)
	case *instructions.ShellCommand:
		cfg.Shell = c.Shell
		st.note(stepKey(st.key, text), text)
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
		st.note(stepKey(st.key, text), text)
	case *instructions.MaintainerCommand:
		st.cfg.Author = c.Maintainer
		st.note(stepKey(st.key, text), text)
	case *instructions.CmdCommand:
		cfg.Cmd = bd.commandLine(st, c.ShellDependantCmdLine)
		st.cmdSet = true
		st.note(stepKey(st.key, "CMD", jsonString(cfg.Cmd)), "CMD "+jsonString(cfg.Cmd))
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = bd.commandLine(st, c.ShellDependantCmdLine)
		if !st.cmdSet {
			cfg.Cmd = nil // a base image's CMD means nothing to a new ENTRYPOINT
		}
		st.note(stepKey(st.key, "ENTRYPOINT", jsonString(cfg.Entrypoint)), "ENTRYPOINT "+jsonString(cfg.Entrypoint))
	case *instructions.RunCommand:
		return bd.runInstruction(ctx, st, i, label, c)
	case *instructions.CopyCommand:
		return bd.copy(ctx, st, i, label, copyRequest{text: text, srcs: c.SourcePaths, heredocs: c.SourceContents, dest: c.DestPath,
			from: c.From, chown: c.Chown, chmod: c.Chmod, link: c.Link, parents: c.Parents, exclude: c.ExcludePatterns})
	case *instructions.AddCommand:
		return bd.copy(ctx, st, i, label, copyRequest{text: text, srcs: c.SourcePaths, heredocs: c.SourceContents, dest: c.DestPath,
			chown: c.Chown, chmod: c.Chmod, add: true, link: c.Link, exclude: c.ExcludePatterns, checksum: c.Checksum,
			keepGitDir: c.KeepGitDir})
	default:
		return fmt.Errorf("%s is %w", c.Name(), errUnsupported)
	}
	return nil
}

// commandLine is the argv of RUN, CMD or ENTRYPOINT: the exec form as
// written, the shell form through SHELL (default /bin/sh -c).
func (bd *build) commandLine(st *state, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string{}, c.CmdLine...)
	}
	sh := st.cfg.Config.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), strings.Join(c.CmdLine, " "))
}

// layerStep runs fn on a writable snapshot of the state's layers and
// commits what it changed as one layer, or takes the layer from the cache.
// stepEnv is where a layer step works: the rootfs of its snapshot, the
// snapshot's upper directory, its progress number.
type stepEnv struct {
	rootfs, upper string
	n             int
}

func (bd *build) layerStep(ctx context.Context, st *state, label string, key digest.Digest, createdBy string, fn func(stepEnv) error) error {
	return bd.layerStepOn(ctx, st, label, key, createdBy, st.cfg.RootFS.DiffIDs, fn)
}

// layerStepOn is layerStep with fn working on a snapshot of the layers
// base: the state's own, or none for a COPY --link, whose layer is made
// apart and stacked on the state's layers after.
func (bd *build) layerStepOn(ctx context.Context, st *state, label string, key digest.Digest, createdBy string, base []digest.Digest, fn func(stepEnv) error) error {
	n := bd.p.begin(label)
	diffIDs := st.cfg.RootFS.DiffIDs
	if !bd.o.NoCache {
		if e := bd.b.cached(key); e != nil && (e.Layer == nil || bd.b.available(ctx, e.Layer, diffIDs)) {
			st.addLayer(key, e.Layer, createdBy, e.Created)
			bd.p.end(n, "CACHED", nil)
			return nil
		}
	}
	l, err := bd.b.withSnapshot(ctx, base, func(rootfs, snapKey string) (l *layer, err error) {
		upper, err := bd.b.Images.Snapshots().UpperDir(snapKey)
		if err != nil {
			return nil, err
		}
		if err := fn(stepEnv{rootfs: rootfs, upper: upper, n: n}); err != nil {
			return nil, err
		}
		return bd.b.commitUpper(ctx, snapKey, diffIDs)
	})
	if err != nil {
		bd.p.end(n, "", err)
		return err
	}
	now := time.Now().UTC()
	if err := bd.b.remember(key, cacheEntry{Layer: l, Created: now}); err != nil {
		return err
	}
	st.addLayer(key, l, createdBy, now)
	bd.p.end(n, "DONE", nil)
	return nil
}

// withSnapshot gives fn a writable overlay of the layers, removed after.
func (b *Builder) withSnapshot(ctx context.Context, diffIDs []digest.Digest, fn func(rootfs, key string) (*layer, error)) (*layer, error) {
	key := "build-" + randomID()
	snaps := b.Images.Snapshots()
	rootfs, err := snaps.Prepare(ctx, key, image.ChainIDs(diffIDs))
	if err != nil {
		return nil, fmt.Errorf("prepare build step rootfs: %w", err)
	}
	l, err := fn(rootfs, key)
	if rerr := snaps.Release(context.WithoutCancel(ctx), key); rerr != nil && err == nil {
		err = fmt.Errorf("release build step rootfs: %w", rerr)
	}
	return l, err
}

func kvString(kvs instructions.KeyValuePairs) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = kv.Key + "=" + kv.Value
	}
	return strings.Join(parts, " ")
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func lookup(env []string, k string) (string, bool) {
	for _, kv := range env {
		if name, v, ok := strings.Cut(kv, "="); ok && name == k {
			return v, true
		}
	}
	return "", false
}

// normalizePort makes "80" "80/tcp", as docker records EXPOSE.
func normalizePort(p string) (string, error) {
	port, proto, _ := strings.Cut(strings.ToLower(p), "/")
	if proto == "" {
		proto = "tcp"
	}
	lo, hi, isRange := strings.Cut(port, "-")
	nums := []string{lo}
	if isRange {
		nums = append(nums, hi)
	}
	for _, n := range nums {
		var v int
		if _, err := fmt.Sscanf(n, "%d", &v); err != nil || fmt.Sprint(v) != n || v < 1 || v > 65535 {
			return "", fmt.Errorf("%q is not a port number", n)
		}
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return "", fmt.Errorf("protocol %q of %s is not tcp, udp or sctp", proto, p)
	}
	return port + "/" + proto, nil
}
