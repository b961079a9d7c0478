package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/network"
	"github.com/kago-run/kago/runtime"
)

// Builder builds images into one engine root.
type Builder struct {
	Images  *image.Store
	Runtime *runtime.Runtime // runs RUN steps; its state root is the builder's own
	// Root holds the builder's state: the layer cache, bundles and temp
	// files (<engine root>/build).
	Root string
	// Resolve finds a FROM or COPY --from image, pulling it when the store
	// lacks it (or always, with pull).
	Resolve func(ctx context.Context, ref string, pull bool) (*image.Image, error)
	// Net attaches RUN steps to the default bridge; nil allows only the
	// none and host networks.
	Net *network.Manager
}

// New makes a builder for the engine root's image store, keeping its own
// state under <root>/build.
func New(root string, images *image.Store, resolve func(ctx context.Context, ref string, pull bool) (*image.Image, error)) (*Builder, error) {
	dir := filepath.Join(root, "build")
	rt, err := runtime.New(filepath.Join(dir, "runtime"), nil)
	if err != nil {
		return nil, err
	}
	return &Builder{Images: images, Runtime: rt, Root: dir, Resolve: resolve}, nil
}

// Options are what `kago build` was asked.
type Options struct {
	// ContextDir is the build context, a directory.
	ContextDir string
	// Dockerfile is the Dockerfile's path; "" is ContextDir/Dockerfile.
	Dockerfile string
	Tags       []string
	BuildArgs  map[string]string
	Target     string // the stage to build; "" the last
	NoCache    bool
	Pull       bool              // pull FROM images even when stored
	Labels     map[string]string // added to the image's labels
	Platform   string            // only the host's platform can run RUN
	Network    string            // for RUN: "bridge" (the default), "none" or "host"
	// Secrets are what RUN --mount=type=secret,id=ID shows, by ID.
	Secrets map[string]Secret
	// Progress receives one line per step, RUN output and timings; nil
	// discards them.
	Progress io.Writer
	// TTY draws progress for a terminal: one line per step with its time,
	// RUN output shown only while the step runs.
	TTY bool
}

// Build builds the image and records it under every tag.
func (b *Builder) Build(ctx context.Context, o Options) (*image.Image, error) {
	if err := b.check(&o); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(o.Dockerfile)
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	df, err := parseDockerfile(filepath.Base(o.Dockerfile), data)
	if err != nil {
		return nil, err
	}
	ctxSrc, err := newContextSource(o.ContextDir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{b.Root, b.tmpDir(), b.bundleDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create build state: %w", err)
		}
	}
	unlock, err := b.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	unhold, err := b.Images.HoldGC()
	if err != nil {
		return nil, err
	}
	defer unhold()
	if err := runtime.PrepareToWait(); err != nil {
		return nil, err
	}
	bd := &build{b: b, o: o, df: df, ctxSrc: ctxSrc, p: newProgress(o.Progress, o.TTY), results: map[int]*state{}}
	st, err := bd.run(ctx)
	if err != nil {
		return nil, err
	}
	if len(o.Labels) > 0 && st.cfg.Config.Labels == nil {
		st.cfg.Config.Labels = map[string]string{}
	}
	for k, v := range o.Labels {
		st.cfg.Config.Labels[k] = v
	}
	raw, err := json.Marshal(st.cfg)
	if err != nil {
		return nil, err
	}
	img, err := b.Images.AddBuilt(ctx, raw, st.layers, o.Tags)
	if err != nil {
		return nil, fmt.Errorf("record the image: %w", err)
	}
	n := bd.p.begin("exporting to image")
	bd.p.note(n, "writing image %s done", img.ID)
	for _, t := range o.Tags {
		bd.p.note(n, "naming to %s done", t)
	}
	bd.p.end(n, "DONE", nil)
	return img, nil
}

func (b *Builder) tmpDir() string    { return filepath.Join(b.Root, "tmp") }
func (b *Builder) bundleDir() string { return filepath.Join(b.Root, "bundles") }

// check validates the options before anything is made.
func (b *Builder) check(o *Options) error {
	if o.ContextDir == "" {
		return errors.New("no build context: give a directory (or - for a tar on stdin)")
	}
	abs, err := filepath.Abs(o.ContextDir)
	if err != nil {
		return err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return fmt.Errorf("build context %s is not a directory", o.ContextDir)
	}
	o.ContextDir = abs
	if o.Dockerfile == "" {
		o.Dockerfile = filepath.Join(abs, "Dockerfile")
	}
	if _, err := os.Stat(o.Dockerfile); err != nil {
		return fmt.Errorf("no Dockerfile at %s: give one with -f", o.Dockerfile)
	}
	for _, t := range o.Tags {
		r, err := image.ParseReference(t)
		if err != nil {
			return fmt.Errorf("-t %s: %w", t, err)
		}
		if r.Digest != "" {
			return fmt.Errorf("-t %s: name the image NAME[:TAG], without a digest", t)
		}
	}
	switch o.Network {
	case "", network.DefaultNetwork, "default":
		o.Network = network.DefaultNetwork
		if b.Net == nil {
			return errors.New("RUN steps need the default bridge, which this builder has not: use --network none or host")
		}
	case "none", "host":
	default:
		return fmt.Errorf("--network %s: kago build runs RUN steps on the default bridge, or with none or host", o.Network)
	}
	for id, sec := range o.Secrets {
		if sec.Src != "" {
			if st, err := os.Stat(sec.Src); err != nil || !st.Mode().IsRegular() {
				return fmt.Errorf("--secret id=%s: src %s is not a readable file", id, sec.Src)
			}
		}
	}
	if o.Platform != "" {
		want, err := image.ParsePlatform(o.Platform)
		if err != nil {
			return err
		}
		if host := image.HostPlatform(); image.FormatPlatform(want) != image.FormatPlatform(host) {
			return fmt.Errorf("--platform %s: kago build builds for this machine's platform, %s, only", o.Platform, image.FormatPlatform(host))
		}
	}
	return nil
}

