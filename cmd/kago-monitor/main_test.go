package main

import (
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	o, protocol, err := parseArgs([]string{"--protocol", "1", "--kago=/bin/kago", "--root", "/r", "--id", "abc",
		"--dir", "/r/c/abc", "--log", "/r/c/abc/abc-json.log", "--log-max-size", "1024", "--tty", "--stdin=false"})
	if err != nil {
		t.Fatal(err)
	}
	if protocol != "1" || o.Kago != "/bin/kago" || o.Root != "/r" || o.ID != "abc" || o.LogMaxSize != 1024 || !o.Tty || o.OpenStdin {
		t.Fatalf("parsed %+v, protocol %q", o, protocol)
	}
	if err := check(protocol, o); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus", "1"}, "unknown flag --bogus"},
		{[]string{"--root"}, "--root needs a value"},
		{[]string{"--log-max-size", "lots"}, "--log-max-size=lots"},
		{[]string{"--ready-fd", "1"}, "not a descriptor number above 2"},
		{[]string{"--tty=maybe"}, "--tty=maybe"},
	} {
		if _, _, err := parseArgs(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseArgs(%q): %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if err := check("0", o); err == nil || !strings.Contains(err.Error(), "same build") {
		t.Errorf("a stale protocol: %v", err)
	}
	if err := check("1", o); err != nil {
		t.Error(err)
	}
}
