package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads the TOML file at path over Default() and validates the result.
// It is strict: unknown keys, values of the wrong type and values out of
// range are all refused, each error naming the file, the line and the key.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError already names the file
	}
	src := string(data)

	// A generic decode first: it reports syntax errors with their position,
	// and its result is checked against the schema below with exact key
	// paths ("host[1].nmae"), which the typed decoder cannot give.
	var raw map[string]any
	if _, err := toml.Decode(src, &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: path, Line: syntaxLine(src, pe.Position), Msg: "syntax error: " + pe.Message}
		}
		return nil, &Error{File: path, Msg: err.Error()}
	}

	cfg := Default()
	cfg.source = path
	cfg.lines = scanLines(src)

	// Unknown keys do not stop decoding, so they are reported together with
	// validation errors; a value of the wrong type does stop it.
	var unknown, typed errorList
	cfg.checkShape(raw, reflect.TypeFor[Config](), "", &unknown, &typed)
	if len(typed) > 0 {
		return nil, append(typed, unknown...).err()
	}

	// The decoder reuses existing slice elements, so a [[host]] from the file
	// would inherit fields of the default "localhost" host.
	if _, ok := raw["host"]; ok {
		cfg.Hosts = nil
	}
	md, err := toml.Decode(src, cfg)
	if err != nil {
		// checkShape should have caught every type error; keep the
		// decoder's own words (which carry a line) if it did not.
		return nil, &Error{File: path, Msg: err.Error()}
	}
	if len(unknown) == 0 {
		for _, k := range md.Undecoded() {
			// Only if checkShape missed one: it reports better paths.
			unknown = append(unknown, cfg.at(k.String(), nil, "unknown key"))
		}
	}
	if err := append(unknown, cfg.validate()...).err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// syntaxLine corrects one quirk of the parser's positions: an error at a
// newline (a line that ends too early) is reported on the following line.
func syntaxLine(src string, p toml.Position) int {
	if p.Start >= 0 && p.Start < len(src) && src[p.Start] == '\n' &&
		strings.Count(src[:p.Start], "\n")+1 == p.Line-1 {
		return p.Line - 1
	}
	return p.Line
}

var durationType = reflect.TypeFor[time.Duration]()

// checkShape compares decoded TOML against the Go type t, reporting unknown
// keys and values of the wrong TOML type at their exact path.
func (c *Config) checkShape(v any, t reflect.Type, path string, unknown, errs *errorList) {
	bad := func(want string) {
		*errs = append(*errs, c.at(path, nil, "expected %s, got %s", want, describe(v)))
	}
	switch {
	case t == durationType:
		// The decoder would take an integer as nanoseconds, which is never
		// what someone writing "timeout = 30" means.
		s, ok := v.(string)
		if !ok {
			bad(`a duration string such as "30s" or "5m"`)
			return
		}
		if _, err := time.ParseDuration(s); err != nil {
			*errs = append(*errs, c.at(path, nil, `expected a duration such as "30s" or "5m", got %q`, s))
		}
	case t.Kind() == reflect.String:
		if _, ok := v.(string); !ok {
			bad("a string")
		}
	case t.Kind() == reflect.Bool:
		if _, ok := v.(bool); !ok {
			bad("true or false")
		}
	case t.Kind() == reflect.Int:
		n, ok := v.(int64)
		if !ok {
			bad("an integer")
		} else if n < math.MinInt || n > math.MaxInt {
			*errs = append(*errs, c.at(path, nil, "integer %d is out of range", n))
		}
	case t.Kind() == reflect.Float64:
		switch v.(type) {
		case float64, int64: // 2 and 2.0 both mean two
		default:
			bad("a number")
		}
	case t.Kind() == reflect.Slice:
		var elems []any
		switch a := v.(type) {
		case []any:
			elems = a
		case []map[string]any: // [[array]] of tables
			for _, m := range a {
				elems = append(elems, m)
			}
		default:
			if t.Elem().Kind() == reflect.Struct {
				bad("an array of tables ([[" + path + "]])")
			} else {
				bad("an array")
			}
			return
		}
		for i, e := range elems {
			c.checkShape(e, t.Elem(), indexKey(path, i), unknown, errs)
		}
	case t.Kind() == reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			bad("a table")
			return
		}
		fields := map[string]reflect.StructField{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			if tag := f.Tag.Get("toml"); f.IsExported() && tag != "" {
				fields[tag] = f
				names = append(names, tag)
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := joinKey(path, k)
			f, ok := fields[k]
			if !ok {
				msg := "unknown key"
				if s := suggest(k, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				*unknown = append(*unknown, c.at(p, nil, "%s", msg))
				continue
			}
			c.checkShape(m[k], f.Type, p, unknown, errs)
		}
	default:
		panic("config: checkShape: unhandled field type " + t.String())
	}
}

// describe names a decoded TOML value's type for error messages, with the
// value itself when it is short.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > 40 {
			return "a string"
		}
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	default:
		return "a date/time"
	}
}

// suggest returns the known key closest to an unknown one when the typo is
// small enough to be a likely slip.
func suggest(k string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(k), n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
