package config

import (
	"flag"
	"fmt"
	"reflect"
	"strings"

	"github.com/pkg/errors"
)

// HeadFlag is the flowers command's name for the built-in heads, which set Pooling: "flatten"
// (the article's head on the 7×7×2048 map), "avg" or "max" (the same layers on pooled features).
const HeadFlag = "head"

// headPooling maps the built-in heads' names to the pooling they train on.
var headPooling = map[string]string{"flatten": "none", "avg": "avg", "max": "max"}

// HeadName is the built-in head's name for a pooling ("flatten" for "none").
func HeadName(pooling string) string {
	for name, p := range headPooling {
		if p == pooling {
			return name
		}
	}
	return pooling
}

// BindFlags defines on fs one flag per named setting of r (all of them when names is empty),
// each starting from r's value (call Defaults first) and refusing a value that does not parse.
// The name HeadFlag binds Pooling by the built-in heads' names. Ranges are checked by
// Validate after parsing.
func BindFlags(fs *flag.FlagSet, r *Run, names ...string) error {
	fields := map[string]field{}
	var all []string
	for _, f := range r.fields() {
		fields[f.name] = f
		all = append(all, f.name)
	}
	if len(names) == 0 {
		names = all
	}
	for _, name := range names {
		if name == HeadFlag {
			fs.Var(headValue{&r.Pooling}, HeadFlag, "head: flatten (the article's, on the 7×7×2048 map), avg or max (the same layers on pooled 2048 features)")
			continue
		}
		f, ok := fields[name]
		if !ok {
			return errors.Errorf("config.BindFlags: no setting %q", name)
		}
		if b, ok := f.ptr.(*bool); ok {
			fs.BoolVar(b, f.name, *b, f.help)
			continue
		}
		fs.Var(value{f.ptr}, f.name, f.help)
	}
	return nil
}

// value is a setting as a flag.Value.
type value struct{ p any }

func (v value) String() string {
	if v.p == nil {
		return ""
	}
	return fmt.Sprint(reflect.ValueOf(v.p).Elem().Interface())
}

func (v value) Set(s string) error { return set(v.p, s) }

// headValue sets Pooling from a built-in head's name.
type headValue struct{ pooling *string }

func (h headValue) String() string {
	if h.pooling == nil {
		return ""
	}
	return HeadName(*h.pooling)
}

func (h headValue) Set(s string) error {
	p, ok := headPooling[s]
	if !ok {
		return errors.Errorf("must be one of flatten, avg, max")
	}
	*h.pooling = p
	return nil
}

// Names lists the settings' names (the flags), in order.
func Names() string {
	var r Run
	var out []string
	for _, f := range r.fields() {
		out = append(out, f.name)
	}
	return strings.Join(out, ", ")
}

// PoolingOf is the pooling a built-in head's name trains on ("none" for "flatten"); other
// names are returned as they are.
func PoolingOf(head string) string {
	if p, ok := headPooling[head]; ok {
		return p
	}
	return head
}
