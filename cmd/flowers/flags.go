package main

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/defaults"
)

// usageError is a bad command line: main prints it and exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// flagSet is a sub-command's flags with strict checking: a value that is set but out of its
// range (or not finite) is an error naming the flag and the range, never replaced by a
// default; so are stray positional arguments for commands that take none.
type flagSet struct {
	*flag.FlagSet
	name       string
	positional string // what positional arguments are ("" = none allowed)
	checks     []func() error
}

// newFlags returns the flags of a sub-command; positional names its positional arguments
// ("IMAGE…"), or is "" when it takes none.
func newFlags(name, usageLine, positional string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet("flowers "+name, flag.ContinueOnError), name: name, positional: positional}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: flowers %s %s\n", name, usageLine)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and runs every check.
func (fs *flagSet) parse(args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.positional == "" && fs.NArg() > 0 {
		return usagef("unexpected argument %q: flowers %s takes only flags, and every flag must come before it (%q and what follows were not read)",
			fs.Arg(0), fs.name, strings.Join(fs.Args(), " "))
	}
	for _, c := range fs.checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

// isSet reports whether the flag was given on the command line.
func (fs *flagSet) isSet(name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// runFlags binds the named settings of a run (config.Run, from its defaults) to the flags;
// after parsing, a setting out of its range is a usage error naming the flag.
func (fs *flagSet) runFlags(names ...string) *config.Run {
	r := config.Run{}.Defaults()
	if err := config.BindFlags(fs.FlagSet, &r, names...); err != nil {
		panic(err) // a name not in config.Run: a bug of this command
	}
	fs.checks = append(fs.checks, func() error {
		if err := r.Validate(); err != nil {
			return usageError{"-" + err.Error()}
		}
		return nil
	})
	return &r
}

// intFlag is an int flag that must be in [lo, hi].
func (fs *flagSet) intFlag(name string, def, lo, hi int, usage string) *int {
	p := fs.Int(name, def, fmt.Sprintf("%s (%s)", usage, rangeText(float64(lo), float64(hi))))
	fs.checks = append(fs.checks, func() error {
		if *p < lo || *p > hi {
			return usagef("-%s %d: must be %s", name, *p, rangeText(float64(lo), float64(hi)))
		}
		return nil
	})
	return p
}

// floatFlag is a finite float flag in [lo, hi] (lo excluded when openLo).
func (fs *flagSet) floatFlag(name string, def, lo, hi float64, openLo bool, usage string) *float64 {
	r := rangeText(lo, hi)
	if openLo {
		r = fmt.Sprintf("> %g and ≤ %g", lo, hi)
	}
	p := fs.Float64(name, def, fmt.Sprintf("%s (%s)", usage, r))
	fs.checks = append(fs.checks, func() error {
		v := *p
		if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi || (openLo && v == lo) {
			return usagef("-%s %g: must be a number %s", name, v, r)
		}
		return nil
	})
	return p
}

// choiceFlag is a string flag with a fixed set of values.
func (fs *flagSet) choiceFlag(name, def string, choices []string, usage string) *string {
	p := fs.String(name, def, fmt.Sprintf("%s (%s)", usage, strings.Join(choices, ", ")))
	fs.checks = append(fs.checks, func() error {
		if !slices.Contains(choices, *p) {
			return usagef("-%s %q: must be one of %s", name, *p, strings.Join(choices, ", "))
		}
		return nil
	})
	return p
}

// require fails unless the string flags are set to something.
func (fs *flagSet) require(names ...string) {
	fs.checks = append(fs.checks, func() error {
		for _, n := range names {
			if f := fs.Lookup(n); f != nil && f.Value.String() == "" {
				return usagef("-%s is required (see flowers %s -h)", n, fs.name)
			}
		}
		return nil
	})
}

// checkBatch bounds the batch size by what a ResNet50 forward at the image size needs.
func (fs *flagSet) checkBatch(batch, size *int) {
	fs.checks = append(fs.checks, func() error {
		if err := defaults.CheckBatch(*batch, *size); err != nil {
			return usageError{"-" + err.Error()}
		}
		return nil
	})
}

func rangeText(lo, hi float64) string {
	if hi >= math.MaxInt32 || math.IsInf(hi, 1) {
		return fmt.Sprintf("≥ %g", lo)
	}
	return fmt.Sprintf("%g to %g", lo, hi)
}
