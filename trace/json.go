package trace

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendJSON appends e as encoding/json marshals it (same fields, order,
// omissions and escaping: FuzzDecode compares the two), without its
// reflection: at tens of thousands of events a second the tracer's own CPU
// time is taken from the machine the traced container runs on.
func appendJSON(b []byte, e Event) ([]byte, error) {
	if len(e.Syscalls) > 0 {
		j, err := json.Marshal(e) // a few a second at most
		return append(b, j...), err
	}
	b = append(b, `{"time":`...)
	tj, err := e.Time.MarshalJSON()
	if err != nil {
		return b, err
	}
	b = append(b, tj...)
	b = appendField(b, "container", e.Container)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(e.Pid), 10)
	b = append(b, `,"hostPid":`...)
	b = strconv.AppendInt(b, int64(e.HostPid), 10)
	b = appendField(b, "comm", e.Comm)
	b = appendField(b, "event", string(e.Kind))
	if e.Filename != "" {
		b = appendField(b, "filename", e.Filename)
	}
	if len(e.Argv) > 0 {
		b = append(b, `,"argv":[`...)
		for i, a := range e.Argv {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, a)
		}
		b = append(b, ']')
	}
	if e.Path != "" {
		b = appendField(b, "path", e.Path)
	}
	if e.Flags != nil {
		b = append(b, `,"flags":`...)
		b = strconv.AppendInt(b, int64(*e.Flags), 10)
	}
	if e.Family != "" {
		b = appendField(b, "family", e.Family)
	}
	if e.Addr != "" {
		b = appendField(b, "addr", e.Addr)
	}
	if e.Target != nil {
		b = append(b, `,"target":`...)
		b = strconv.AppendInt(b, int64(*e.Target), 10)
	}
	if e.Signal != "" {
		b = appendField(b, "signal", e.Signal)
	}
	if e.VictimHostPid != 0 {
		b = append(b, `,"victimHostPid":`...)
		b = strconv.AppendInt(b, int64(e.VictimHostPid), 10)
	}
	if e.Ret != nil {
		b = append(b, `,"ret":`...)
		b = strconv.AppendInt(b, *e.Ret, 10)
	}
	if e.Error != "" {
		b = appendField(b, "error", e.Error)
	}
	return append(b, '}'), nil
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does by default: control
// characters, quote and backslash escaped, <, > and & as \u003c..., invalid
// UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
