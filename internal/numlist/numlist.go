// Package numlist parses the kernel's list format for CPUs and NUMA nodes
// ("0-3,7", cpuset(7) "List format") into a bit mask, for the spec fields
// that use it (linux.memoryPolicy.nodes, process.execCPUAffinity).
package numlist

import (
	"fmt"
	"strconv"
	"strings"
)

// Mask is a set of small numbers, one bit each, in the kernel's unsigned
// long layout (bit n is word n/64, bit n%64).
type Mask []uint64

// Count is how many numbers are in the set.
func (m Mask) Count() int {
	n := 0
	for _, w := range m {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// Has reports whether n is in the set.
func (m Mask) Has(n int) bool { return n/64 < len(m) && m[n/64]&(1<<(n%64)) != 0 }

// Parse reads s ("" is the empty set); every number must be below limit.
func Parse(s string, limit int) (Mask, error) {
	var m Mask
	s = strings.TrimSpace(s)
	if s == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || a < 0 {
			return nil, fmt.Errorf("%q is not a number or a range like 0-3", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return nil, fmt.Errorf("%q is not a range like 0-3", part)
			}
		}
		if b >= limit {
			return nil, fmt.Errorf("%d is above the limit of %d", b, limit-1)
		}
		for b/64 >= len(m) {
			m = append(m, 0)
		}
		// A word at a time where the range covers it: a config full of
		// wide ranges stays cheap to parse.
		for n := a; n <= b; {
			if n%64 == 0 && n+63 <= b {
				m[n/64] = ^uint64(0)
				n += 64
				continue
			}
			m[n/64] |= 1 << (n % 64)
			n++
		}
	}
	return m, nil
}
