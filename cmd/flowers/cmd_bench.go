package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/flowerlib/flowers/tools/reference"
)

// Environment variables of flowerlib/internal/conv (internal: not importable from here).
const (
	envConv     = "FLOWERS_CONV"
	envConvBF16 = "FLOWERS_CONV_BF16"
)

func init() {
	register("bench", "flowerlib (go and XLA backends) vs PyTorch and TF-Keras, same run: ResNet50 forward, photos → features, head steps, an augment-mode epoch", runBench)
}

// Tasks of flowers bench, in the order they run.
var benchTasks = []string{"forward", "photos", "head", "augment", "finetune"}

// benchResult is one measurement of one implementation; -json prints one per line.
type benchResult struct {
	Task    string `json:"task"`              // forward | photos | head | augment | finetune
	Case    string `json:"case"`              // "batch 8", "200 photos", "flatten", ...
	Batch   int    `json:"batch"`             // images per forward pass or training step
	Impl    string `json:"impl"`              // "flowerlib go", "flowerlib xla:cpu", "PyTorch", "TF-Keras"
	Backend string `json:"backend,omitempty"` // flowerlib's GoMLX backend

	ImagesPerSec float64 `json:"images_per_sec"`        // forward: batch ÷ median time; head: batch ÷ median step; photos, augment: images ÷ wall time
	CPUPerImage  float64 `json:"cpu_seconds_per_image"` // user+system CPU of the process (and its finished children) per image
	PeakRSSMiB   float64 `json:"peak_rss_mib"`          // VmHWM during the measurement (the process's other memory included)
	Iterations   int     `json:"iterations,omitempty"`  // timed runs or steps
	Seconds      float64 `json:"seconds,omitempty"`     // photos, augment: wall time; head: median seconds per step
	// OnceSeconds is work done once before the epochs and not in Seconds: fine-tuning's pass of
	// the frozen layers over the photos (learner.FineTune without augmentation).
	OnceSeconds float64  `json:"once_seconds,omitempty"`
	VsTorch     *float64 `json:"vs_torch"` // images/s ÷ PyTorch's, same case and round; summary: the median of the rounds' (null: no PyTorch figure)
	VsKeras     *float64 `json:"vs_keras"` // images/s ÷ TF-Keras's

	// Rounds (see cmd_bench_rounds.go). A measurement has its Round (1-based); a summary
	// (what -json and the tables report) has Rounds, every figure the median of its rounds,
	// the ranges [min, max] over the rounds, and the references the spread leaves undecided.
	Round              int       `json:"round,omitempty"`
	Rounds             int       `json:"rounds,omitempty"`
	ImagesPerSecRange  []float64 `json:"images_per_sec_range,omitempty"`
	ImagesPerSecRounds []float64 `json:"images_per_sec_rounds,omitempty"`
	VsTorchRange       []float64 `json:"vs_torch_range,omitempty"`
	VsKerasRange       []float64 `json:"vs_keras_range,omitempty"`
	Undecided          []string  `json:"undecided,omitempty"` // "PyTorch", "TF-Keras": the rounds' ratios fall on both sides of 1

	// flowerlib forward only.
	ConvPath       string  `json:"conv,omitempty"`
	FrozenBase     string  `json:"frozen_base,omitempty"` // where resnet50.NewBase ran: "host" (flowerlib's GEMM) or "graph"
	BFloat16       bool    `json:"bf16,omitempty"`
	CompileSeconds float64 `json:"compile_seconds,omitempty"`      // graph build + compile + first run
	FaultsPerRun   float64 `json:"minor_faults_per_run,omitempty"` // page faults (fresh memory touched) per timed run
}

// benchConfig is what every task needs.
type benchConfig struct {
	backends    []string
	batches     []int
	size        int
	duration    time.Duration
	seed        int64
	threads     int
	convMode    string
	bf16        bool
	weights     *weights.File
	weightsPath string // the same weights as a Keras .h5 (references, augment mode)
	dataDir     string // photos, augment
	epochs      int
	headKinds   []string
	progress    io.Writer
	refs        []*refProc
	activeRefs  []*refProc // the references the task being run measures (one per turn of a round)
	rounds      int
	children    bool     // each flowerlib backend measured in a child process per round
	xlaFlags    []string // -xla-flags: XLA_FLAGS variants, each measured as an implementation of its own
	xlaGraph    bool     // -xla-graph-base: each XLA backend also with its frozen base in XLA's graph
	round       int      // the round being measured, 1-based
	jsonOut     bool
	results     []benchResult
	failed      []string
	tmp         string
	loadBefore  float64 // 1-minute load average before the run
	memLimit    int
}

