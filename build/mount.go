package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runMount is one RUN --mount, checked and resolved: what it mounts is
// known before the step's cache key is made, what it needs on the host
// (a snapshot, a cache directory, a secret's file) is made when the step
// runs.
type runMount struct {
	m      *instructions.Mount
	target string // absolute, clean
	// bind from the context: the source, and whether it must be copied
	// (read-write, or .dockerignore hides some of it) rather than bound.
	ctx *match
	// secret: its value's origin; nil for a secret not given (skipped).
	secret *Secret
	secID  string
}

// planMounts checks the mounts of a RUN and returns them with the parts of
// the step's cache key they add: each mount's options, and for a bind from
// the context the digest of what it shows (a secret adds its id, never its
// value; a cache mount its id, not its content).
func (bd *build) planMounts(ctx context.Context, st *state, i int, ms []*instructions.Mount) ([]runMount, []string, error) {
	var out []runMount
	var key []string
	for _, m := range ms {
		rm := runMount{m: m}
		target := m.Target
		switch m.Type {
		case instructions.MountTypeSSH:
			return nil, nil, fmt.Errorf("--mount=type=ssh is %w: kago build forwards no SSH agent", errUnsupported)
		case instructions.MountTypeSecret:
			rm.secID = m.CacheID
			if rm.secID == "" {
				rm.secID = path.Base(target)
			}
			if rm.secID == "" || rm.secID == "." || rm.secID == "/" {
				return nil, nil, errors.New("--mount=type=secret needs an id (or a target to take it from)")
			}
			if target == "" && m.Env == nil {
				target = "/run/secrets/" + rm.secID
			}
			if sec, ok := bd.o.Secrets[rm.secID]; ok {
				rm.secret = &sec
			} else if m.Required {
				return nil, nil, fmt.Errorf("secret %q is required but was not given: pass it with --secret id=%s,src=FILE", rm.secID, rm.secID)
			}
		case instructions.MountTypeCache:
			if m.From != "" {
				return nil, nil, fmt.Errorf("--mount=type=cache,from=%s is %w: a cache mount starts empty", m.From, errUnsupported)
			}
		}
		if target != "" {
			if !path.IsAbs(target) {
				target = path.Join("/", st.cfg.Config.WorkingDir, target)
			}
			target = path.Clean(target)
			if target == "/" {
				return nil, nil, fmt.Errorf("--mount=type=%s: the target cannot be /", m.Type)
			}
		} else if m.Type != instructions.MountTypeSecret {
			return nil, nil, fmt.Errorf("--mount=type=%s needs a target=PATH", m.Type)
		}
		if strings.IndexByte(target, 0) >= 0 || strings.IndexByte(m.Source, 0) >= 0 {
			return nil, nil, fmt.Errorf("--mount=type=%s: a path contains a NUL byte", m.Type)
		}
		rm.target = target
		key = append(key, jsonString(m), target)
		if m.Type == instructions.MountTypeBind {
			if m.From == "" {
				found, err := bd.ctxSrc.resolve(m.Source)
				if err != nil {
					return nil, nil, fmt.Errorf("--mount=type=bind,source=%s: %w", m.Source, err)
				}
				if len(found) != 1 {
					return nil, nil, fmt.Errorf("--mount=type=bind,source=%s: names %d files, a mount shows one", m.Source, len(found))
				}
				rm.ctx = &found[0]
				digest, err := contentDigest(ctx, found, []bool{false}, nil)
				if err != nil {
					return nil, nil, err
				}
				key = append(key, digest)
			} else {
				k, err := bd.fromKey(ctx, i, m.From)
				if err != nil {
					return nil, nil, err
				}
				key = append(key, k)
			}
		}
		out = append(out, rm)
	}
	return out, key, nil
}

// fromKey is what a --from names in a cache key: a stage's key or an
// image's ID.
func (bd *build) fromKey(ctx context.Context, i int, from string) (string, error) {
	if j, ok := bd.stageIndex(from, i); ok {
		return bd.result(j).key.String(), nil
	}
	img, err := bd.b.Resolve(ctx, from, false)
	if err != nil {
		return "", fmt.Errorf("from=%s: not a stage before this one, nor an image: %w", from, err)
	}
	return img.ID.String(), nil
}

