package seccomp

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

func TestFilterJSONRoundTrip(t *testing.T) {
	f, _, err := Compile(Default())
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back Filter
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	want, _ := bpf.Assemble(f.prog)
	got, _ := bpf.Assemble(back.prog)
	if !reflect.DeepEqual(want, got) || back.flags != f.flags || back.notify != f.notify {
		t.Fatal("filter changed in a JSON round trip")
	}
	for _, bad := range []string{`{"prog":[]}`, `{"prog":[[70000,0,0,0]]}`, `{"prog":"x"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil || !strings.Contains(err.Error(), "seccomp") {
			t.Errorf("decoding %s: %v", bad, err)
		}
	}
}
