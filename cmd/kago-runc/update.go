package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// maxResourcesSize bounds `update -r`; a real resources document is a few KiB.
const maxResourcesSize = 1 << 20

// updateFlags are runc update's flags. Only flags given on the command line
// change anything: an absent flag leaves the limit as it is.
type updateFlags struct {
	resources                             string
	memory, memorySwap, memoryReservation string
	kernelMemory, kernelMemoryTCP         string
	cpuShares, cpuPeriod, cpuRtPeriod     uint64
	cpuQuota, cpuRtRuntime                int64
	cpusetCpus, cpusetMems                string
	pidsLimit                             int64
	blkioWeight                           uint16
	l3CacheSchema, memBwSchema            string
}

func newUpdateCmd(g *globals) *cobra.Command {
	f := &updateFlags{}
	cmd := &cobra.Command{
		Use:   "update [flags] CONTAINER_ID",
		Short: "change the resource limits of a running container",
		Long: `Change the cgroup limits of a created, running or paused container.

Limits come from flags, or from a JSON linux.resources document given with
-r FILE (-r - reads it from stdin); flags override the document. Memory sizes
take a unit suffix (k, m, g, t, p; binary) and -1 means unlimited.`,
		Args: oneID("update"),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := f.build(cmd.Flags(), cmd.InOrStdin(), g)
			if err != nil {
				return err
			}
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Update(res)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.resources, "resources", "r", "", "path to a JSON file of linux.resources to apply; - reads stdin")
	fl.Uint16Var(&f.blkioWeight, "blkio-weight", 0, "block IO weight (relative), between 10 and 1000")
	fl.Uint64Var(&f.cpuPeriod, "cpu-period", 0, "CPU CFS period in microseconds")
	fl.Int64Var(&f.cpuQuota, "cpu-quota", 0, "CPU CFS quota in microseconds per period (-1: unlimited)")
	fl.Uint64Var(&f.cpuShares, "cpu-share", 0, "CPU shares (relative weight)")
	fl.Uint64Var(&f.cpuShares, "cpu-shares", 0, "CPU shares (relative weight)")
	fl.Uint64Var(&f.cpuRtPeriod, "cpu-rt-period", 0, "CPU realtime period in microseconds")
	fl.Int64Var(&f.cpuRtRuntime, "cpu-rt-runtime", 0, "CPU realtime runtime in microseconds")
	fl.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs the container may run on (0-3, 0,1)")
	fl.StringVar(&f.cpusetMems, "cpuset-mems", "", "memory nodes the container may use (0-3, 0,1)")
	fl.StringVar(&f.kernelMemory, "kernel-memory", "", "kernel memory limit (accepted and ignored: kernels no longer support it)")
	fl.StringVar(&f.kernelMemoryTCP, "kernel-memory-tcp", "", "kernel TCP buffer memory limit")
	fl.StringVar(&f.memory, "memory", "", "memory limit, e.g. 512m (-1: unlimited)")
	fl.StringVar(&f.memoryReservation, "memory-reservation", "", "memory soft limit, e.g. 256m (-1: unlimited)")
	fl.StringVar(&f.memorySwap, "memory-swap", "", "memory plus swap limit, e.g. 1g (-1: unlimited swap)")
	fl.Int64Var(&f.pidsLimit, "pids-limit", 0, "maximum number of processes (-1: unlimited)")
	fl.StringVar(&f.l3CacheSchema, "l3-cache-schema", "", "Intel RDT L3 cache schema (not supported by kago-runc)")
	fl.StringVar(&f.memBwSchema, "mem-bw-schema", "", "Intel RDT memory bandwidth schema (not supported by kago-runc)")
	if err := fl.MarkHidden("cpu-shares"); err != nil {
		panic(err) // the flag is defined just above
	}
	return cmd
}