func runBench(args []string) error {
	c, o, err := parseBench(args)
	if err != nil {
		return err
	}
	return c.run(o)
}

// benchOptions are the flags of flowers bench that say where the inputs and references come
// from and how the run is arranged, beside the benchConfig they go with.
type benchOptions struct {
	tasks       []string
	backends    string // -backends
	refs        []string
	python      string
	kerasPython string
	torchDevice string
	data        string
	photos      int
	cpuProfile  string
	inProcess   bool
}

// parseBench parses and checks the flags of flowers bench.
func parseBench(args []string) (*benchConfig, *benchOptions, error) {
	fs := newFlags("bench", "[-tasks forward,photos,head,augment] [-batch 1,8,32] [-backends go,xla:cpu] [-refs torch,keras] [-duration 5s] [-json]", "")
	taskList := fs.String("tasks", strings.Join(benchTasks, ","), "comma-separated tasks: forward (ResNet50 at each -batch), photos (decode+resize+features of -data), head (the article's head, one Adam step at batch 32), augment (an epoch of the article's augment mode on -data), finetune (an epoch training conv5 + the pooled head on -data)")
	batchList := fs.String("batch", "1,8,32", "forward: comma-separated batch sizes")
	backendList := fs.String("backends", "", "comma-separated GoMLX backends (default: go, plus the XLA backend flowerlib/backend picks when a PJRT plugin is installed)")
	refList := fs.String("refs", "torch,keras", "references measured in the same run: torch (PyTorch, -python), keras (TF-Keras, -keras-python); \"\" for none")
	python := fs.String("python", "/usr/bin/python3", "Python with torch, torchvision and h5py, for -refs torch")
	torchDevice := fs.String("torch-device", "cpu", "PyTorch's device: cpu, or cuda to compare xla:cuda with PyTorch on the same GPU (docs/gpu-bench.sh)")
	kerasPython := fs.String("keras-python", os.Getenv("FLOWERS_PYTHON"), "Python with tensorflow and tf_keras, for -refs keras (default $FLOWERS_PYTHON: .ci/venv.sh)")
	jsonOut := fs.Bool("json", false, "print one JSON object per measurement on stdout (progress goes to stderr)")
	duration := fs.Duration("duration", 5*time.Second, "forward and head: measuring time per implementation, case and round (after warm-up); at least one timed run")
	xlaFlags := fs.String("xla-flags", "", "\";\"-separated XLA_FLAGS settings, each measured as one more implementation of every XLA backend (\"flowerlib xla:cpu (XLA flags 1)\"…) beside the plain one, in the same rounds")
	xlaGraph := fs.Bool("xla-graph-base", false, "also measure every XLA backend with the frozen base in XLA's graph ($"+resnet50.EnvBase+"=graph: XLA's own convolutions) as one more implementation (\"flowerlib xla:cpu (base in XLA)\"), beside the plain one (the base on flowerlib's GEMM on xla:cpu), in the same rounds")
	rounds := fs.Int("rounds", 3, "measure every task this many times, the implementations in turn (A B C, B C A, …); figures are the medians of the rounds, with their range")
	size := fs.Int("size", resnet50.DefaultSize, "image height and width (every task)")
	data := fs.String("data", "", "photos, augment, finetune: a dataset folder (one sub-folder per class; default: the 200-photo sample)")
	photos := fs.Int("photos", 0, "photos, augment, finetune: use this many photos of -data, spread over the classes (0: all)")
	epochs := fs.Int("epochs", 2, "augment, finetune: epochs to run; the last one is reported (the first includes compilation)")
	headKinds := fs.String("head-kinds", "flatten,pooled", "head: the article's Flatten head and/or the pooled (avg) one")
	threads := fs.Int("threads", runtime.NumCPU(), "threads of the references (the Go backend uses GOMAXPROCS workers, XLA its own pool)")
	seed := fs.Int64("seed", 1, "seed of the random weights and images")
	convMode := fs.String("conv", os.Getenv(envConv), "convolution path: auto (fast on go, native on XLA), fast, native (graph.Convolve: very slow on go); default $"+envConv)
	bf16 := fs.Bool("bf16", os.Getenv(envConvBF16) == "1", "fast path: multiply in bfloat16 (float32 accumulation); default $"+envConvBF16)
	memLimit := fs.Int("memlimit-mib", 1792, "Go soft memory limit in MiB while benchmarking (runtime/debug.SetMemoryLimit; 0 or $GOMEMLIMIT set: Go's default): the go backend's peak RSS at batch 32 then stays under 2 GiB (2.2 GiB with 2048, 3.2 GiB without)")
	cpuProfile := fs.String("cpuprofile", "", "write a pprof CPU profile of the run (the Go side) to this file (implies -in-process; an existing file only if it is a CPU profile, or with -force)")
	force := fs.forceFlag()
	inProcess := fs.Bool("in-process", false, "measure every flowerlib backend in this process (default: each in a child process of its own when there is more than one implementation, so that peak RSS and CPU figures are each one's alone)")
	if err := fs.parse(args); err != nil {
		return nil, nil, err
	}
	c := &benchConfig{size: *size, duration: *duration, seed: *seed, threads: *threads, convMode: *convMode, bf16: *bf16,
		epochs: *epochs, headKinds: splitList(*headKinds), jsonOut: *jsonOut, progress: os.Stdout, memLimit: *memLimit, rounds: *rounds}
	o := &benchOptions{backends: *backendList, refs: splitList(*refList), python: *python, kerasPython: *kerasPython,
		torchDevice: *torchDevice, data: *data, photos: *photos, cpuProfile: *cpuProfile, inProcess: *inProcess}
	if o.cpuProfile != "" {
		o.inProcess = true
		if err := checkOutput("cpuprofile", o.cpuProfile, profile, *force, nil); err != nil {
			return nil, nil, err
		}
	}
	for _, f := range strings.Split(*xlaFlags, ";") {
		if f = strings.TrimSpace(f); f != "" {
			c.xlaFlags = append(c.xlaFlags, f)
		}
	}
	if len(c.xlaFlags) > 0 && o.inProcess {
		return nil, nil, usagef("-xla-flags needs a child process per setting: leave out -in-process and -cpuprofile")
	}
	c.xlaGraph = *xlaGraph
	if c.xlaGraph && o.inProcess {
		return nil, nil, usagef("-xla-graph-base needs a child process of its own: leave out -in-process and -cpuprofile")
	}
	var err error
	if o.tasks, err = parseTasks(*taskList); err != nil {
		return nil, nil, usageError{err.Error()}
	}
	if c.batches, err = parseInts(*batchList); err != nil {
		return nil, nil, usagef("-batch: %v", err)
	}
	if err := c.validate(o.photos); err != nil {
		return nil, nil, err
	}
	return c, o, nil
}

