package main

// Rounds of flowers bench: every implementation measured on a task, in turn, several times
// (A B C, B C A, C A B, …), and each figure reported as the median of its rounds with their
// range. On a shared machine a slow phase of the host then lands on every implementation
// rather than on whichever ran during it, and a comparison whose per-round ratios fall on both
// sides of 1 is reported as undecided instead of as a win.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/resnet50"
)

// runRounds measures every task -rounds times. With children (each flowerlib backend in a
// process of its own), one round of a task is one child per backend and one request per
// reference, in an order that rotates by one each round; in-process, the backends and then
// the references.
func (c *benchConfig) runRounds(tasks []string, children bool) error {
	backends := c.backends
	if children { // the backends run in their children; this process runs the references' turns
		c.backends = nil
		defer func() { c.backends = backends }()
	}
	for _, task := range tasks {
		for round := 1; round <= c.rounds; round++ {
			c.round = round
			if !children {
				c.activeRefs = c.refs
				if err := c.runTask(task); err != nil {
					return err
				}
				continue
			}
			order := c.roundOrder(backends, round)
			for _, impl := range order {
				if impl.backend != "" {
					c.runChild(impl, []string{task})
					continue
				}
				c.activeRefs = []*refProc{impl.ref}
				if err := c.runTask(task); err != nil {
					return err
				}
			}
		}
	}
	c.activeRefs = nil
	return nil
}

// benchImpl is one implementation of a round: a flowerlib backend (run in a child, with
// XLA_FLAGS set to -xla-flags' setting number variant when that is not 0, with the frozen base
// in XLA's graph with graphBase) or a reference.
type benchImpl struct {
	backend   string
	variant   int
	graphBase bool
	ref       *refProc
}

// name is how the tables call impl.
func (impl benchImpl) name() string {
	if impl.ref != nil {
		return impl.ref.Name
	}
	if impl.variant > 0 {
		return fmt.Sprintf("flowerlib %s (XLA flags %d)", impl.backend, impl.variant)
	}
	if impl.graphBase {
		return fmt.Sprintf("flowerlib %s (base in XLA)", impl.backend)
	}
	return "flowerlib " + impl.backend
}

// roundOrder is the implementations in the order of round (1-based): rotated by round−1.
func (c *benchConfig) roundOrder(backends []string, round int) []benchImpl {
	var all []benchImpl
	for _, b := range backends {
		all = append(all, benchImpl{backend: b})
		if strings.HasPrefix(b, "xla") {
			for v := range c.xlaFlags {
				all = append(all, benchImpl{backend: b, variant: v + 1})
			}
			if c.xlaGraph {
				all = append(all, benchImpl{backend: b, graphBase: true})
			}
		}
	}
	for _, r := range c.refs {
		all = append(all, benchImpl{ref: r})
	}
	if len(all) == 0 {
		return nil
	}
	k := (round - 1) % len(all)
	return append(all[k:], all[:k]...)
}

// fillRoundRatios sets VsTorch and VsKeras of every per-round result from the reference's
// result of the same case in the same round: each ratio is a pair measured minutes apart.
func fillRoundRatios(results []benchResult) {
	key := func(impl string, r benchResult) string {
		return fmt.Sprintf("%s|%s|%s|%d", impl, r.Task, r.Case, r.Round)
	}
	ref := map[string]float64{}
	for _, r := range results {
		ref[key(r.Impl, r)] = r.ImagesPerSec
	}
	for i := range results {
		r := &results[i]
		if v, ok := ref[key("PyTorch", *r)]; ok && v > 0 {
			x := r.ImagesPerSec / v
			r.VsTorch = &x
		}
		if v, ok := ref[key("TF-Keras", *r)]; ok && v > 0 {
			x := r.ImagesPerSec / v
			r.VsKeras = &x
		}
	}
}

// summarize folds the per-round results (ratios filled) into one result per implementation
// and case: every figure the median of its rounds, images/s and the ratios with their range,
// and the comparisons whose range contains 1 listed as undecided.
func summarize(results []benchResult) []benchResult {
	var order []string
	groups := map[string][]benchResult{}
	for _, r := range results {
		k := r.Impl + "|" + r.Task + "|" + r.Case
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]benchResult, 0, len(order))
	for _, k := range order {
		out = append(out, summarizeGroup(groups[k]))
	}
	return out
}

