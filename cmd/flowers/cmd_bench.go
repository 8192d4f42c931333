package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	benchmarks "github.com/janpfeifer/go-benchmarks"
	"github.com/pkg/errors"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Environment variables of flowerlib/internal/conv (internal: not importable from here).
const (
	envConv     = "FLOWERS_CONV"
	envConvBF16 = "FLOWERS_CONV_BF16"
)

func init() {
	register("bench", "ResNet50 forward images/s per backend and batch, vs PyTorch CPU in the same run", runBench)
}

// benchResult is one measurement; -json prints one per line.
type benchResult struct {
	Backend        string   `json:"backend"`
	Batch          int      `json:"batch"`
	ImagesPerSec   float64  `json:"images_per_sec"`
	TorchPerSec    *float64 `json:"torch_images_per_sec"` // null without torch
	Ratio          *float64 `json:"ratio"`                // flowerlib ÷ torch
	PeakRSSMiB     float64  `json:"peak_rss_mib"`         // VmHWM of this process during this batch
	TorchPeakMiB   *float64 `json:"torch_peak_rss_mib"`   // VmHWM of the torch child during its batch
	Iterations     int      `json:"iterations"`
	TorchIters     *int     `json:"torch_iterations"`
	Threads        int      `json:"threads"`
	Size           int      `json:"size"`
	ConvPath       string   `json:"conv"`
	BFloat16       bool     `json:"bf16"`
	CompileSeconds float64  `json:"compile_seconds"`       // graph build + compile + first (warm-up) run
	CPUPerImage    float64  `json:"cpu_seconds_per_image"` // user+sys CPU of this process per image over the timed runs
	TorchCPU       *float64 `json:"torch_cpu_seconds_per_image"`
	FaultsPerRun   float64  `json:"minor_faults_per_run"` // page faults (fresh memory touched) per timed run
}

