package engine

import (
	"archive/tar"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/linux/inroot"
	"github.com/kago-run/kago/runtime"
)

// withRootfs runs fn on the container's root filesystem (the merged
// overlay), mounting it for the time of fn when the container does not run.
func (e *Engine) withRootfs(ctx context.Context, rec *containers.Record, fn func(rootfs string) error) error {
	snaps := e.Images.Snapshots()
	wasRunning := e.Running(rec.ID)
	rootfs, err := snaps.Mount(ctx, rec.ID)
	if err != nil {
		return fmt.Errorf("mount the filesystem of %s: %w", rec.Name, err)
	}
	err = fn(rootfs)
	if !wasRunning && !e.Running(rec.ID) {
		if uerr := snaps.Unmount(context.WithoutCancel(ctx), rec.ID); uerr != nil {
			e.Log.Warn("unmount rootfs", "id", rec.ID, "error", uerr)
		}
	}
	return err
}

// Export writes the container's filesystem to w as a tar, as docker
// export does: the image's files with the container's changes, without its
// volumes and bind mounts.
func (e *Engine) Export(ctx context.Context, ref string, w io.Writer) error {
	rec, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	return e.withRootfs(ctx, rec, func(rootfs string) error {
		return archive.WriteTar(ctx, w, rootfs)
	})
}

// ChangeKind is docker diff's letter: A added, C changed, D deleted.
type ChangeKind string

// The kinds of change.
const (
	ChangeAdd    ChangeKind = "A"
	ChangeModify ChangeKind = "C"
	ChangeDelete ChangeKind = "D"
)

// Change is one line of docker diff.
type Change struct {
	Kind ChangeKind
	Path string
}

