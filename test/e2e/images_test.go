package e2e

import (
	"strings"
	"testing"
)

// TestRmiRefusesImageInUse: rmi refuses the last name of an image that a
// container (even a stopped one) uses, and `kago rm` still means containers,
// not images.
func TestRmiRefusesImageInUse(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "--name", "user", "bb:latest", "true")
	if errs := e.fails("rmi", "bb:latest"); !strings.Contains(errs, "use") {
		t.Errorf("rmi of an image in use: %q", errs)
	}
	if !strings.Contains(e.ok("images"), "bb") {
		t.Fatal("refused rmi removed the image anyway")
	}
	if errs := e.fails("rm", "bb:latest"); !strings.Contains(errs, "bb:latest") {
		t.Errorf("kago rm of an image name: %q", errs)
	}
	e.ok("rm", "user")
	e.ok("rmi", "bb:latest")
	if strings.Contains(e.ok("images"), "bb") {
		t.Error("rmi did not remove the image")
	}
}
