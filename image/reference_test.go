package image

import (
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseReference(t *testing.T) {
	for in, want := range map[string]string{
		"httpd":                         "docker.io/library/httpd:latest",
		"httpd:2.4":                     "docker.io/library/httpd:2.4",
		"library/httpd":                 "docker.io/library/httpd:latest",
		"docker.io/library/httpd:2.4":   "docker.io/library/httpd:2.4",
		"index.docker.io/library/httpd": "docker.io/library/httpd:latest",
		"bitnami/redis:7":               "docker.io/bitnami/redis:7",
		"ghcr.io/owner/name:tag":        "ghcr.io/owner/name:tag",
		"localhost/app":                 "localhost/app:latest",
		"localhost:5000/app@sha256:" + strings.Repeat("a", 64):       "localhost:5000/app@sha256:" + strings.Repeat("a", 64),
		"127.0.0.1:15000/a/b/c:v1@sha256:" + strings.Repeat("b", 64): "127.0.0.1:15000/a/b/c:v1@sha256:" + strings.Repeat("b", 64),
		"[::1]:5000/app:1": "[::1]:5000/app:1",
	} {
		r, err := ParseReference(in)
		if err != nil {
			t.Errorf("ParseReference(%q): %v", in, err)
			continue
		}
		if r.String() != want {
			t.Errorf("ParseReference(%q) = %q, want %q", in, r.String(), want)
		}
	}
	for _, in := range []string{"", "UPPER", "httpd:", "httpd:bad tag", "a//b", "/abs", "httpd@sha256:short", "httpd@md5:" + strings.Repeat("a", 32), "-x", "x:" + strings.Repeat("t", 129), "host:99999999/x", strings.Repeat("a", 300)} {
		if r, err := ParseReference(in); err == nil {
			t.Errorf("ParseReference(%q) = %q, want error", in, r)
		}
	}
	if got := FamiliarName("docker.io/library/httpd"); got != "httpd" {
		t.Errorf("FamiliarName = %q", got)
	}
	if got := FamiliarName("docker.io/bitnami/redis"); got != "bitnami/redis" {
		t.Errorf("FamiliarName = %q", got)
	}
}

// FuzzParseReference checks that parsing never panics and that a parsed
// reference parses again to itself.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"httpd", "httpd:2.4", "docker.io/library/httpd:2.4", "localhost:5000/app@sha256:" + strings.Repeat("a", 64), "ghcr.io/owner/name:tag", "[::1]:5000/a", "a:b:c", "@", ":", "a/b:c@sha256:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		r2, err := ParseReference(r.String())
		if err != nil {
			t.Fatalf("%q parsed to %q which does not parse: %v", s, r.String(), err)
		}
		if r2 != r {
			t.Fatalf("%q: %+v reparses to %+v", s, r, r2)
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:` + strings.Repeat("b", 64) + `","size":20}]}`))
	f.Add([]byte(`{"schemaVersion":1,"fsLayers":[]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("c", 64) + `","size":5,"platform":{"os":"linux","architecture":"amd64"}}]}`))
	f.Add([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("d", 64) + `"]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := DecodeManifest(data); err == nil {
			if err := checkDescriptor(m.Config); err != nil {
				t.Fatalf("accepted manifest with bad config: %v", err)
			}
		}
		if idx, err := DecodeIndex(data); err == nil {
			for _, m := range idx.Manifests {
				if m.Digest.Validate() != nil {
					t.Fatal("accepted index with bad digest")
				}
			}
			_, _ = choosePlatform(idx, HostPlatform())
		}
		if cfg, err := DecodeConfig(data, 1); err == nil {
			_ = ChainIDs(cfg.RootFS.DiffIDs)
		}
		_ = sniffMediaType(data)
	})
}

func FuzzApplyChange(f *testing.F) {
	for _, s := range []string{`CMD ["a","b"]`, "CMD echo hi", "ENV A=1 B=2", "ENV A 1", "EXPOSE 80/tcp 53/udp", "WORKDIR /x", "USER 1000:1000", "LABEL a=b", "VOLUME /data", "STOPSIGNAL SIGTERM", "RUN x", "", "EXPOSE 0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = ApplyChange(&ocispec.ImageConfig{}, s)
	})
}

// TestApplyChangeVolume: VOLUME takes paths (blank-separated or a JSON
// list), not a command run by the shell.
func TestApplyChangeVolume(t *testing.T) {
	for change, want := range map[string][]string{
		"VOLUME /cache":             {"/cache"},
		"VOLUME /a /b":              {"/a", "/b"},
		`VOLUME ["/data", "/logs"]`: {"/data", "/logs"},
	} {
		var c ocispec.ImageConfig
		if err := ApplyChange(&c, change); err != nil {
			t.Fatal(err)
		}
		if len(c.Volumes) != len(want) {
			t.Errorf("%s: volumes %v, want %v", change, c.Volumes, want)
		}
		for _, p := range want {
			if _, ok := c.Volumes[p]; !ok {
				t.Errorf("%s: volumes %v, want %v", change, c.Volumes, want)
			}
		}
	}
}
