package e2e

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// TestRunPullsMissingImage: run pulls an image the store lacks, as docker
// does, from an in-process registry on loopback.
func TestRunPullsMissingImage(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/e2e/bb:1"
	e.ok("tag", "bb", ref)
	e.ok("push", ref)
	e.ok("rmi", ref, "bb")
	if out, _, _ := e.run("images"); strings.Contains(out, "e2e/bb") {
		t.Fatalf("image still in the store:\n%s", out)
	}
	out, errs, code := e.run("run", "--name", "pulled", ref, "echo", "pulled")
	if code != 0 || out != "pulled\n" {
		t.Fatalf("run of a missing image: exit %d stdout %q stderr %q", code, out, errs)
	}
}
