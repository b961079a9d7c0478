package rootfs_test

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/rootfs"
)

// The container init, already in its new mount namespace with the bundle
// as working directory, builds the filesystem and then execs the process.
func Example() {
	run := func(spec *specs.Spec) error {
		opts := rootfs.Options{NoPivot: os.Getenv("KAGO_NO_PIVOT") != ""}
		if err := rootfs.Prepare(spec, spec.Root.Path, opts); err != nil {
			return fmt.Errorf("prepare rootfs: %w", err)
		}
		if err := rootfs.Pivot(spec.Root.Path, opts); err != nil {
			return err
		}
		if err := rootfs.Finalize(spec, nil); err != nil {
			return err
		}
		return unix.Exec(spec.Process.Args[0], spec.Process.Args, spec.Process.Env)
	}
	_ = run
}

// ParseOptions shows what the kernel is asked for by a spec mount.
func ExampleParseOptions() {
	mo, err := rootfs.ParseOptions([]string{"nosuid", "nodev", "ro", "rprivate", "size=64k"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("flags=%#x propagation=%#x data=%q\n", mo.Flags, mo.Propagation, mo.Data)
	// Output: flags=0x7 propagation=[0x44000] data="size=64k"
}