func runBench(args []string) error {
	fs := newFlags("bench", "[-batch 1,8,32] [-backends go,xla:cuda] [-json] [-torch=true] [-duration 5s]", "")
	batchList := fs.String("batch", "1,8,32", "comma-separated batch sizes")
	backendList := fs.String("backends", "", "comma-separated GoMLX backends (default: go, plus the XLA backend chosen by flowerlib/backend when a PJRT plugin is installed)")
	jsonOut := fs.Bool("json", false, "print one JSON object per measurement on stdout (progress goes to stderr)")
	withTorch := fs.Bool("torch", true, "also measure PyTorch CPU (/usr/bin/python3 with torch), same batch and thread count, in this run")
	python := fs.String("python", "/usr/bin/python3", "Python interpreter with torch, for -torch")
	duration := fs.Duration("duration", 5*time.Second, "measuring time per backend and batch (after one warm-up run); at least one timed run")
	size := fs.Int("size", resnet50.DefaultSize, "image height and width")
	threads := fs.Int("threads", runtime.NumCPU(), "PyTorch threads (the Go backend uses GOMAXPROCS workers)")
	seed := fs.Int64("seed", 1, "seed of the random weights and images")
	convMode := fs.String("conv", os.Getenv(envConv), "convolution path: auto (fast on go, native on XLA), fast, native (graph.Convolve: very slow on go); sets $"+envConv)
	bf16 := fs.Bool("bf16", os.Getenv(envConvBF16) == "1", "fast path: multiply in bfloat16 (float32 accumulation); sets $"+envConvBF16)
	memLimit := fs.Int("memlimit-mib", 2560, "Go soft memory limit in MiB while benchmarking (runtime/debug.SetMemoryLimit; 0 or $GOMEMLIMIT set: Go's default): keeps the peak RSS at batch 32 under 3 GiB")
	cpuProfile := fs.String("cpuprofile", "", "write a pprof CPU profile of the Go-side timed runs to this file")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.Errorf("unexpected arguments %q", fs.Args())
	}
	batches, err := parseInts(*batchList)
	if err != nil {
		return errors.WithMessage(err, "-batch")
	}
	if *size < resnet50.MinSize {
		return errors.Errorf("-size %d: ResNet50 needs at least %d", *size, resnet50.MinSize)
	}
	if *memLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// The Go backend allocates a fresh buffer per op result; without a limit the heap grows
		// to twice the live set (GOGC=100) before collecting, about 3.2 GiB at batch 32.
		debug.SetMemoryLimit(int64(*memLimit) << 20)
	}
	// flowerlib/internal/conv reads these when graphs are built.
	switch *convMode {
	case "", "auto", "fast", "native":
	default:
		return errors.Errorf("-conv %q: use auto, fast or native", *convMode)
	}
	os.Setenv(envConv, *convMode)
	os.Setenv(envConvBF16, map[bool]string{true: "1", false: "0"}[*bf16])
	backends := splitList(*backendList)
	if len(backends) == 0 {
		backends = []string{"go"}
		if c := backend.Choose(""); c != "go" {
			backends = append(backends, c)
		}
	}
	// Progress and go-benchmarks' table go to stderr with -json, so stdout is pure JSON lines.
	progress := io.Writer(os.Stdout)
	if *jsonOut {
		progress = os.Stderr
	}

	var torch *torchBench
	if *withTorch {
		torch, err = startTorch(*python, *threads, *size, *duration)
		if err != nil {
			fmt.Fprintf(progress, "PyTorch not measured: %v\n", err)
			torch = nil
		} else {
			defer torch.Close()
			fmt.Fprintf(progress, "PyTorch %s CPU, %d threads, channels_last, inference_mode, denormals flushed (Keras-v1 ResNet50 layout)\n", torch.version, *threads)
		}
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return errors.Wrapf(err, "creating %s", *cpuProfile)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return errors.Wrapf(err, "starting CPU profile %s", *cpuProfile)
		}
		defer pprof.StopCPUProfile()
	}

	w := resnet50.RandomWeights(*seed, false)
	torchCache := map[int]*torchResult{}
	var results []benchResult
	var failed []string
	for _, name := range backends {
		b, err := backend.New(name, progress)
		if err != nil { // report, measure the other backends, fail at the end
			fmt.Fprintf(os.Stderr, "flowers bench: %v\n", err)
			failed = append(failed, name)
			continue
		}
		store := model.NewStore()
		exec, err := model.NewExec(b, store, func(scope *model.Scope, images *graph.Node) *graph.Node {
			return resnet50.BuildGraph(scope, images).PreTrained(w).Trainable(false).Pooling(resnet50.PoolingAvg).Done()
		})
		if err != nil {
			return errors.WithMessagef(err, "backend %s", name)
		}
		for _, batch := range batches {
			r, err := benchGoMLX(exec, name, batch, *size, *seed, *duration, progress)
			if err != nil {
				return errors.WithMessagef(err, "backend %s, batch %d", name, batch)
			}
			r.Threads, r.Size, r.BFloat16 = *threads, *size, *bf16
			r.ConvPath = "native"
			if *convMode == "fast" || (*convMode != "native" && backend.IsGo(b)) {
				r.ConvPath = "fast"
			}
			if torch != nil {
				tr := torchCache[batch]
				if tr == nil { // torch runs right after the first backend's batch: same machine state
					tr, err = torch.Measure(batch)
					if err != nil {
						fmt.Fprintf(progress, "PyTorch batch %d failed, not measured further: %v\n", batch, err)
						torch.Close()
						torch = nil
					} else {
						torchCache[batch] = tr
						fmt.Fprintf(progress, "  pytorch batch %d: %.2f images/s (%d runs, peak RSS %.0f MiB)\n",
							batch, tr.ImagesPerSec, tr.Iterations, tr.PeakRSSMiB)
					}
				}
				if tr != nil {
					ratio := r.ImagesPerSec / tr.ImagesPerSec
					r.TorchPerSec, r.Ratio, r.TorchPeakMiB, r.TorchIters = &tr.ImagesPerSec, &ratio, &tr.PeakRSSMiB, &tr.Iterations
					r.TorchCPU = &tr.CPUPerImage
				}
			}
			if *jsonOut {
				line, _ := json.Marshal(r)
				fmt.Println(string(line))
			}
			results = append(results, r)
		}
		exec.Finalize()
	}
	if len(results) == 0 {
		return errors.Errorf("no backend could be measured (%s)", strings.Join(failed, ", "))
	}
	if !*jsonOut {
		printBenchTable(os.Stdout, results)
	}
	last := results[len(results)-1]
	summary := fmt.Sprintf("bench: %s batch %d: %.2f images/s", last.Backend, last.Batch, last.ImagesPerSec)
	if last.Ratio != nil {
		summary += fmt.Sprintf(", PyTorch %.2f images/s, ratio %.2f", *last.TorchPerSec, *last.Ratio)
	}
	summary += fmt.Sprintf(", peak RSS %.0f MiB", last.PeakRSSMiB)
	fmt.Fprintln(progress, summary)
	if len(failed) > 0 {
		return errors.Errorf("backends not measured: %s", strings.Join(failed, ", "))
	}
	return nil
}

