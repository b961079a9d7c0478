// Command containerd-shim-kago-v2 is kago's containerd shim: containerd
// runs it for the runtime name io.containerd.kago.v2. One shim process
// serves a pod (or a lone container) and runs its containers with kago's
// runtime package in-process, without an OCI runtime binary per operation.
package main

import (
	_ "github.com/kago-run/kago/linux/nsenter" // namespace entry before the Go runtime starts
	"github.com/kago-run/kago/runtime/containerinit"
	"github.com/kago-run/kago/shim"
)

func main() {
	// The container's init re-executes this binary; it must not reach the
	// shim code.
	containerinit.MaybeRun()
	shim.Main()
}
