package systemd

import (
	"fmt"
	"math"
	"sort"
	"strings"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// AnnotationPrefix marks config.json annotations that set a property of the
// container's unit, as runc reads them: "org.systemd.property.TimeoutStopUSec":
// "uint64 123456789", the value in GVariant text format.
const AnnotationPrefix = "org.systemd.property."

// annotationProperties turns the annotations with AnnotationPrefix into unit
// properties, sorted by name so a unit is made the same way every time. A
// name ending in "Sec" (a lowercase letter before it) is, as in runc, given
// in seconds and sent as the "USec" property systemd's D-Bus API has.
func annotationProperties(annotations map[string]string) ([]sd.Property, error) {
	var props []sd.Property
	for k, v := range annotations {
		name, ok := strings.CutPrefix(k, AnnotationPrefix)
		if !ok {
			continue
		}
		if !isPropertyName(name) {
			return nil, fmt.Errorf("annotation %q: %q is not a systemd property name (3 or more ASCII letters, like TimeoutStopUSec)", k, name)
		}
		val, err := parseVariant(v)
		if err != nil {
			return nil, fmt.Errorf("annotation %q: value %q is not GVariant text (like \"uint64 5000000\" or \"'inactive-or-failed'\"): %w", k, v, err)
		}
		if base, ok := strings.CutSuffix(name, "Sec"); ok && base != "" && base[len(base)-1] >= 'a' && base[len(base)-1] <= 'z' {
			usec, err := secondsToUSec(val)
			if err != nil {
				return nil, fmt.Errorf("annotation %q: %s is in seconds, but %q is %w", k, name, v, err)
			}
			name, val = base+"USec", usec
		}
		props = append(props, sd.Property{Name: name, Value: val})
	}
	sort.Slice(props, func(i, j int) bool { return props[i].Name < props[j].Name })
	return props, nil
}

// maxVariantText bounds an annotation's value; real ones are a few words.
const maxVariantText = 4096

// parseVariant is dbus.ParseVariant made safe for untrusted text. godbus
// v5.1.0's parser loops forever on some non-ASCII input (a Unicode digit
// followed by a newline) and panics on some malformed input ("@b []" asks
// reflect.MakeSlice for a non-slice type), so only short printable ASCII
// reaches it (GVariant text for systemd's properties needs no more, strings
// included), and a panic is an error like any other.
func parseVariant(s string) (v dbus.Variant, err error) {
	if len(s) > maxVariantText {
		return v, fmt.Errorf("longer than %d bytes", maxVariantText)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return v, fmt.Errorf("byte %d is not printable ASCII", i)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed value (%v)", r)
		}
	}()
	return dbus.ParseVariant(s, dbus.Signature{})
}

func isPropertyName(s string) bool {
	if len(s) < 3 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// secondsToUSec converts a number of seconds of any D-Bus numeric type to
// the uint64 microseconds systemd's *USec properties take.
func secondsToUSec(v dbus.Variant) (dbus.Variant, error) {
	var sec float64
	switch n := v.Value().(type) {
	case byte:
		sec = float64(n)
	case int16:
		sec = float64(n)
	case uint16:
		sec = float64(n)
	case int32:
		sec = float64(n)
	case uint32:
		sec = float64(n)
	case int64:
		sec = float64(n)
	case uint64:
		sec = float64(n)
	case float64:
		sec = n
	default:
		return v, fmt.Errorf("not a number")
	}
	if sec < 0 || sec*1e6 >= math.MaxUint64 || math.IsNaN(sec) {
		return v, fmt.Errorf("out of range")
	}
	return dbus.MakeVariant(uint64(sec * 1e6)), nil
}
