package cgroups

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rdmaLines renders linux.resources.rdma as rdma.max lines, the same format
// in v1 and v2: "<device> hca_handle=<n> hca_object=<n>". Devices are sorted
// so the writes are reproducible.
func rdmaLines(rdma map[string]specs.LinuxRdma) []string {
	devs := make([]string, 0, len(rdma))
	for d := range rdma {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	var out []string
	for _, d := range devs {
		r := rdma[d]
		if r.HcaHandles == nil && r.HcaObjects == nil {
			continue
		}
		line := d
		if r.HcaHandles != nil {
			line += " hca_handle=" + strconv.FormatUint(uint64(*r.HcaHandles), 10)
		}
		if r.HcaObjects != nil {
			line += " hca_object=" + strconv.FormatUint(uint64(*r.HcaObjects), 10)
		}
		out = append(out, line)
	}
	return out
}

// checkRdmaDevice keeps a device name to one token: a space or newline
// would let the spec add arbitrary keys to the rdma.max line.
func checkRdmaDevice(name string) error {
	if name == "" || strings.ContainsAny(name, " \t\n\x00=") {
		return fmt.Errorf("rdma device name %q is invalid: use the device's name, like mlx4_0", name)
	}
	return nil
}

// checkInterfaceName rejects names that could not be a network interface and
// would break the "name priority" line of net_prio.ifpriomap.
func checkInterfaceName(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, " \t\n\x00/") {
		return fmt.Errorf("network priority interface name %q is invalid: use an interface name like eth0", name)
	}
	return nil
}

func (m *v1Manager) setNetwork(r *specs.LinuxResources) error {
	n := r.Network
	if n == nil || (n.ClassID == nil && len(n.Priorities) == 0) {
		return nil
	}
	if n.ClassID != nil {
		dir, err := m.need("net_cls", "network.classID")
		if err != nil {
			return err
		}
		if err := writeFile(m.rec, dir, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return err
		}
	}
	if len(n.Priorities) > 0 {
		dir, err := m.need("net_prio", "network.priorities")
		if err != nil {
			return err
		}
		for _, p := range n.Priorities {
			if err := writeFile(m.rec, dir, "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *v1Manager) setRdma(r *specs.LinuxResources) error {
	lines := rdmaLines(r.Rdma)
	if len(lines) == 0 {
		return nil
	}
	dir, err := m.need("rdma", "rdma")
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := writeFile(m.rec, dir, "rdma.max", l); err != nil {
			return err
		}
	}
	return nil
}

// setNetwork on v2: cgroup2 has no net_cls or net_prio (eBPF replaced them),
// so a spec asking for them is told so rather than silently ignored.
func (m *v2Manager) setNetwork(r *specs.LinuxResources) error {
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return fmt.Errorf("linux.resources.network needs the cgroup v1 net_cls/net_prio controllers, which cgroup v2 does not have: remove it")
	}
	return nil
}

func (m *v2Manager) setRdma(r *specs.LinuxResources) error {
	for _, l := range rdmaLines(r.Rdma) {
		if err := m.write("rdma.max", l); err != nil {
			return err
		}
	}
	return nil
}
