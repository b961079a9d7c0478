package rootfs

import "sort"

// KnownOptions lists every mount option ParseOptions understands, for the
// runtime's `features` output.
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
	sort.Strings(out)
	return out
}