// run sets up what the tasks need (backends, inputs, references, a profile), measures them
// in rounds and reports.
func (c *benchConfig) run(o *benchOptions) error {
	if err := c.setup(o.backends); err != nil {
		return err
	}
	var err error
	if c.tmp, err = os.MkdirTemp("", "flowers-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(c.tmp)
	if err := c.prepareInputs(o.tasks, o.data, o.photos); err != nil {
		return err
	}
	c.startRefs(o.refs, o.python, o.kerasPython, o.torchDevice)
	defer func() {
		for _, r := range c.refs {
			r.Close()
		}
	}()
	if o.cpuProfile != "" {
		stop, err := startProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	c.warnLoad()
	// Each flowerlib backend in a child process of its own (this command), the references in
	// theirs: every peak RSS and CPU figure is then the implementation's alone (XLA's memory,
	// say, is not in the go backend's peak).
	c.children = !o.inProcess && (len(c.backends) > 1 || len(c.refs) > 0 || len(c.xlaFlags) > 0 || c.xlaGraph)
	if err := c.runRounds(o.tasks, c.children); err != nil {
		return err
	}
	return c.report()
}

// setup applies the process-wide settings (memory limit, convolution path, where progress
// goes) and picks the backends.
func (c *benchConfig) setup(backendList string) error {
	if c.memLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// The Go backend allocates a fresh buffer per op result; without a limit the heap grows
		// to twice the live set (GOGC=100) before collecting.
		debug.SetMemoryLimit(int64(c.memLimit) << 20)
	}
	if err := resnet50.SetConvolutions(c.convMode, c.bf16); err != nil {
		return usagef("-conv: %v", err)
	}
	if c.jsonOut { // stdout is pure JSON lines
		c.progress = os.Stderr
	}
	c.backends = splitList(backendList)
	if len(c.backends) == 0 {
		c.backends = []string{"go"}
		if x := backend.Choose(""); x != "go" {
			c.backends = append(c.backends, x)
		}
	}
	return nil
}

// warnLoad records the load average and warns when other work shares the cores.
func (c *benchConfig) warnLoad() {
	c.loadBefore = loadAverage()
	if c.loadBefore > 0.5*float64(runtime.NumCPU()) {
		fmt.Fprintf(c.progress, "WARNING: load average %.1f on %d cores before the run: other work shares the CPUs; "+
			"PyTorch's OpenMP threads (spinning while they wait) then lose far more than the others (up to 15× here): the ratios are not meaningful\n",
			c.loadBefore, runtime.NumCPU())
	}
}

// benchChildEnv marks a child of runChild (tests re-execute their binary as the command).
const benchChildEnv = "FLOWERS_BENCH_CHILD"

func intList(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// loadAverage returns the 1-minute load average (Linux; 0 elsewhere).
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	return f
}

func (c *benchConfig) validate(photos int) error {
	if err := defaults.ImageSize.Check(c.size); err != nil {
		return usageError{"-" + err.Error()}
	}
	switch c.convMode {
	case "", "auto", "fast", "native":
	default:
		return usagef("-conv %q: use auto, fast or native", c.convMode)
	}
	if photos < 0 {
		return usagef("-photos %d: must be ≥ 0 (0: all)", photos)
	}
	if c.epochs < 1 || c.epochs > 1000 {
		return usagef("-epochs %d: must be 1 to 1000", c.epochs)
	}
	if c.duration <= 0 {
		return usagef("-duration %v: must be positive (e.g. 5s)", c.duration)
	}
	if c.threads < 1 {
		return usagef("-threads %d: must be at least 1", c.threads)
	}
	if c.rounds < 1 || c.rounds > 100 {
		return usagef("-rounds %d: must be 1 to 100", c.rounds)
	}
	if c.memLimit < 0 {
		return usagef("-memlimit-mib %d: must be ≥ 0 (0: Go's default)", c.memLimit)
	}
	for _, b := range c.batches {
		if b < 1 || b > defaults.MaxBatch(c.size) {
			return usagef("-batch %d: must be 1 to %d at -size %d on this machine", b, defaults.MaxBatch(c.size), c.size)
		}
	}
	for _, k := range c.headKinds {
		if k != "flatten" && k != "pooled" {
			return usagef("-head-kinds %q: use flatten and/or pooled", k)
		}
	}
	return nil
}

func parseTasks(s string) ([]string, error) {
	tasks := splitList(s)
	for _, t := range tasks {
		if !slices.Contains(benchTasks, t) {
			return nil, errors.Errorf("-tasks: unknown task %q (want some of %s)", t, strings.Join(benchTasks, ","))
		}
	}
	if len(tasks) == 0 {
		return nil, errors.New("-tasks: no task given")
	}
	return tasks, nil
}

// prepareInputs makes the random weights (in memory and as a Keras .h5 for the references
// and augment mode) and resolves the photo folder.
func (c *benchConfig) prepareInputs(tasks []string, data string, photos int) error {
	c.weights = resnet50.RandomWeights(c.seed, false)
	c.weightsPath = filepath.Join(c.tmp, "resnet50-random.h5")
	if err := weights.WriteH5(c.weightsPath, c.weights); err != nil {
		return err
	}
	if !slices.Contains(tasks, "photos") && !slices.Contains(tasks, "augment") && !slices.Contains(tasks, "finetune") {
		return nil
	}
	dir, err := benchDataDir(data, photos, c.tmp)
	if err != nil {
		return err
	}
	c.dataDir = dir
	return nil
}

// startRefs starts the reference servers; one that cannot start is reported and left out.
func (c *benchConfig) startRefs(names []string, python, kerasPython, torchDevice string) {
	if len(names) == 0 {
		return
	}
	if err := reference.WriteScripts(c.tmp); err != nil {
		fmt.Fprintf(c.progress, "%v not measured: %v\n", names, err)
		return
	}
	for _, name := range names {
		var r *refProc
		var err error
		switch name {
		case "torch":
			r, err = startRef("PyTorch", python, filepath.Join(c.tmp, reference.TorchScript), c.weightsPath, c.threads, "--device", torchDevice)
		case "keras":
			if kerasPython == "" {
				err = errors.New("no Python with TensorFlow: pass -keras-python (or set $FLOWERS_PYTHON: source .ci/venv.sh)")
			} else {
				r, err = startRef("TF-Keras", kerasPython, filepath.Join(c.tmp, reference.KerasScript), c.weightsPath, c.threads)
			}
		default:
			err = errors.Errorf("unknown reference %q (want torch, keras)", name)
		}
		if err != nil {
			fmt.Fprintf(c.progress, "%s not measured: %v\n", name, err)
			continue
		}
		fmt.Fprintf(c.progress, "%s: %s; BLAS: %s; %s\n", r.Name, r.Framework, r.BLAS, r.Settings)
		c.refs = append(c.refs, r)
	}
}

func (c *benchConfig) runTask(task string) error {
	switch task {
	case "forward":
		return c.runForward()
	case "photos":
		return c.runPhotos()
	case "head":
		return c.runHead()
	case "augment":
		return c.runAugment()
	case "finetune":
		return c.runFineTune()
	}
	return nil
}

// add records a result (and prints it with -json once its ratios are known, in report).
func (c *benchConfig) add(r benchResult) {
	r.Round = max(c.round, 1)
	round := ""
	if c.rounds > 1 {
		round = fmt.Sprintf("  (round %d of %d)", r.Round, c.rounds)
	}
	fmt.Fprintf(c.progress, "  %-8s %-14s %-18s %9.2f images/s  %.3f CPU s/image  peak %5.0f MiB%s\n",
		r.Task, r.Case, r.Impl, r.ImagesPerSec, r.CPUPerImage, r.PeakRSSMiB, round)
	c.results = append(c.results, r)
}

// refTask runs req on every reference and records the answers as case of task.
func (c *benchConfig) refTask(task, cas string, batch int, req map[string]any) {
	req["task"] = task
	for _, r := range c.activeRefs {
		a, err := r.Do(req)
		if err != nil {
			fmt.Fprintf(c.progress, "  %s %s %s failed: %v\n", r.Name, task, cas, err)
			continue
		}
		secs := a.Seconds
		if task == "head" {
			secs = a.SecondsPerStep
		}
		c.add(benchResult{Task: task, Case: cas, Batch: batch, Impl: r.Name, ImagesPerSec: a.ImagesPerSec,
			CPUPerImage: a.CPUPerImage, PeakRSSMiB: a.PeakRSSMiB, Iterations: a.Iterations, Seconds: secs})
	}
}

// report fills in each round's ratios, folds the rounds into medians and ranges, and prints
// them as JSON lines or as the tables.
func (c *benchConfig) report() error {
	if len(c.results) == 0 {
		return errors.Errorf("nothing could be measured (backends failed: %s)", strings.Join(c.failed, ", "))
	}
	fillRoundRatios(c.results)
	summary := summarize(c.results)
	if c.jsonOut {
		out := summary
		if os.Getenv(benchChildEnv) != "" { // a child's lines are one round's measurements
			out = c.results
		}
		for _, r := range out {
			line, _ := json.Marshal(r)
			fmt.Println(string(line))
		}
	} else {
		printBenchTables(os.Stdout, summary, append(c.notes(), undecidedNotes(summary)...))
	}
	if len(c.failed) > 0 {
		return errors.Errorf("not measured: %s", strings.Join(c.failed, ", "))
	}
	return nil
}

// notes describes the run: machine, versions, settings of each implementation.
// isaLimits are the environment variables that keep an implementation's code to older vector
// extensions (e.g. AVX2 on an AVX-512 CPU, to measure what an AVX2 machine runs): Go's CPU
// detection (flowerlib, compute), XLA's code generation, oneDNN (TF-Keras, PyTorch),
// PyTorch's own kernels and OpenBLAS (docs/BENCHMARKS.md, "AVX2 code on the AVX-512 Xeon").
var isaLimits = []string{"GODEBUG", "XLA_FLAGS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "OPENBLAS_CORETYPE"}

// isaEnv lists the isaLimits variables set in this process's environment, as NAME=value.
func isaEnv() []string {
	var set []string
	for _, k := range isaLimits {
		if v := os.Getenv(k); v != "" {
			set = append(set, k+"="+v)
		}
	}
	return set
}

func (c *benchConfig) notes() []string {
	n := []string{fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s, %s/%s; load average %.1f before, %.1f after; `flowers bench %s`",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		c.loadBefore, loadAverage(), strings.Join(os.Args[min(2, len(os.Args)):], " "))}
	for _, b := range c.backends {
		fast := (b == "go" && c.convMode != "native") || c.convMode == "fast"
		line := fmt.Sprintf("flowerlib %s: random Keras-layout weights (seed %d), conv path %s%s", b, c.seed,
			map[bool]string{true: "fast (flowerlib/internal/conv)", false: "XLA's native convolution"}[fast],
			map[bool]string{true: ", bf16 multiplies", false: ""}[c.bf16])
		if b == "go" {
			line += fmt.Sprintf("; frozen base: %s; vector paths: MatMul (heads, fine-tuning) %s, host Adam %s",
				resnet50.BasePath(true, false), matmulVectorPath(), trainer.AdamVectorPath())
		} else if strings.HasPrefix(b, "xla:cpu") {
			line += "; frozen base: " + resnet50.BasePath(false, true)
		}
		n = append(n, line)
	}
	for i, f := range c.xlaFlags {
		n = append(n, fmt.Sprintf("XLA flags %d: the XLA backends with XLA_FLAGS=%q", i+1, f))
	}
	if c.xlaGraph {
		n = append(n, fmt.Sprintf("base in XLA: the XLA backends with %s=graph, the frozen base in XLA's graph (XLA's own convolutions)", resnet50.EnvBase))
	}
	order := "the order rotating by one each round, each flowerlib backend in a child process of its own"
	if !c.children {
		order = "in this process, flowerlib's backends first"
	}
	n = append(n, fmt.Sprintf("%d rounds: each implementation measured once per round per task, in turn (%s); "+
		"figures are the medians of the rounds, [ranges] their minimum and maximum, ratios taken within a round", c.rounds, order))
	for _, r := range c.refs {
		n = append(n, fmt.Sprintf("%s: %s, BLAS %s; %s; the same weights (.h5)", r.Name, r.Framework, r.BLAS, r.Settings))
	}
	if env := isaEnv(); len(env) > 0 {
		n = append(n, "vector extensions limited by the environment, for every implementation started by this run: "+strings.Join(env, ", "))
	}
	if slices.ContainsFunc(c.results, func(r benchResult) bool { return r.OnceSeconds > 0 }) {
		n = append(n, "fine-tuning: flowerlib runs the frozen layers (conv1–conv4) over the photos once before the first epoch "+
			"(\"+X once\" in the detail table) and each epoch only conv5 and the head; PyTorch and TF-Keras run the whole base every epoch, as their users' code does")
	}
	return n
}

// --- shared measurement helpers ---------------------------------------------------------------

type procUsage struct {
	cpu    time.Duration
	minFlt int64
}

// getRusage returns this process's user+system CPU time and minor page faults so far.
func getRusage() procUsage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return procUsage{}
	}
	return procUsage{time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Minflt}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startMeasure returns the heap to the OS and resets this process's VmHWM (Linux: "5" to
// /proc/self/clear_refs), so the next peakRSSMiB is this measurement's own peak.
func startMeasure() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSSMiB returns VmHWM from /proc/self/status in MiB (0 where unavailable).
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, errors.Wrapf(err, "creating %s", path)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, errors.Wrapf(err, "starting CPU profile %s", path)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, errors.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no value given")
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
