package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kago-run/kago/archive"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImportOptions control Import.
type ImportOptions struct {
	// Changes are Dockerfile instructions applied to the config: CMD,
	// ENTRYPOINT, ENV, EXPOSE, WORKDIR, USER, LABEL, STOPSIGNAL, VOLUME.
	Changes []string
	// Message is recorded in the image history.
	Message string
	// Platform of the image (default the host's).
	Platform string
}

// Import makes a one-layer image from a root filesystem tar (gzip, zstd or
// plain), like docker import, and tags it ref if ref is not empty.
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, o ImportOptions) (*Image, error) {
	var name Reference
	if ref != "" {
		var err error
		if name, err = ParseReference(ref); err != nil {
			return nil, err
		}
		if name.Digest != "" {
			return nil, fmt.Errorf("import: %q: name the image NAME[:TAG], without a digest", ref)
		}
	}
	plat, err := ParsePlatform(o.Platform)
	if err != nil {
		return nil, err
	}
	cfgBody := ocispec.ImageConfig{}
	for _, c := range o.Changes {
		if err := ApplyChange(&cfgBody, c); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	unlock, err := s.holdGC()
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Spool the tar to a temp file, learning its digests on the way.
	tmp, err := os.CreateTemp(s.content.ingest, "import-")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	blob, diffID, size, comp, err := layerDigests(io.TeeReader(ctxReader{ctx, r}, tmp))
	if err != nil {
		return nil, fmt.Errorf("import: read root filesystem tar: %w", err)
	}
	mt := layerMediaType(comp, false)
	now := time.Now().UTC()
	cfg := ocispec.Image{
		Created:  &now,
		Platform: plat,
		Config:   cfgBody,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History:  []ocispec.History{{Created: &now, CreatedBy: "kago import", Comment: o.Message}},
	}
	cfgRaw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	src := func(_ context.Context, _ ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
		f, err := os.Open(tmp.Name())
		if err != nil {
			return nil, 0, err
		}
		return seekTo(f, offset)
	}
	rec, err := s.ingestLocal(ctx, cfgRaw, []ocispec.Descriptor{{MediaType: mt, Digest: blob, Size: size}}, src)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := s.commit(rec, name, pulledManifest{}); err != nil {
		return nil, err
	}
	return s.Resolve(rec.ID.String())
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ApplyChange applies one Dockerfile instruction, as docker import --change
// takes them, to an image config.
func ApplyChange(c *ocispec.ImageConfig, change string) error {
	change = strings.TrimSpace(change)
	instr, arg, _ := strings.Cut(change, " ")
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return fmt.Errorf("change %q: missing argument", change)
	}
	switch strings.ToUpper(instr) {
	case "CMD":
		c.Cmd = commandArgs(arg)
	case "ENTRYPOINT":
		c.Entrypoint = commandArgs(arg)
	case "ENV":
		pairs, err := keyValues(arg)
		if err != nil {
			return fmt.Errorf("change %q: %w", change, err)
		}
		for _, kv := range pairs {
			k, v, _ := strings.Cut(kv, "=")
			c.Env = SetEnv(c.Env, k, v)
		}
	case "LABEL":
		pairs, err := keyValues(arg)
		if err != nil {
			return fmt.Errorf("change %q: %w", change, err)
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, kv := range pairs {
			k, v, _ := strings.Cut(kv, "=")
			c.Labels[k] = v
		}
	case "EXPOSE":
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range strings.Fields(arg) {
			port, proto, ok := strings.Cut(p, "/")
			if !ok {
				proto = "tcp"
			}
			if !isPort(port) || (proto != "tcp" && proto != "udp" && proto != "sctp") {
				return fmt.Errorf("change %q: bad port %q (want PORT[/tcp|udp|sctp])", change, p)
			}
			c.ExposedPorts[port+"/"+proto] = struct{}{}
		}
	case "VOLUME":
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		// A JSON list or paths separated by blanks; not a command: the
		// shell form would make "/bin/sh" and "-c" volumes.
		paths := strings.Fields(arg)
		if strings.HasPrefix(arg, "[") {
			if err := json.Unmarshal([]byte(arg), &paths); err != nil {
				return fmt.Errorf("change %q: %w", change, err)
			}
		}
		for _, v := range paths {
			c.Volumes[v] = struct{}{}
		}
	case "WORKDIR":
		c.WorkingDir = arg
	case "USER":
		c.User = arg
	case "STOPSIGNAL":
		c.StopSignal = arg
	default:
		return fmt.Errorf("change %q: unsupported instruction %q (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL)", change, instr)
	}
	return nil
}

// commandArgs takes the JSON form ["a","b"] or the shell form, which runs
// under /bin/sh -c as in a Dockerfile.
func commandArgs(arg string) []string {
	if strings.HasPrefix(arg, "[") {
		var list []string
		if json.Unmarshal([]byte(arg), &list) == nil {
			return list
		}
	}
	return []string{"/bin/sh", "-c", arg}
}

// keyValues parses "K=V K2=V2" or the legacy "K V" form.
func keyValues(arg string) ([]string, error) {
	if !strings.Contains(arg, "=") {
		k, v, ok := strings.Cut(arg, " ")
		if !ok {
			return nil, fmt.Errorf("want KEY=VALUE")
		}
		return []string{k + "=" + strings.TrimSpace(v)}, nil
	}
	var out []string
	for _, f := range strings.Fields(arg) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want KEY=VALUE", f)
		}
		out = append(out, k+"="+strings.Trim(v, `"`))
	}
	return out, nil
}

// SetEnv sets KEY=VALUE in a KEY=VALUE list (an image config's Env, a
// build's args), replacing an earlier KEY; env itself is left as it is.
func SetEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name == key {
			out := slices.Clone(env)
			out[i] = key + "=" + value
			return out
		}
	}
	return append(slices.Clone(env), key+"="+value)
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n > 0 && n < 65536
}

// layerMediaType names a layer's media type from its compression, in docker's
// or OCI's vocabulary.
func layerMediaType(comp archive.Compression, docker bool) string {
	switch {
	case comp == archive.Gzip && docker:
		return MediaTypeDockerLayer
	case comp == archive.Gzip:
		return ocispec.MediaTypeImageLayerGzip
	case comp == archive.Zstd:
		return ocispec.MediaTypeImageLayerZstd
	case docker:
		return "application/vnd.docker.image.rootfs.diff.tar"
	}
	return ocispec.MediaTypeImageLayer
}
