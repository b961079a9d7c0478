package engine

import (
	"strings"
	"testing"
	"time"
)

func TestPruneFilter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f, err := ParsePruneFilter([]string{"until=1h", "label=tier", "label!=keep=yes"}, now)
	if err != nil {
		t.Fatal(err)
	}
	old, recent := now.Add(-2*time.Hour), now.Add(-time.Minute)
	for _, tc := range []struct {
		created time.Time
		labels  map[string]string
		want    bool
	}{
		{old, map[string]string{"tier": "web"}, true},
		{recent, map[string]string{"tier": "web"}, false},
		{old, nil, false},
		{old, map[string]string{"tier": "db", "keep": "yes"}, false},
		{old, map[string]string{"tier": "db", "keep": "no"}, true},
	} {
		if got := f.matches(tc.created, tc.labels); got != tc.want {
			t.Errorf("created %v labels %v: %v, want %v", tc.created, tc.labels, got, tc.want)
		}
	}
	if f, err := ParsePruneFilter([]string{"until=2026-01-01T00:00:00Z"}, now); err != nil || !f.Until.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("until as a time: %v %v", f.Until, err)
	}
	if f, err := ParsePruneFilter([]string{"until=1700000000"}, now); err != nil || f.Until.Unix() != 1700000000 {
		t.Errorf("until as Unix seconds: %v %v", f.Until, err)
	}
	for _, bad := range []string{"until", "until=", "until=soon", "color=red", "label"} {
		if _, err := ParsePruneFilter([]string{bad}, now); err == nil || !strings.Contains(err.Error(), "filter") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