// build turns the document and the flags that were set into the resources
// to apply.
func (f *updateFlags) build(fl *pflag.FlagSet, stdin io.Reader, g *globals) (*specs.LinuxResources, error) {
	res := &specs.LinuxResources{}
	if f.resources != "" {
		var err error
		if res, err = f.readResources(stdin); err != nil {
			return nil, err
		}
	}
	if fl.Changed("l3-cache-schema") || fl.Changed("mem-bw-schema") {
		return nil, errors.New("--l3-cache-schema and --mem-bw-schema are not supported: kago-runc does not manage Intel RDT")
	}
	if fl.Changed("kernel-memory") {
		if _, err := parseMemory("kernel-memory", f.kernelMemory); err != nil {
			return nil, err
		}
		if g.log != nil {
			g.log.Warn("--kernel-memory is ignored: kernel memory limits are deprecated and no longer enforced by Linux")
		}
	}
	mem := func() *specs.LinuxMemory {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		return res.Memory
	}
	for _, m := range []struct {
		name string
		val  string
		dst  func(*int64)
	}{
		{"memory", f.memory, func(v *int64) { mem().Limit = v }},
		{"memory-swap", f.memorySwap, func(v *int64) { mem().Swap = v }},
		{"memory-reservation", f.memoryReservation, func(v *int64) { mem().Reservation = v }},
		{"kernel-memory-tcp", f.kernelMemoryTCP, func(v *int64) { mem().KernelTCP = v }},
	} {
		if !fl.Changed(m.name) {
			continue
		}
		v, err := parseMemory(m.name, m.val)
		if err != nil {
			return nil, err
		}
		m.dst(&v)
	}
	cpu := func() *specs.LinuxCPU {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		return res.CPU
	}
	if fl.Changed("cpu-share") || fl.Changed("cpu-shares") {
		cpu().Shares = &f.cpuShares
	}
	if fl.Changed("cpu-period") {
		cpu().Period = &f.cpuPeriod
	}
	if fl.Changed("cpu-quota") {
		cpu().Quota = &f.cpuQuota
	}
	if fl.Changed("cpu-rt-period") {
		cpu().RealtimePeriod = &f.cpuRtPeriod
	}
	if fl.Changed("cpu-rt-runtime") {
		cpu().RealtimeRuntime = &f.cpuRtRuntime
	}
	if fl.Changed("cpuset-cpus") {
		cpu().Cpus = f.cpusetCpus
	}
	if fl.Changed("cpuset-mems") {
		cpu().Mems = f.cpusetMems
	}
	if fl.Changed("pids-limit") {
		if f.pidsLimit < -1 {
			return nil, fmt.Errorf("--pids-limit %d is invalid: use -1 for unlimited or a positive number", f.pidsLimit)
		}
		res.Pids = &specs.LinuxPids{Limit: &f.pidsLimit}
	}
	if fl.Changed("blkio-weight") {
		if res.BlockIO == nil {
			res.BlockIO = &specs.LinuxBlockIO{}
		}
		res.BlockIO.Weight = &f.blkioWeight
	}
	return res, nil
}

// readResources reads the -r document, from stdin for "-".
func (f *updateFlags) readResources(stdin io.Reader) (*specs.LinuxResources, error) {
	name := f.resources
	var r io.Reader
	if name == "-" {
		name = "stdin"
		r = stdin
	} else {
		file, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("open resources file: %w", err)
		}
		defer file.Close()
		r = file
	}
	data, err := io.ReadAll(io.LimitReader(r, maxResourcesSize+1))
	if err != nil {
		return nil, fmt.Errorf("read resources from %s: %w", name, err)
	}
	if len(data) > maxResourcesSize {
		return nil, fmt.Errorf("resources from %s are larger than %d bytes: give only the linux.resources object", name, maxResourcesSize)
	}
	return parseResources(name, data)
}

// parseResources decodes one linux.resources JSON object (the shape of
// config.json's linux.resources), refusing anything else after it.
func parseResources(name string, data []byte) (*specs.LinuxResources, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	var res specs.LinuxResources
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("resources from %s are not a linux.resources JSON object: %w", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("resources from %s have data after the JSON object: give exactly one linux.resources object", name)
	}
	return &res, nil
}

var memoryRe = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$`)

// parseMemory reads a size the way runc's update does (docker's
// units.RAMInBytes: binary multipliers, an optional "b"/"ib"), plus -1 for
// unlimited.
func parseMemory(flag, s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	m := memoryRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("--%s %q is not a size: use a number of bytes with an optional unit (k, m, g, t, p), like 512m, or -1 for unlimited", flag, s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: %w", flag, s, err)
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}[strings.ToLower(m[2])]
	v := n * float64(uint64(1)<<shift)
	if v >= 1<<63 {
		return 0, fmt.Errorf("--%s %q is too large", flag, s)
	}
	return int64(v), nil
}