// build is one Build in progress.
type build struct {
	b       *Builder
	o       Options
	df      *dockerfile
	ctxSrc  *source
	p       *progress
	mu      sync.Mutex
	results map[int]*state // finished stages by index
	done    map[int]chan struct{}
	meta    []string // ARGs before FROM, K=V
}

// state is a stage's image as its instructions build it.
type state struct {
	cfg    dockerspec.DockerOCIImage
	layers []ocispec.Descriptor
	key    digest.Digest // cache key: everything that made this state
	args   []string      // ARGs in scope with a value, K=V
	cmdSet bool          // CMD was given in this stage
}

func (s *state) clone() *state {
	c := *s
	raw, _ := json.Marshal(s.cfg)
	c.cfg = dockerspec.DockerOCIImage{}
	_ = json.Unmarshal(raw, &c.cfg)
	c.layers = append([]ocispec.Descriptor(nil), s.layers...)
	c.args = nil
	c.cmdSet = false
	return &c
}

// run builds the target stage and the stages it needs, in file order.
func (bd *build) run(ctx context.Context) (*state, error) {
	if err := bd.metaArgs(); err != nil {
		return nil, err
	}
	target := len(bd.df.stages) - 1
	if bd.o.Target != "" {
		i, ok := instructions.HasStage(bd.df.stages, bd.o.Target)
		if !ok {
			return nil, fmt.Errorf("--target %s: no stage of that name in %s", bd.o.Target, bd.df.name)
		}
		target = i
	}
	need := map[int]bool{}
	if err := bd.needs(target, need); err != nil {
		return nil, err
	}
	// Stages run at once, each waiting for the stages it builds on or
	// copies from (which come before it in the file).
	bd.done = map[int]chan struct{}{}
	for i := range need {
		bd.done[i] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range need {
		g.Go(func() error {
			for _, j := range bd.deps(i) {
				select {
				case <-bd.done[j]:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			st, err := bd.stage(gctx, i)
			if err != nil {
				return err
			}
			bd.mu.Lock()
			bd.results[i] = st
			bd.mu.Unlock()
			close(bd.done[i])
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return bd.result(target), nil
}

// result is the state a finished stage left.
func (bd *build) result(i int) *state {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	return bd.results[i]
}

// deps lists the stages stage i builds on or copies from.
func (bd *build) deps(i int) []int {
	need := map[int]bool{}
	_ = bd.needs(i, need)
	var out []int
	for j := range need {
		if j != i {
			out = append(out, j)
		}
	}
	sort.Ints(out)
	return out
}

// metaArgs evaluates the ARGs before the first FROM, after BuildKit's
// automatic platform ARGs (usable in FROM lines, and in a stage that
// declares them).
func (bd *build) metaArgs() error {
	plat := image.HostPlatform()
	for _, pre := range []string{"TARGET", "BUILD"} {
		bd.meta = append(bd.meta, pre+"PLATFORM="+image.FormatPlatform(plat), pre+"OS="+plat.OS,
			pre+"ARCH="+plat.Architecture, pre+"VARIANT="+plat.Variant)
	}
	for _, a := range bd.df.metaArgs {
		for _, kv := range a.Args {
			v, ok := bd.o.BuildArgs[kv.Key]
			if !ok && kv.Value != nil {
				var err error
				if v, err = bd.expand(*kv.Value, bd.meta); err != nil {
					return fmt.Errorf("%s:%d: %w", bd.df.name, line(&a), err)
				}
				ok = true
			}
			if ok {
				bd.meta = image.SetEnv(bd.meta, kv.Key, v)
			}
		}
	}
	return nil
}

// stageIndex finds a stage by name (case-insensitive) or number, before i.
func (bd *build) stageIndex(name string, before int) (int, bool) {
	for j := 0; j < before; j++ {
		if strings.EqualFold(bd.df.stages[j].Name, name) {
			return j, true
		}
	}
	var n int
	if _, err := fmt.Sscanf(name, "%d", &n); err == nil && fmt.Sprint(n) == name && n >= 0 && n < before {
		return n, true
	}
	return 0, false
}

// needs marks stage i and every stage it builds on or copies from.
func (bd *build) needs(i int, need map[int]bool) error {
	if need[i] {
		return nil
	}
	need[i] = true
	st := bd.df.stages[i]
	base, err := bd.expand(st.BaseName, bd.meta)
	if err != nil {
		return fmt.Errorf("%s:%d: FROM %s: %w", bd.df.name, stageLine(st), st.BaseName, err)
	}
	if j, ok := bd.stageIndex(base, i); ok {
		if err := bd.needs(j, need); err != nil {
			return err
		}
	}
	for _, c := range st.Commands {
		var froms []string
		switch c := c.(type) {
		case *instructions.CopyCommand:
			froms = append(froms, c.From)
		case *instructions.RunCommand:
			for _, m := range instructions.GetMounts(c) {
				froms = append(froms, m.From)
			}
		}
		for _, from := range froms {
			if j, ok := bd.stageIndex(from, i); ok && from != "" {
				if err := bd.needs(j, need); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func stageLine(st instructions.Stage) int {
	if len(st.Location) > 0 {
		return st.Location[0].Start.Line
	}
	return 0
}
