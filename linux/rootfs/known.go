package rootfs

import "sort"

// KnownOptions lists every mount option ParseOptions gives a meaning to, for
// the runtime's `features` output (runtime-spec features.md "mountOptions").
// Options outside this list are passed to the filesystem as data.
func KnownOptions() []string {
	var out []string
	for name := range flagOptions {
		out = append(out, name)
	}
	for name := range propagationOptions {
		out = append(out, name)
	}
	for name := range recAttrOptions {
		out = append(out, name)
	}
	out = append(out, "tmpcopyup")
	out = append(out, idmapOptions...)
	sort.Strings(out)
	return out
}