// mountSpecs makes the OCI mounts of a RUN step's --mounts and the
// environment its secrets add. dir is a private directory of the step
// (removed after it); release undoes what was made for the mounts.
func (bd *build) mountSpecs(ctx context.Context, i int, rms []runMount, dir string) (mounts []specs.Mount, env []string, release func(), err error) {
	var undo []func()
	release = func() {
		for j := len(undo) - 1; j >= 0; j-- {
			undo[j]()
		}
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	for n, rm := range rms {
		m := rm.m
		ro := func(opts ...string) []string {
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			return opts
		}
		switch m.Type {
		case instructions.MountTypeBind:
			var src string
			if rm.ctx != nil {
				if src, err = bd.contextBindSource(ctx, *rm.ctx, m.ReadOnly, filepath.Join(dir, "bind-"+strconv.Itoa(n))); err != nil {
					return nil, nil, nil, err
				}
			} else {
				s, _, rel, err := bd.copySource(ctx, i, m.From)
				if err != nil {
					return nil, nil, nil, err
				}
				undo = append(undo, rel)
				found, err := s.resolve(m.Source)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("--mount=type=bind,from=%s,source=%s: %w", m.From, m.Source, err)
				}
				if len(found) != 1 {
					return nil, nil, nil, fmt.Errorf("--mount=type=bind,from=%s,source=%s: names %d files, a mount shows one", m.From, m.Source, len(found))
				}
				src = found[0].real // in the stage's own writable snapshot: rw writes are dropped with it
			}
			mounts = append(mounts, specs.Mount{Destination: rm.target, Type: "bind", Source: src, Options: ro("rbind", "rprivate")})
		case instructions.MountTypeCache:
			src, unlock, err := bd.b.cacheMount(ctx, m)
			if err != nil {
				return nil, nil, nil, err
			}
			undo = append(undo, unlock)
			mounts = append(mounts, specs.Mount{Destination: rm.target, Type: "bind", Source: src, Options: ro("rbind", "rprivate")})
		case instructions.MountTypeTmpfs:
			opts := []string{"nosuid", "nodev"}
			if m.SizeLimit > 0 {
				opts = append(opts, "size="+strconv.FormatInt(m.SizeLimit, 10))
			}
			mounts = append(mounts, specs.Mount{Destination: rm.target, Type: "tmpfs", Source: "tmpfs", Options: ro(opts...)})
		case instructions.MountTypeSecret:
			if rm.secret == nil {
				continue // not given and not required: BuildKit skips it
			}
			value, err := rm.secret.read()
			if err != nil {
				return nil, nil, nil, fmt.Errorf("secret %q: %w", rm.secID, err)
			}
			if m.Env != nil {
				name := *m.Env
				if name == "" {
					name = rm.secID
				}
				env = append(env, name+"="+string(value))
			}
			if rm.target == "" {
				continue
			}
			f := filepath.Join(dir, "secret-"+strconv.Itoa(n))
			mode := os.FileMode(0o400)
			if m.Mode != nil {
				mode = os.FileMode(*m.Mode & 0o7777)
			}
			if err := os.WriteFile(f, value, 0o600); err != nil {
				return nil, nil, nil, fmt.Errorf("secret %q: %w", rm.secID, err)
			}
			uid, gid := 0, 0
			if m.UID != nil {
				uid = int(*m.UID)
			}
			if m.GID != nil {
				gid = int(*m.GID)
			}
			if err := os.Chown(f, uid, gid); err != nil {
				return nil, nil, nil, fmt.Errorf("secret %q: %w", rm.secID, err)
			}
			if err := os.Chmod(f, mode); err != nil {
				return nil, nil, nil, fmt.Errorf("secret %q: %w", rm.secID, err)
			}
			mounts = append(mounts, specs.Mount{Destination: rm.target, Type: "bind", Source: f, Options: []string{"rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"}})
		}
	}
	return mounts, env, release, nil
}

// contextBindSource is what a bind mount from the context shows: a
// read-only mount of a file, or of a directory nothing in which is
// ignored, binds it as it is; otherwise a copy in dir, without the ignored
// files, where a read-write mount's writes go and are dropped after the
// step, the context untouched.
func (bd *build) contextBindSource(ctx context.Context, m match, readOnly bool, dir string) (string, error) {
	if readOnly && (!m.dir || bd.ctxSrc.ignore == nil) {
		return m.real, nil
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	it := copyItem{src: m.src, m: m, dest: "f"}
	if m.dir {
		it.dest, it.contents = ".", true
	}
	if err := applyCopy(ctx, dir, nil, []copyItem{it}, owner{}); err != nil {
		return "", fmt.Errorf("copy %s for a bind mount: %w", m.rel, err)
	}
	return filepath.Join(dir, it.dest), nil
}
