package runtime

import specs "github.com/opencontainers/runtime-spec/specs-go"

func i64(v int64) *int64 { return &v }

// defaultDeviceRules are the device cgroup rules every container gets after
// the config's own, as runc adds them: the nodes the runtime creates in /dev
// (null, zero, full, tty, random, urandom, ptmx, pts, console) and mknod of
// any node, which is harmless because opening it is still checked.
var defaultDeviceRules = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Access: "m"},
	{Allow: true, Type: "b", Access: "m"},
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},    // /dev/null
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},    // /dev/random
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"},    // /dev/full
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},    // /dev/tty
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},    // /dev/zero
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},    // /dev/urandom
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"},    // /dev/console
	{Allow: true, Type: "c", Major: i64(136), Minor: nil, Access: "rwm"},     // /dev/pts/*
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"},    // /dev/ptmx
	{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"}, // /dev/net/tun
}

// withDeviceRules returns the resources the cgroup gets: the config's
// leading deny-all rules, the default device rules, the config's other rules,
// and an allow rule for each linux.devices node that no config rule names
// (later rules win; a config rule for the node, like docker's --device
// /dev/x:r, decides its access). Unlike
// runc, which appends the defaults after every config rule, a config rule
// can narrow a default: "deny c 1:3 w" makes /dev/null read-only.
func withDeviceRules(spec *specs.Spec) *specs.LinuxResources {
	var res specs.LinuxResources
	if spec.Linux.Resources != nil {
		res = *spec.Linux.Resources
	}
	lead := 0
	for lead < len(res.Devices) && isDenyAll(res.Devices[lead]) {
		lead++
	}
	rules := append([]specs.LinuxDeviceCgroup(nil), res.Devices[:lead]...)
	rules = append(rules, defaultDeviceRules...)
	rules = append(rules, res.Devices[lead:]...)
	for _, d := range spec.Linux.Devices {
		if d.Type == "p" || namesNode(res.Devices[lead:], d) {
			continue // FIFOs are not device-cgroup controlled
		}
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: i64(d.Major), Minor: i64(d.Minor), Access: "rwm"})
	}
	res.Devices = rules
	return &res
}

// isDenyAll reports whether r denies every access to every device, the
// usual first rule of a config, which the defaults must follow.
func isDenyAll(r specs.LinuxDeviceCgroup) bool {
	return !r.Allow && (r.Type == "" || r.Type == "a") && r.Major == nil && r.Minor == nil &&
		(r.Access == "" || r.Access == "rwm")
}

// namesNode tells whether a rule is about exactly this node.
func namesNode(rules []specs.LinuxDeviceCgroup, d specs.LinuxDevice) bool {
	for _, r := range rules {
		if r.Type == d.Type && r.Major != nil && *r.Major == d.Major && r.Minor != nil && *r.Minor == d.Minor {
			return true
		}
	}
	return false
}