// benchGoMLX measures exec on one batch of random 0..255 images with go-benchmarks
// (one warm-up run, which also compiles; then timed runs for duration).
func benchGoMLX(exec *model.Exec, name string, batch, size int, seed int64, duration time.Duration, progress io.Writer) (benchResult, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(batch)))
	data := make([]float32, batch*size*size*3)
	for i := range data {
		data[i] = 255 * rng.Float32()
	}
	images := tensors.FromFlatDataAndDimensions(data, batch, size, size, 3)
	defer images.FinalizeAll()
	resetPeakRSS()

	var runErr error
	var times []time.Duration
	run := func() {
		if runErr != nil {
			return
		}
		start := time.Now()
		out, err := exec.Call(images)
		if err != nil {
			runErr = err
			return
		}
		if got := out[0].Shape().Dimensions; len(got) != 2 || got[0] != batch || got[1] != resnet50.FeatureChannels {
			runErr = errors.Errorf("unexpected output shape %s", out[0].Shape())
		}
		for _, t := range out {
			_ = t.FinalizeAll()
		}
		times = append(times, time.Since(start))
	}
	compileStart := time.Now()
	run() // warm-up: builds and compiles the graph for this shape, creates the variables
	if runErr != nil {
		return benchResult{}, runErr
	}
	compile := time.Since(compileStart)
	times = times[:0]
	startUsage := getRusage()

	// go-benchmarks prints its table on os.Stdout: point it at the progress writer.
	stdout := os.Stdout
	if f, ok := progress.(*os.File); ok {
		os.Stdout = f
	}
	benchmarks.New(benchmarks.NamedFunction{
		Name: fmt.Sprintf("flowerlib/%s/batch=%d", name, batch),
		Func: run,
	}).WithWarmUps(0).WithDuration(duration).WithQuantiles(5, 95).Done()
	os.Stdout = stdout
	if runErr != nil {
		return benchResult{}, runErr
	}
	endUsage := getRusage()
	med := median(times)
	return benchResult{
		Backend:        name,
		Batch:          batch,
		ImagesPerSec:   float64(batch) / med.Seconds(),
		PeakRSSMiB:     peakRSSMiB(),
		Iterations:     len(times),
		CompileSeconds: compile.Seconds(),
		CPUPerImage:    (endUsage.cpu - startUsage.cpu).Seconds() / float64(batch*len(times)),
		FaultsPerRun:   float64(endUsage.minFlt-startUsage.minFlt) / float64(len(times)),
	}, nil
}

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

// resetPeakRSS resets this process's VmHWM (Linux: "5" to /proc/self/clear_refs), so each
// batch reports its own peak; on failure the peak is since process start.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

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

func printBenchTable(w io.Writer, results []benchResult) {
	fmt.Fprintf(w, "\n| backend | batch | flowerlib images/s | PyTorch images/s | ratio | flowerlib peak RSS MiB | PyTorch peak RSS MiB | CPU s/image flowerlib / PyTorch |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		torch, ratio, tpeak, cpu := "–", "–", "–", fmt.Sprintf("%.3f", r.CPUPerImage)
		if r.TorchPerSec != nil {
			torch, ratio, tpeak = fmt.Sprintf("%.2f", *r.TorchPerSec), fmt.Sprintf("%.2f", *r.Ratio), fmt.Sprintf("%.0f", *r.TorchPeakMiB)
			cpu += fmt.Sprintf(" / %.3f", *r.TorchCPU)
		}
		name := r.Backend
		if r.BFloat16 {
			name += " (bf16)"
		}
		fmt.Fprintf(w, "| %s | %d | %.2f | %s | %s | %.0f | %s | %s |\n", name, r.Batch, r.ImagesPerSec, torch, ratio, r.PeakRSSMiB, tpeak, cpu)
	}
	fmt.Fprintln(w)
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

// torchBench is a long-lived Python child measuring PyTorch on request, so torch is imported
// once and its figures interleave with flowerlib's.
type torchBench struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Scanner
	version string
}

