package numlist

import "testing"

func TestParse(t *testing.T) {
	m, err := Parse(" 0-2,5,64 ", 128)
	if err != nil || m.Count() != 5 || !m.Has(64) || m.Has(3) || m[0] != 0b100111 {
		t.Fatalf("Parse = %v (%d), %v", m, m.Count(), err)
	}
	for _, bad := range []string{"x", "3-1", "1-", "-1", "0,,1", "128", "1-200"} {
		if _, err := Parse(bad, 128); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if m, err := Parse("3-130", 1024); err != nil || m.Count() != 128 || m.Has(2) || !m.Has(3) || !m.Has(64) || !m.Has(130) || m.Has(131) {
		t.Errorf("Parse(3-130) = %v (%d), %v", m, m.Count(), err)
	}
	if m, err := Parse("", 8); err != nil || m.Count() != 0 {
		t.Errorf("empty list: %v, %v", m, err)
	}
}

// FuzzParse: lists come from config.json; Parse answers or errs, never
// panics, and never sets a bit at or above the limit.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0-3,7", "", "1-0", "999999999999999999999", "0-1023"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s, 1024)
		if err == nil && len(m)*64 > 1024 {
			t.Fatalf("Parse(%q) made a mask of %d words", s, len(m))
		}
	})
}
