package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/logs"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/network"
)

// PruneFilter is --filter of the prune verbs, docker's keys: until=TIME
// (a duration back such as 24h, an RFC 3339 time or Unix seconds: only
// what was created before it) and label=KEY[=VALUE] / label!=KEY[=VALUE].
type PruneFilter struct {
	Until     time.Time
	Labels    []string // each must match
	NotLabels []string // none may match
}

// ParsePruneFilter parses --filter KEY=VALUE values.
func ParsePruneFilter(values []string, now time.Time) (PruneFilter, error) {
	var f PruneFilter
	for _, v := range values {
		key, val, ok := strings.Cut(v, "=")
		switch {
		case !ok || val == "":
			return f, fmt.Errorf("bad filter %q: use until=TIME, label=KEY[=VALUE] or label!=KEY[=VALUE]", v)
		case key == "until":
			t, err := logs.ParseTime(val, now)
			if err != nil {
				return f, fmt.Errorf("filter until: %w", err)
			}
			f.Until = t
		case key == "label":
			f.Labels = append(f.Labels, val)
		case key == "label!":
			f.NotLabels = append(f.NotLabels, val)
		default:
			return f, fmt.Errorf("invalid filter %q: use until=, label= or label!=", key)
		}
	}
	return f, nil
}

// matches tells whether an object created at created with labels passes.
func (f PruneFilter) matches(created time.Time, labels map[string]string) bool {
	if !f.Until.IsZero() && !created.Before(f.Until) {
		return false
	}
	for _, want := range f.Labels {
		if !hasLabel(labels, want) {
			return false
		}
	}
	for _, want := range f.NotLabels {
		if hasLabel(labels, want) {
			return false
		}
	}
	return true
}

// hasLabel tells whether labels has KEY, or KEY=VALUE as want says.
func hasLabel(labels map[string]string, want string) bool {
	k, val, hasVal := strings.Cut(want, "=")
	got, ok := labels[k]
	return ok && (!hasVal || got == val)
}

// Pruned is what a prune removed and the bytes it freed.
type Pruned struct {
	Removed []string
	Bytes   int64
}

// ContainerSize is the bytes a container wrote to its root (its snapshot's
// upper directory), docker's SizeRw.
func (e *Engine) ContainerSize(id string) int64 {
	upper, err := e.Images.Snapshots().UpperDir(id)
	if err != nil {
		return 0
	}
	return diskUsage(upper)
}

// stopped tells whether a record is a container prune takes: not running,
// not being started, restarted or removed.
func (e *Engine) stopped(r *containers.Record) bool {
	switch r.State.Status {
	case containers.StatusExited, containers.StatusCreated:
		return !r.Creating && !e.monitorAlive(r.ID) && !e.Running(r.ID)
	}
	return false
}

// PruneContainers removes every stopped container passing the filter
// (docker container prune; their anonymous volumes stay for volume prune).
func (e *Engine) PruneContainers(ctx context.Context, f PruneFilter) (Pruned, error) {
	var p Pruned
	list, err := e.List()
	if err != nil {
		return p, err
	}
	for _, r := range list {
		if !e.stopped(r) || !f.matches(r.Created, r.Labels) {
			continue
		}
		size := e.ContainerSize(r.ID)
		if err := e.Remove(ctx, r.ID, false, false); err != nil {
			if errors.Is(err, containers.ErrNotFound) {
				continue
			}
			return p, fmt.Errorf("prune container %s: %w", r.Name, err)
		}
		p.Removed, p.Bytes = append(p.Removed, r.ID), p.Bytes+size
	}
	return p, nil
}

// PruneNetworks removes the user networks no container is attached to
// (docker network prune). kago's networks carry no labels: a label filter
// matches none of them, a label! filter all.
func (e *Engine) PruneNetworks(ctx context.Context, f PruneFilter) (Pruned, error) {
	var p Pruned
	nets, err := e.Net.Networks(ctx)
	if err != nil {
		return p, err
	}
	used := map[string]bool{}
	list, err := e.List()
	if err != nil {
		return p, err
	}
	for _, r := range list {
		used[r.Network] = true // a stopped container's network is kept, as docker keeps it
	}
	for _, n := range nets {
		if n.Default || used[n.Name] || !f.matches(n.Created, nil) {
			continue
		}
		if err := e.Net.RemoveNetwork(ctx, n.Name); err != nil {
			if errors.Is(err, network.ErrInUse) || errors.Is(err, network.ErrNotFound) {
				continue // a container came, or another prune was first
			}
			return p, fmt.Errorf("prune network %s: %w", n.Name, err)
		}
		p.Removed = append(p.Removed, n.Name)
	}
	sort.Strings(p.Removed)
	return p, nil
}

// PruneImages removes dangling images (untagged), or with all every image
// no container uses, passing the filter (labels are the image config's),
// then frees the blobs and layers nothing refers to any more.
func (e *Engine) PruneImages(ctx context.Context, all bool, f PruneFilter) (Pruned, error) {
	var p Pruned
	imgs, err := e.Images.List()
	if err != nil {
		return p, err
	}
	pass := map[digest.Digest]bool{}
	for _, img := range imgs {
		if f.matches(img.Created, img.Config.Config.Labels) {
			pass[img.ID] = true
		}
	}
	res, err := e.Images.Prune(ctx, image.PruneOptions{All: all, Match: func(id digest.Digest) bool { return pass[id] }})
	if res != nil {
		for _, id := range res.Images {
			p.Removed = append(p.Removed, id.String())
		}
		p.Bytes = res.Bytes
	}
	return p, err
}
