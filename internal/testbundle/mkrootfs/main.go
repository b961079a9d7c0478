// Command mkrootfs writes a busybox root filesystem into a directory, for
// manual experiments and benchmarks: mkrootfs DIR.
package main

import (
	"github.com/kago-run/kago/internal/testbundle"
	"os"
)

func main() {
	if err := testbundle.Rootfs(os.Args[1]); err != nil {
		panic(err)
	}
}
