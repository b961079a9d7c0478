package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// podman runs Debian's podman with its own storage under dir (runc: crun
// refuses hybrid cgroup layouts), for comparing builds.
type podman struct {
	t   *testing.T
	dir string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc is not installed")
	}
	p := &podman{t: t, dir: t.TempDir()}
	t.Cleanup(func() {
		exec.Command("podman", p.args("system", "reset", "--force")...).Run()
	})
	return p
}

func (p *podman) args(args ...string) []string {
	return append([]string{"--root", filepath.Join(p.dir, "root"), "--runroot", filepath.Join(p.dir, "run"),
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--storage-driver", "overlay", "--runtime", "runc"}, args...)
}

func (p *podman) ok(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("podman", p.args(args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// treeListing lists every file of the image as kago runs it: path, mode,
// owner, type, and the md5 of regular files. The files the engine mounts
// per container are left out.
const treeListing = `find / -xdev | sort | while read f; do stat -c "%n %a %u %g %F" "$f"; done; find / -xdev -type f | sort | xargs md5sum`

func (e *env) tree(ref string) string {
	e.t.Helper()
	var keep []string
	for _, l := range strings.Split(e.ok("run", "--rm", "--network", "none", ref, "sh", "-c", treeListing), "\n") {
		if !strings.Contains(l, "/etc/hostname") && !strings.Contains(l, "/etc/hosts") && !strings.Contains(l, "/etc/resolv.conf") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestBuildMatchesPodman builds one Dockerfile with kago and with podman
// build and compares the images' file trees and configs.
func TestBuildMatchesPodman(t *testing.T) {
	e := newEnv(t)
	p := newPodman(t)
	p.ok("import", imageTar, "localhost/bb:latest")
	e.ok("import", imageTar, "localhost/bb:latest") // as podman has it: no CMD, no EXPOSE
	dir := buildContext(t, map[string]string{
		"Dockerfile": `FROM localhost/bb:latest AS builder
ARG V=1
ENV APP=/app
WORKDIR $APP/src
COPY src/ ./
RUN echo "v$V" > version && mkdir -p gen && echo made > gen/out && rm /etc/group
ADD files.tar /app/unpacked/

FROM localhost/bb:latest
COPY --from=builder /app /app
COPY --chown=65534:65534 --chmod=0600 conf.txt /etc/app/conf.txt
RUN rm -rf /tmp && mkdir /tmp && chmod 1777 /tmp
WORKDIR /app
USER nobody
ENV MODE=prod PATH=/usr/bin:/bin
EXPOSE 8080 53/udp
VOLUME /data
LABEL org.kago.test=build
STOPSIGNAL SIGINT
ENTRYPOINT ["sh", "-c"]
CMD ["cat /app/src/version"]
`,
		".dockerignore": "src/*.tmp\n",
		"src/main.txt":  "main\n",
		"src/skip.tmp":  "tmp\n",
		"src/sub/x.txt": "x\n",
		"conf.txt":      "conf\n",
		"files.tar":     tarOf(t, map[string]string{"t/inner.txt": "inner\n"}),
	})
	e.ok("build", "-t", "localhost/cmp:kago", "--build-arg", "V=7", dir)
	p.ok("build", "--network", "none", "--build-arg", "V=7", "-t", "localhost/cmp:podman", dir)
	archive := filepath.Join(t.TempDir(), "podman.tar")
	p.ok("save", "--format", "oci-archive", "-o", archive, "localhost/cmp:podman")
	e.ok("load", "-i", archive)
	if k, pd := e.tree("localhost/cmp:kago"), e.tree("localhost/cmp:podman"); k != pd {
		kf, pf := filepath.Join(t.TempDir(), "kago.lst"), filepath.Join(t.TempDir(), "podman.lst")
		os.WriteFile(kf, []byte(k), 0o644)
		os.WriteFile(pf, []byte(pd), 0o644)
		diff, _ := exec.Command("diff", kf, pf).CombinedOutput()
		t.Errorf("file trees differ (< kago, > podman):\n%s", diff)
	}
	kc, pc := e.imageConfig("localhost/cmp:kago")["config"].(map[string]any), e.imageConfig("localhost/cmp:podman")["config"].(map[string]any)
	if labels, ok := pc["Labels"].(map[string]any); ok {
		delete(labels, "io.buildah.version")
	}
	for _, f := range []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal"} {
		if !reflect.DeepEqual(kc[f], pc[f]) {
			kj, _ := json.Marshal(kc[f])
			pj, _ := json.Marshal(pc[f])
			t.Errorf("config %s: kago %s, podman %s", f, kj, pj)
		}
	}
}
