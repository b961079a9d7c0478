// Package format renders kago's listings and inspect output through a
// user's --format, the way docker's CLI does: a Go text/template with
// docker's functions (json, join, split, upper, lower, title, truncate, pad,
// println), "table TEMPLATE" for aligned columns under docker's headers,
// and "json" for one JSON object a line. Every verb with --format goes
// through here, so the same template means the same thing everywhere.
package format

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"text/template/parse"
)

// funcs are docker's template functions (github.com/docker/cli/templates).
var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(buf.String()), nil
	},
	"split":    strings.Split,
	"join":     strings.Join,
	"title":    title,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"pad":      pad,
	"truncate": truncate,
	"println":  fmt.Sprintln,
}

// headerFuncs stand in for funcs while a table's header row is rendered:
// the header of {{upper .Name}} is the column name as it is.
var headerFuncs = template.FuncMap{
	"json":     func(v string) string { return v },
	"split":    func(v string, _ string) string { return v },
	"join":     func(v string, _ string) string { return v },
	"title":    func(v string) string { return v },
	"lower":    func(v string) string { return v },
	"upper":    func(v string) string { return v },
	"pad":      func(v string, _, _ int) string { return v },
	"truncate": func(v string, _ int) string { return v },
	"println":  func(v string) string { return v },
}

func title(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

func pad(s string, left, right int) string {
	return strings.Repeat(" ", max(left, 0)) + s + strings.Repeat(" ", max(right, 0))
}

func truncate(s string, n int) string {
	if r := []rune(s); n >= 0 && len(r) > n {
		return string(r[:n])
	}
	return s
}

// Parse parses a Go template with docker's functions. The error is one line
// naming the template, for a user who typed it.
func Parse(text string) (*template.Template, error) {
	t, err := template.New("").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("invalid template %q: %s", text, oneLine(err))
	}
	return t, nil
}

// Execute renders t on v into a string, the error naming the template.
func Execute(t *template.Template, text string, v any) (string, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return "", fmt.Errorf("template %q: %s", text, oneLine(err))
	}
	return buf.String(), nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "template: ")), " ")
}

// Format is a parsed --format value.
type Format struct {
	text  string // the template, as given after "table "
	table bool
	json  bool
	tmpl  *template.Template
}

// New parses a --format value: "" or "table" for def (the verb's default,
// itself "table ..."), "json" for JSON lines, "table TEMPLATE" for columns
// with headers, anything else a template executed once per row. As docker,
// a literal \t or \n in the value stands for a tab or newline.
func New(value, def string) (*Format, error) {
	if value == "" || value == "table" {
		value = def
	}
	f := &Format{}
	switch {
	case value == "json":
		f.json, value = true, "{{json .}}"
	case strings.HasPrefix(value, "table"):
		f.table, value = true, strings.TrimPrefix(value, "table")
	}
	f.text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.Trim(value, " "))
	var err error
	if f.tmpl, err = Parse(f.text); err != nil {
		return nil, err
	}
	return f, nil
}

// IsTable tells whether the output has a header row.
func (f *Format) IsTable() bool { return f.table }

// Write renders rows, one line each. headers names the table's columns by
// the field a template uses for them (docker's headers: "ID" → "CONTAINER
// ID"); a field without one gets its name in upper case.
func (f *Format) Write(w io.Writer, rows []any, headers map[string]string) error {
	var body bytes.Buffer
	for _, r := range rows {
		s, err := Execute(f.tmpl, f.text, r)
		if err != nil {
			return err
		}
		body.WriteString(s)
		body.WriteByte('\n')
	}
	if !f.table {
		_, err := body.WriteTo(w)
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, f.header(headers))
	body.WriteTo(tw)
	return tw.Flush()
}

// header renders the template on the column names: {{.Label "k"}} is a
// column named LABEL. A part that cannot be rendered on names ends the
// header there, as in docker.
func (f *Format) header(names map[string]string) string {
	ctx := headerContext{}
	for _, n := range fieldNames(f.tmpl) {
		if h, ok := names[n]; ok {
			ctx[n] = h
		} else {
			ctx[n] = strings.ToUpper(n)
		}
	}
	t, err := template.New("").Funcs(headerFuncs).Option("missingkey=zero").Parse(f.text)
	if err != nil {
		return ""
	}
	dropFieldArgs(t)
	var buf bytes.Buffer
	t.Execute(&buf, ctx)
	return buf.String()
}

type headerContext map[string]string

// fieldNames lists the fields a template reads from its dot ({{.Name}}
// gives Name), so each can be given its header.
func fieldNames(t *template.Template) []string {
	var names []string
	walk(t, func(n parse.Node) {
		if f, ok := n.(*parse.FieldNode); ok {
			names = append(names, f.Ident[0])
		}
	})
	return names
}

// dropFieldArgs turns method calls with arguments ({{.Label "k"}}) into
// plain fields ({{.Label}}), for the header, where each field is a name.
func dropFieldArgs(t *template.Template) {
	walk(t, func(n parse.Node) {
		if c, ok := n.(*parse.CommandNode); ok && len(c.Args) > 1 {
			if _, ok := c.Args[0].(*parse.FieldNode); ok {
				c.Args = c.Args[:1]
			}
		}
	})
}

// walk calls visit on every node of t's tree.
func walk(t *template.Template, visit func(parse.Node)) {
	var w func(n parse.Node)
	w = func(n parse.Node) {
		visit(n)
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					w(c)
				}
			}
		case *parse.ActionNode:
			w(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					w(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				w(a)
			}
		case *parse.IfNode:
			w(n.Pipe)
			w(n.List)
			w(n.ElseList)
		case *parse.RangeNode:
			w(n.Pipe)
			w(n.List)
			w(n.ElseList)
		case *parse.WithNode:
			w(n.Pipe)
			w(n.List)
			w(n.ElseList)
		}
	}
	if t.Tree != nil {
		w(t.Tree.Root)
	}
}

// Forms is one object in several shapes for Inspect: say docker's view of
// an image, then kago's record of it.
type Forms []any

// Inspect renders the template once per value and line, as docker's
// `inspect -f`: on the value itself and, where that fails, on its JSON form,
// so both Go field names and the JSON keys inspect prints work. A Forms
// value is tried shape by shape, then the last shape's JSON form.
func Inspect(w io.Writer, text string, values []any) error {
	t, err := Parse(text)
	if err != nil {
		return err
	}
	for _, v := range values {
		forms, ok := v.(Forms)
		if !ok {
			forms = Forms{v}
		}
		s, err := inspectOne(t, text, forms)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w, s); err != nil {
			return err
		}
	}
	return nil
}

func inspectOne(t *template.Template, text string, forms Forms) (string, error) {
	var firstErr error
	for _, form := range forms {
		s, err := Execute(t, text, form)
		if err == nil {
			return s, nil
		}
		firstErr = cmp.Or(firstErr, err)
	}
	raw, err := jsonForm(forms[len(forms)-1])
	if err != nil {
		return "", firstErr
	}
	if s, err := Execute(t, text, raw); err == nil {
		return s, nil
	}
	return "", firstErr
}

// jsonForm is v as encoding/json sees it, numbers kept as written.
func jsonForm(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	return out, dec.Decode(&out)
}
