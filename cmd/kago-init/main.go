// Command kago-init is the program a container's init process runs before it
// execs the user's process. kago-runc and kago carry the same init and use it
// when kago-init is not beside them; a separate, small binary (a third of
// kago-runc's size) is cheaper to copy into the sealed memfd the init runs
// from (CVE-2019-5736) and to start, for every container. It is started only
// by the runtime, never by hand.
package main

import (
	"fmt"
	"os"

	_ "github.com/kago-run/kago/linux/nsenter" // namespace entry before the Go runtime starts
	"github.com/kago-run/kago/runtime/containerinit"
)

func main() {
	containerinit.MaybeRun()
	fmt.Fprintln(os.Stderr, "kago-init is the container init of kago-runc and kago; it is not run by hand")
	os.Exit(2)
}
