package runner

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/export"
)

// serveFlags are the flags serve and bench share.
type serveFlags struct {
	opts        ServeOptions
	backendName string
}

func (f *serveFlags) add(fs *flag.FlagSet) {
	fs.Int64Var(&f.opts.MaxBody, "max-body", 20<<20, "largest request body in bytes (larger: 413)")
	fs.IntVar(&f.opts.MaxBatch, "max-batch", 0, "most photos run at once: waiting requests are batched (1 to 256; 1: no batching; "+
		"0: 16 on a GPU backend, 1 on CPU, where batching did not pay: docs/BENCHMARKS.md)")
	fs.IntVar(&f.opts.MaxQueue, "max-queue", 256, "most decoded photos waiting for the model (more: 503 at once)")
	fs.DurationVar(&f.opts.Timeout, "timeout", 2*time.Minute, "longest a request may take, from arrival to answer (then 503)")
	fs.StringVar(&f.backendName, "backend", "", "GoMLX backend: go, xla:cpu, xla:cuda (default: $GOMLX_BACKEND or the best installed)")
}

func (f *serveFlags) check() error {
	switch {
	case f.opts.MaxBody < 1:
		return usagef("-max-body %d: must be at least 1", f.opts.MaxBody)
	case f.opts.MaxBatch < 0 || f.opts.MaxBatch > 256:
		return usagef("-max-batch %d: must be 0 (by backend) to 256", f.opts.MaxBatch)
	case f.opts.MaxQueue < 1:
		return usagef("-max-queue %d: must be at least 1", f.opts.MaxQueue)
	case f.opts.Timeout <= 0:
		return usagef("-timeout %s: must be positive", f.opts.Timeout)
	}
	return nil
}

// predictor creates the backend and the model's predictor, and runs it once on a blank photo
// so that the first request does not wait for the batch-1 graph's compilation.
func (f *serveFlags) predictor(m *export.Model, log io.Writer) (*Predictor, error) {
	b, err := backend.New(f.backendName, log)
	if err != nil {
		return nil, err
	}
	p, err := NewPredictor(b, m)
	if err != nil {
		return nil, err
	}
	if f.opts.MaxBatch == 0 {
		f.opts.MaxBatch = defaultMaxBatch(b.Name())
	}
	s := m.ImageSize
	if _, err := p.ExtractFloats(make([]float32, s*s*3), 1, s, s); err != nil {
		p.Finalize()
		return nil, err
	}
	return p, nil
}

// defaultMaxBatch is 16 on a GPU backend, where a batch costs little more than one photo, and 1
// on the CPU backends: on 2 cores one photo keeps both busy, and serve's paired benchmark found
// no gain from batching (docs/BENCHMARKS.md).
func defaultMaxBatch(backendName string) int {
	if strings.Contains(strings.ToLower(backendName), "cuda") || strings.Contains(strings.ToLower(backendName), "gpu") {
		return 16
	}
	return 1
}

func serveMain(m *export.Model, name string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(name+" serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	grace := fs.Duration("grace", 30*time.Second, "on SIGTERM or Ctrl-C, how long requests in flight may still take")
	var sf serveFlags
	sf.add(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s serve [flags]\n\nPOST /predict?top=K with a photo's bytes as the body (Content-Type image/… or application/octet-stream)\n"+
			"answers {\"top\": [{\"class\", \"probability\"}…]}, or {\"error\"} with a 4xx status; GET /healthz answers {\"status\": \"ok\", …}.\n\n", name)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	if err := sf.check(); err != nil {
		return err
	}
	start := time.Now()
	p, err := sf.predictor(m, stderr)
	if err != nil {
		return err
	}
	defer p.Finalize()
	s := NewServer(p, sf.opts)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("-addr %s: %w", *addr, err)
	}
	fmt.Fprintf(stderr, "%s: ready in %.1fs: %d classes, %d×%d photos, on http://%s (POST /predict, GET /healthz); SIGTERM or Ctrl-C stops\n",
		name, time.Since(start).Seconds(), len(m.Classes), m.ImageSize, m.ImageSize, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = s.Serve(ctx, ln, *grace, stderr)
	fmt.Fprintf(stderr, "%s: shut down: %d photos answered in %d batches\n", name, s.served.Load(), s.batches.Load())
	return err
}
