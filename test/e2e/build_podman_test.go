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

// podmanCase is one Dockerfile and context built by both, with the
// arguments both take.
type podmanCase struct {
	name  string
	files map[string]string
	args  []string
	// podmanStubs are lines of podman's tree kago leaves out on purpose:
	// the parents of RUN --mount targets buildah 1.28 makes and keeps,
	// which BuildKit (and kago) remove with the mount points.
	podmanStubs []string
}

// TestBuildMatchesPodman builds Dockerfiles with kago and with podman
// build and compares the images' file trees and configs: the classic
// instructions, and RUN --mount of every type podman builds (bind from the
// context and from a stage, cache, tmpfs, secret).
func TestBuildMatchesPodman(t *testing.T) {
	e := newEnv(t)
	p := newPodman(t)
	p.ok("import", imageTar, "localhost/bb:latest")
	e.ok("import", imageTar, "localhost/bb:latest") // as podman has it: no CMD, no EXPOSE
	secret := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(secret, []byte("s3cret-value"), 0o600)
	for _, c := range []podmanCase{{
		name: "instructions",
		files: map[string]string{
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
		},
		args: []string{"--build-arg", "V=7"},
	}, {
		name: "run-mounts",
		files: map[string]string{
			"Dockerfile": `FROM localhost/bb:latest AS tools
RUN mkdir -p /opt && echo tool > /opt/tool
FROM localhost/bb:latest
RUN --mount=type=bind,source=data,target=/src cp /src/in.txt /in.copy
RUN --mount=type=bind,from=tools,source=/opt,target=/mnt/opt cp /mnt/opt/tool /tool.copy
RUN --mount=type=cache,target=/cache,id=cmp echo c > /cache/x && ls /cache > /cache.list
RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && cat /scratch/t > /t.copy
RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /secret.len
`,
			"data/in.txt": "in\n",
		},
		args:        []string{"--secret", "id=tok,src=" + secret},
		podmanStubs: []string{"/mnt 755 0 0 directory", "/run/secrets 755 0 0 directory"},
	}} {
		e.comparePodman(p, c)
	}
}

// comparePodman builds one case with both and reports every difference.
func (e *env) comparePodman(p *podman, c podmanCase) {
	t := e.t
	dir := buildContext(t, c.files)
	e.ok(append(append([]string{"build", "-t", "localhost/cmp:kago"}, c.args...), dir)...)
	p.ok(append(append([]string{"build", "--network", "none", "-t", "localhost/cmp:podman"}, c.args...), dir)...)
	archive := filepath.Join(t.TempDir(), "podman.tar")
	p.ok("save", "--format", "oci-archive", "-o", archive, "localhost/cmp:podman")
	e.ok("load", "-i", archive)
	k, pd := e.tree("localhost/cmp:kago"), e.tree("localhost/cmp:podman")
	for _, l := range c.podmanStubs {
		if !strings.Contains(pd, "\n"+l+"\n") {
			t.Errorf("%s: podman's tree lacks %q: podmanStubs is out of date", c.name, l)
		}
		pd = strings.Replace(pd, "\n"+l+"\n", "\n", 1)
	}
	if k != pd {
		kf, pf := filepath.Join(t.TempDir(), "kago.lst"), filepath.Join(t.TempDir(), "podman.lst")
		os.WriteFile(kf, []byte(k), 0o644)
		os.WriteFile(pf, []byte(pd), 0o644)
		diff, _ := exec.Command("diff", kf, pf).CombinedOutput()
		t.Errorf("%s: file trees differ (< kago, > podman):\n%s", c.name, diff)
	}
	kc, pc := e.imageConfig("localhost/cmp:kago")["config"].(map[string]any), e.imageConfig("localhost/cmp:podman")["config"].(map[string]any)
	if labels, ok := pc["Labels"].(map[string]any); ok {
		delete(labels, "io.buildah.version")
		if len(labels) == 0 {
			delete(pc, "Labels")
		}
	}
	for _, f := range []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal"} {
		if !reflect.DeepEqual(kc[f], pc[f]) {
			kj, _ := json.Marshal(kc[f])
			pj, _ := json.Marshal(pc[f])
			t.Errorf("%s: config %s: kago %s, podman %s", c.name, f, kj, pj)
		}
	}
	e.ok("rmi", "localhost/cmp:kago", "localhost/cmp:podman")
	p.ok("rmi", "localhost/cmp:podman")
}