type torchResult struct {
	Batch        int     `json:"batch"`
	ImagesPerSec float64 `json:"images_per_sec"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	Iterations   int     `json:"iterations"`
	CPUPerImage  float64 `json:"cpu_seconds_per_image"`
	Error        string  `json:"error"`
}

func startTorch(python string, threads, size int, duration time.Duration) (*torchBench, error) {
	if _, err := os.Stat(python); err != nil {
		return nil, errors.Wrapf(err, "%s not found (pass -python or -torch=false)", python)
	}
	cmd := exec.Command(python, "-c", torchScript, strconv.Itoa(threads), strconv.Itoa(size), strconv.FormatFloat(duration.Seconds(), 'f', 3, 64))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, errors.Wrapf(err, "starting %s", python)
	}
	t := &torchBench{cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}
	if !t.out.Scan() {
		t.Close()
		return nil, errors.Errorf("%s could not import torch (install Debian's python3-torch, or pass -torch=false)", python)
	}
	var hello struct{ Torch string }
	if err := json.Unmarshal(t.out.Bytes(), &hello); err != nil || hello.Torch == "" {
		t.Close()
		return nil, errors.Errorf("unexpected answer from the torch script: %q", t.out.Text())
	}
	t.version = hello.Torch
	return t, nil
}

func (t *torchBench) Measure(batch int) (*torchResult, error) {
	if _, err := fmt.Fprintf(t.in, "%d\n", batch); err != nil {
		return nil, err
	}
	if !t.out.Scan() {
		return nil, errors.New("torch child exited")
	}
	var r torchResult
	if err := json.Unmarshal(t.out.Bytes(), &r); err != nil {
		return nil, errors.Wrapf(err, "parsing %q", t.out.Text())
	}
	if r.Error != "" {
		return nil, errors.New(r.Error)
	}
	return &r, nil
}

func (t *torchBench) Close() {
	if t == nil || t.cmd == nil {
		return
	}
	_ = t.in.Close()
	done := make(chan struct{})
	go func() { _ = t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = t.cmd.Process.Kill()
		<-done
	}
	t.cmd = nil
}

// torchScript builds the Keras-v1 ResNet50 (biased convolutions, stride 2 on the first 1×1
// of stages 3–5: the same FLOPs as flowerlib's) with random weights, eval mode, channels_last,
// and answers one JSON line per batch size read from stdin.
const torchScript = `
import json, sys, time, resource
try:
    import torch, torch.nn as nn
except Exception as e:
    print(json.dumps({"error": "import torch: %s" % e}), flush=True); sys.exit(1)
threads, size, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
torch.set_num_threads(threads)
# Random weights leave tiny activations: without flushing denormals to zero PyTorch ran 3x slower.
torch.set_flush_denormal(True)
torch.manual_seed(1)

def cbr(cin, cout, k, s, relu=True):
    layers = [nn.Conv2d(cin, cout, k, s, padding=k // 2, bias=True), nn.BatchNorm2d(cout, eps=1.001e-5)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)

class Block(nn.Module):
    def __init__(self, cin, f, s, shortcut):
        super().__init__()
        self.short = cbr(cin, 4 * f, 1, s, relu=False) if shortcut else None
        self.body = nn.Sequential(cbr(cin, f, 1, s), cbr(f, f, 3, 1), cbr(f, 4 * f, 1, 1, relu=False))
    def forward(self, x):
        sc = self.short(x) if self.short is not None else x
        return torch.relu(sc + self.body(x))

def resnet50():
    layers = [cbr(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for f, n, s in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(n):
            layers.append(Block(cin, f, s if i == 0 else 1, i == 0))
            cin = 4 * f
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)

def vmhwm_mib():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

model = resnet50().eval()
# Scales like flowerlib's resnet50.RandomWeights, so activations stay O(1) through the 50 layers
# (PyTorch's default init shrinks them towards denormals, which run much slower on CPU).
with torch.no_grad():
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
            nn.init.uniform_(mod.bias, -0.05, 0.05)
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.uniform_(mod.weight, 0.8, 1.2)
            nn.init.uniform_(mod.bias, -0.1, 0.1)
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    model[0][0].weight /= 64
    for mod in model.modules():
        if isinstance(mod, Block):
            nn.init.uniform_(mod.body[2][1].weight, 0.2, 0.4)
model = model.to(memory_format=torch.channels_last)
print(json.dumps({"torch": torch.__version__}), flush=True)
for line in sys.stdin:
    batch = int(line)
    try:
        open("/proc/self/clear_refs", "w").write("5")
    except OSError:
        pass
    x = (torch.rand(batch, 3, size, size) * 255 - 128).contiguous(memory_format=torch.channels_last)  # like preprocessed
    times = []
    with torch.inference_mode():
        for _ in range(2):  # warm-up: oneDNN prepares its kernels per shape on the first runs
            model(x)
        end = time.time() + duration
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        while not times or time.time() < end:
            t0 = time.perf_counter()
            y = model(x)
            times.append(time.perf_counter() - t0)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / (batch * len(times))
    assert tuple(y.shape) == (batch, 2048) and bool(torch.isfinite(y).all())
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    print(json.dumps({"batch": batch, "images_per_sec": batch / med, "peak_rss_mib": vmhwm_mib(), "iterations": n, "cpu_seconds_per_image": cpu}), flush=True)
`