func summarizeGroup(rs []benchResult) benchResult {
	s := rs[0]
	s.Round, s.Rounds = 0, len(rs)
	pick := func(f func(benchResult) float64) []float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return v
	}
	ips := pick(func(r benchResult) float64 { return r.ImagesPerSec })
	s.ImagesPerSec, s.ImagesPerSecRange = medianF(ips), minMax(ips)
	s.ImagesPerSecRounds = ips
	s.CPUPerImage = medianF(pick(func(r benchResult) float64 { return r.CPUPerImage }))
	s.PeakRSSMiB = medianF(pick(func(r benchResult) float64 { return r.PeakRSSMiB }))
	s.Seconds = medianF(pick(func(r benchResult) float64 { return r.Seconds }))
	s.OnceSeconds = medianF(pick(func(r benchResult) float64 { return r.OnceSeconds }))
	s.CompileSeconds = medianF(pick(func(r benchResult) float64 { return r.CompileSeconds }))
	s.Iterations = 0
	for _, r := range rs {
		s.Iterations += max(r.Iterations, 1)
	}
	s.VsTorch, s.VsTorchRange = ratioStats(rs, func(r benchResult) *float64 { return r.VsTorch })
	s.VsKeras, s.VsKerasRange = ratioStats(rs, func(r benchResult) *float64 { return r.VsKeras })
	s.Undecided = nil
	for _, c := range []struct {
		name string
		rng  []float64
	}{{"PyTorch", s.VsTorchRange}, {"TF-Keras", s.VsKerasRange}} {
		if s.Impl != c.name && undecided(c.rng, len(rs)) {
			s.Undecided = append(s.Undecided, c.name)
		}
	}
	return s
}

// ratioStats returns the median and [min, max] of the rounds' ratios (nil when a round has none).
func ratioStats(rs []benchResult, f func(benchResult) *float64) (*float64, []float64) {
	var v []float64
	for _, r := range rs {
		if f(r) == nil {
			return nil, nil
		}
		v = append(v, *f(r))
	}
	m := medianF(v)
	return &m, minMax(v)
}

// undecided reports whether a comparison cannot be called from its rounds' ratios: their
// range contains 1 (one implementation faster in some rounds, slower in others), or there was
// one round only (no spread to judge by).
func undecided(rng []float64, rounds int) bool {
	return rng != nil && (rounds < 2 || (rng[0] <= 1 && rng[1] >= 1))
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(v []float64) []float64 {
	if len(v) == 0 {
		return nil
	}
	return []float64{slices.Min(v), slices.Max(v)}
}

// undecidedNotes lists the comparisons the spread leaves undecided, for the notes under the tables.
func undecidedNotes(summary []benchResult) []string {
	var lines []string
	for _, r := range summary {
		for _, ref := range r.Undecided {
			rng := r.VsTorchRange
			if ref == "TF-Keras" {
				rng = r.VsKerasRange
			}
			if r.Rounds < 2 {
				lines = append(lines, fmt.Sprintf("%s vs %s, %s: one round only (%.2f×), no spread to judge by", r.Impl, ref, workload(r.Task, r.Case), rng[0]))
				continue
			}
			lines = append(lines, fmt.Sprintf("%s vs %s, %s: %.2f×–%.2f× over %d rounds", r.Impl, ref, workload(r.Task, r.Case), rng[0], rng[1], r.Rounds))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return []string{"undecided (the rounds' ratios fall on both sides of 1, so the spread decides nothing): " + strings.Join(lines, "; ")}
}

// runChild measures one flowerlib backend on tasks in a child `flowers bench -json` (one
// round), with its XLA_FLAGS variant; a child that fails is reported and listed in c.failed.
func (c *benchConfig) runChild(impl benchImpl, tasks []string) {
	b := impl.backend
	exe, err := os.Executable()
	if err != nil {
		c.failed = append(c.failed, impl.name())
		fmt.Fprintf(c.progress, "flowers bench: %s: %v\n", impl.name(), err)
		return
	}
	args := []string{"bench", "-in-process", "-json", "-rounds", "1", "-refs", "", "-backends", b, "-tasks", strings.Join(tasks, ","),
		"-batch", intList(c.batches), "-size", strconv.Itoa(c.size), "-duration", c.duration.String(),
		"-epochs", strconv.Itoa(c.epochs), "-head-kinds", strings.Join(c.headKinds, ","), "-seed", strconv.FormatInt(c.seed, 10),
		"-conv", c.convMode, "-bf16=" + strconv.FormatBool(c.bf16), "-memlimit-mib", strconv.Itoa(c.memLimit)}
	if c.dataDir != "" {
		args = append(args, "-data", c.dataDir)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), benchChildEnv+"=1")
	if impl.variant > 0 {
		cmd.Env = append(cmd.Env, "XLA_FLAGS="+c.xlaFlags[impl.variant-1])
	}
	if impl.graphBase {
		cmd.Env = append(cmd.Env, resnet50.EnvBase+"=graph")
	}
	cmd.Stderr = c.progress
	out, err := cmd.Output()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r benchResult
		if line == "" || json.Unmarshal([]byte(line), &r) != nil || r.Impl == "" {
			continue
		}
		r.VsTorch, r.VsKeras, r.Round, r.Impl = nil, nil, c.round, impl.name()
		c.results = append(c.results, r)
	}
	if err != nil {
		if !slices.Contains(c.failed, impl.name()) {
			c.failed = append(c.failed, impl.name())
		}
		fmt.Fprintf(c.progress, "flowers bench: %s (round %d): %v\n", impl.name(), c.round, err)
	}
}