// Diff lists what the container changed in its filesystem, from its
// snapshot's upper directory read as the layer commit would make of it: a
// whiteout is a deletion, an entry the image has is a change, others are
// additions. Sorted by path, as docker's.
func (e *Engine) Diff(ctx context.Context, ref string) ([]Change, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	upper, err := e.Images.Snapshots().UpperDir(rec.ID)
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", rec.Name, err)
	}
	img, err := e.Images.Resolve(rec.ImageID)
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", rec.Name, err)
	}
	view, err := e.Images.Snapshots().View(ctx, img.ChainIDs)
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", rec.Name, err)
	}
	defer view.Close()
	inImage := func(p string) bool {
		fd, err := inroot.OpenAt(int(view.Fd()), p, unix.O_PATH|unix.O_NOFOLLOW, unix.RESOLVE_NO_SYMLINKS)
		if err != nil {
			return false
		}
		unix.Close(fd)
		return true
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteTar(ctx, pw, upper)) }()
	defer pr.Close()
	var out []Change
	tr := tar.NewReader(pr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("changes of %s: %w", rec.Name, err)
		}
		p := path.Clean("/" + hdr.Name)
		dir, base := path.Split(p)
		switch {
		case base == ".wh..wh..opq":
			continue // the directory itself is listed
		case strings.HasPrefix(base, ".wh."):
			out = append(out, Change{ChangeDelete, path.Join(dir, strings.TrimPrefix(base, ".wh."))})
		case etcMountPoint[p] && hdr.Typeflag == tar.TypeReg && hdr.Size == 0 && !inImage(p):
			continue // made to mount the engine's file on, as docker's init layer
		case inImage(p):
			out = append(out, Change{ChangeModify, p})
		default:
			out = append(out, Change{ChangeAdd, p})
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// etcMountPoint are the files the engine bind-mounts its own over: made
// empty when the image lacks them, they are not the container's changes.
var etcMountPoint = map[string]bool{"/etc/hosts": true, "/etc/hostname": true, "/etc/resolv.conf": true}

// CommitOptions are docker commit's.
type CommitOptions struct {
	Ref     string // REPOSITORY[:TAG] to tag the image; "" for none
	Message string // -m: the history entry's comment
	Author  string // -a
	// Changes are Dockerfile instructions applied to the config (-c):
	// CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR,
	// STOPSIGNAL.
	Changes []string
	Pause   bool // pause a running container while its layer is made
}

// Commit makes an image of the container: its image's layers and one more
// of its changes (image.Store.CommitUpper, as a build step's), with the
// container's config (command, environment, working directory, user,
// labels, stop signal, healthcheck, ports), so it runs at once.
func (e *Engine) Commit(ctx context.Context, ref string, o CommitOptions) (*image.Image, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if o.Ref != "" {
		if r, err := image.ParseReference(o.Ref); err != nil || r.Digest != "" {
			return nil, fmt.Errorf("invalid reference %q: use REPOSITORY[:TAG]", o.Ref)
		}
	}
	base, err := e.Images.Resolve(rec.ImageID)
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", rec.Name, err)
	}
	raw, err := e.Images.ConfigJSON(base)
	if err != nil {
		return nil, err
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", image.ShortID(base.ID), err)
	}
	if err := e.containerConfig(rec, &cfg.Config); err != nil {
		return nil, err
	}
	for _, c := range o.Changes {
		if err := image.ApplyChange(&cfg.Config.ImageConfig, c); err != nil {
			return nil, err
		}
	}
	layers, err := e.Images.LayerDescriptors(base)
	if err != nil {
		return nil, err
	}
	release, err := e.Images.HoldGC()
	if err != nil {
		return nil, err
	}
	defer release()
	if o.Pause {
		if c, err := e.runtime.Load(rec.ID); err == nil && c.Status() == runtime.StatusRunning {
			if err := c.Pause(); err != nil {
				return nil, fmt.Errorf("pause %s: %w", rec.Name, err)
			}
			defer c.Resume()
		}
	}
	l, err := e.Images.CommitUpper(ctx, rec.ID, filepath.Join(e.Root, "tmp"), cfg.RootFS.DiffIDs)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", rec.Name, err)
	}
	now := time.Now().UTC()
	cfg.Created, cfg.Author = &now, o.Author
	h := ocispec.History{Created: &now, CreatedBy: strings.Join(rec.Command, " "), Comment: o.Message, Author: o.Author, EmptyLayer: l == nil}
	cfg.History = append(cfg.History, h)
	if l != nil {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
		layers = append(layers, l.Desc)
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var tags []string
	if o.Ref != "" {
		tags = []string{o.Ref}
	}
	return e.Images.AddBuilt(ctx, data, layers, tags)
}

// containerConfig sets the image config to the container's: its command,
// environment and working directory from its bundle, its user, labels,
// stop signal, healthcheck and published ports from the record.
func (e *Engine) containerConfig(rec *containers.Record, c *dockerspec.DockerOCIImageConfig) error {
	spec, err := readSpec(e.bundleConfig(rec.ID))
	if err == nil && spec.Process == nil {
		err = errors.New("it has no process")
	}
	if err != nil {
		return fmt.Errorf("config of %s: %w", rec.Name, err)
	}
	c.Env = slices.DeleteFunc(slices.Clone(spec.Process.Env), func(kv string) bool { return strings.HasPrefix(kv, "HOSTNAME=") })
	c.WorkingDir = spec.Process.Cwd
	if rec.Entrypoint != nil || rec.Cmd != nil {
		c.Entrypoint, c.Cmd = rec.Entrypoint, rec.Cmd
	}
	c.User = rec.User
	if len(rec.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		maps.Copy(c.Labels, rec.Labels)
	}
	c.StopSignal = rec.StopSignal
	if rec.Healthcheck != nil {
		b, _ := json.Marshal(rec.Healthcheck)
		c.Healthcheck = &dockerspec.HealthcheckConfig{}
		if err := json.Unmarshal(b, c.Healthcheck); err != nil {
			return fmt.Errorf("healthcheck of %s: %w", rec.Name, err)
		}
	}
	for _, p := range rec.Ports {
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		c.ExposedPorts[strconv.Itoa(int(p.ContainerPort))+"/"+cmp.Or(p.Protocol, "tcp")] = struct{}{}
	}
	return nil
}
