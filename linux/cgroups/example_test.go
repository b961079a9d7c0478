package cgroups_test

import (
	"fmt"
	"os/exec"

	"github.com/kago-run/kago/linux/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A runtime's life cycle of one container's cgroup: create with limits, put
// the container's init in, change a limit, and clean up.
func Example() {
	limit := int64(256 << 20)
	cg, err := cgroups.New("", "my-container") // /kago/my-container in every tree
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := cg.Create(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
		fmt.Println(err)
		return
	}
	defer cg.Destroy()

	cmd := exec.Command("/bin/busybox", "sleep", "1")
	if err := cmd.Start(); err != nil {
		fmt.Println(err)
		return
	}
	if err := cg.Join(cmd.Process.Pid); err != nil {
		fmt.Println(err)
	}
	limit = 512 << 20
	_ = cg.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})
	_ = cg.Kill()
	_ = cmd.Wait()
}
