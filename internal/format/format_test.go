package format

import (
	"bytes"
	"strings"
	"testing"
)

type row struct {
	ID, Name string
	Labels   map[string]string `json:"-"`
}

func (r row) Label(k string) string { return r.Labels[k] }

func render(t *testing.T, value, def string, rows ...any) string {
	t.Helper()
	f, err := New(value, def)
	if err != nil {
		t.Fatalf("New(%q): %v", value, err)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf, rows, map[string]string{"ID": "THING ID", "Name": "NAME"}); err != nil {
		t.Fatalf("Write(%q): %v", value, err)
	}
	return buf.String()
}

func TestFormats(t *testing.T) {
	a := row{ID: "abc", Name: "web server", Labels: map[string]string{"tier": "front"}}
	b := row{ID: "defghi", Name: "db"}
	def := `table {{.ID}}\t{{.Name}}`
	for _, tc := range []struct{ value, want string }{
		{"", "THING ID   NAME\nabc        web server\ndefghi     db\n"},
		{"table", "THING ID   NAME\nabc        web server\ndefghi     db\n"},
		{"{{.Name}}", "web server\ndb\n"},
		{`{{.ID}}\t{{.Name}}`, "abc\tweb server\ndefghi\tdb\n"},
		{"json", `{"ID":"abc","Name":"web server"}` + "\n" + `{"ID":"defghi","Name":"db"}` + "\n"},
		{"{{json .Name}}", "\"web server\"\n\"db\"\n"},
		{`table {{upper .Name}}`, "NAME\nWEB SERVER\nDB\n"},
		{`table {{.Name}}|{{.Other}}`, ""}, // exec error, checked below
		{`{{.Label "tier"}}`, "front\n\n"},
		{`{{join (split .Name " ") "+"}}`, "web+server\ndb\n"},
		{`{{title .Name}} {{lower "X"}}`, "Web Server x\nDb x\n"},
		{`{{truncate .ID 2}}|{{pad .Name 1 2}}|`, "ab| web server  |\nde| db  |\n"},
		{`{{println .ID}}`, "abc\n\ndefghi\n\n"},
	} {
		if tc.want == "" {
			continue
		}
		if got := render(t, tc.value, def, a, b); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.value, got, tc.want)
		}
	}
	// A header of a field with no name given is the field in upper case.
	if got := render(t, `table {{.ID}}\t{{.Labels}}`, def); got != "THING ID   LABELS\n" {
		t.Errorf("header: %q", got)
	}
}

func TestBadTemplateIsOneLineNamingIt(t *testing.T) {
	for _, bad := range []string{"{{.Name", "{{nosuchfunc .Name}}", "table {{end}}"} {
		_, err := New(bad, "")
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), strings.TrimPrefix(bad, "table ")) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	f, err := New("{{.Missing}}", "")
	if err != nil {
		t.Fatal(err)
	}
	err = f.Write(&bytes.Buffer{}, []any{row{}}, nil)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "{{.Missing}}") || !strings.Contains(err.Error(), "Missing") {
		t.Errorf("executing a template on a missing field: %v", err)
	}
}

func TestInspectFallsBackToJSONKeys(t *testing.T) {
	type vol struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	}
	var buf bytes.Buffer
	// .Name is the Go field; .size only the JSON key, a number kept as written.
	for _, text := range []string{"{{.Name}}", "{{.size}}"} {
		if err := Inspect(&buf, text, []any{vol{"v1", 12345678901}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := Inspect(&buf, "{{json .}}", []any{map[string]any{"State": map[string]any{"Status": "running"}}}); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "v1\n12345678901\n{\"State\":{\"Status\":\"running\"}}\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := Inspect(&buf, "{{.Name", []any{vol{}}); err == nil || !strings.Contains(err.Error(), "{{.Name") {
		t.Errorf("a bad template: %v", err)
	}
}

func TestInspectForms(t *testing.T) {
	type docker struct{ Id, Os string }
	type kago struct {
		ID   string `json:"id"`
		Arch string `json:"arch"`
	}
	v := Forms{docker{"sha256:1", "linux"}, kago{"sha256:1", "amd64"}}
	var buf bytes.Buffer
	for _, text := range []string{"{{.Id}} {{.Os}}", "{{.ID}}", "{{.arch}}"} {
		if err := Inspect(&buf, text, []any{v}); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
	}
	if got, want := buf.String(), "sha256:1 linux\nsha256:1\namd64\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
