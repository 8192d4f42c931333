package runner

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowerlib/flowers/flowerlib/export"
)

// benchRun is the outcome of one load run against one server configuration.
type benchRun struct {
	maxBatch  int
	requests  int     // answered 200 within the window
	errors    int     // other answers within the window
	perSecond float64 // requests / window
	p50, p99  time.Duration
	meanBatch float64 // photos per model run
}

// benchMain measures serve under a closed-loop load: Clients goroutines each POST a photo,
// wait for the answer and POST the next, for a warm-up then Duration; only answers that
// arrive inside the window count. Each -max-batch value is measured in every round, in
// alternating order, on the same process and machine, so that the configurations compare
// paired (on a shared machine absolute figures move between runs; their ratio moves less).
func benchMain(m *export.Model, name string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name+" bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clients := fs.Int("clients", 100, "concurrent clients (1 to 10000)")
	duration := fs.Duration("duration", 30*time.Second, "measured time per run")
	warmup := fs.Duration("warmup", 5*time.Second, "load before each measured window, not counted")
	rounds := fs.Int("rounds", 2, "rounds; each measures every -batches value once (1 to 100)")
	batchList := fs.String("batches", "16,1", "comma-separated -max-batch values to compare (1: no batching)")
	var sf serveFlags
	sf.add(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s bench [flags] PHOTO…\n\nServes the model on 127.0.0.1 (one server per -batches value, in this process) and loads it\nwith the photos round-robin; prints requests/s and latency percentiles per run, and the medians.\n\n", name)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	var batches []int
	for _, f := range strings.Split(*batchList, ",") {
		var b int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &b); err != nil || b < 1 || b > 256 {
			return usagef("-batches %q: want comma-separated sizes from 1 to 256", *batchList)
		}
		batches = append(batches, b)
	}
	switch {
	case *clients < 1 || *clients > 10000:
		return usagef("-clients %d: must be 1 to 10000", *clients)
	case *duration <= 0 || *warmup < 0:
		return usagef("-duration %s, -warmup %s: the duration must be positive, the warm-up not negative", *duration, *warmup)
	case *rounds < 1 || *rounds > 100:
		return usagef("-rounds %d: must be 1 to 100", *rounds)
	case fs.NArg() == 0:
		return usagef("give the photos to send (e.g. a few sample photos)")
	}
	if err := sf.check(); err != nil {
		return err
	}
	bodies, err := readBodies(fs.Args())
	if err != nil {
		return err
	}
	p, err := sf.predictor(m, stderr)
	if err != nil {
		return err
	}
	defer p.Finalize()
	fmt.Fprintf(stdout, "serve bench: %d clients, %s per run after %s of warm-up, %d rounds; backend %s; %d×%d photos (%d files); %s\n",
		*clients, *duration, *warmup, *rounds, p.backend.Name(), m.ImageSize, m.ImageSize, len(bodies), cpuLine())
	fmt.Fprintf(stdout, "%-5s %-9s %8s %8s %9s %9s %6s %10s\n", "round", "max-batch", "answered", "req/s", "p50 ms", "p99 ms", "errors", "mean batch")
	runs := map[int][]benchRun{}
	for r := range *rounds {
		order := slices.Clone(batches)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, b := range order {
			opts := sf.opts
			opts.MaxBatch = b
			br, err := benchOne(p, opts, bodies, *clients, *warmup, *duration)
			if err != nil {
				return err
			}
			runs[b] = append(runs[b], br)
			fmt.Fprintf(stdout, "%-5d %-9d %8d %8.2f %9.0f %9.0f %6d %10.1f\n", r+1, b, br.requests, br.perSecond,
				ms(br.p50), ms(br.p99), br.errors, br.meanBatch)
		}
	}
	printMedians(stdout, batches, runs)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// printMedians prints each configuration's medians over the rounds and, for the first, its
// ratio to each other (requests/s).
func printMedians(w io.Writer, batches []int, runs map[int][]benchRun) {
	med := func(b int, f func(benchRun) float64) float64 {
		v := []float64{}
		for _, r := range runs[b] {
			v = append(v, f(r))
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	rate := func(r benchRun) float64 { return r.perSecond }
	for _, b := range batches {
		fmt.Fprintf(w, "median max-batch %d: %.2f req/s, p50 %.0f ms, p99 %.0f ms\n", b, med(b, rate),
			med(b, func(r benchRun) float64 { return ms(r.p50) }), med(b, func(r benchRun) float64 { return ms(r.p99) }))
	}
	for _, b := range batches[1:] {
		if d := med(b, rate); d > 0 {
			fmt.Fprintf(w, "max-batch %d vs %d: %.2f× the requests/s (median of the paired rounds)\n", batches[0], b, med(batches[0], rate)/d)
		}
	}
}

type body struct {
	data        []byte
	contentType string
}

func readBodies(paths []string) ([]body, error) {
	var out []body
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading %q: %w", p, err)
		}
		ct := "image/jpeg"
		switch strings.ToLower(filepath.Ext(p)) {
		case ".png":
			ct = "image/png"
		case ".webp":
			ct = "image/webp"
		}
		out = append(out, body{data, ct})
	}
	return out, nil
}

// cpuLine names the CPU and whether it has AVX-512, from /proc/cpuinfo where there is one.
func cpuLine() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "CPU unknown"
	}
	model := "CPU unknown"
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			model = strings.TrimSpace(v)
			break
		}
	}
	avx := "AVX2 only (no avx512f)"
	if bytes.Contains(b, []byte(" avx512f")) {
		avx = "AVX-512"
	} else if !bytes.Contains(b, []byte(" avx2")) {
		avx = "no AVX2"
	}
	return fmt.Sprintf("%s, %s", model, avx)
}

// benchOne serves with opts on a fresh loopback port and loads it.
func benchOne(p *Predictor, opts ServeOptions, bodies []body, clients int, warmup, duration time.Duration) (benchRun, error) {
	s := NewServer(p, opts)
	if err := s.Warm(); err != nil {
		return benchRun{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return benchRun{}, err
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, 5*time.Second, io.Discard) }()
	url := "http://" + ln.Addr().String() + "/predict"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	loadCtx, cancelLoad := context.WithTimeout(context.Background(), warmup+duration)
	from := time.Now().Add(warmup)
	var mu sync.Mutex
	var lat []time.Duration
	r := benchRun{maxBatch: opts.MaxBatch}
	batches0, served0 := s.batches.Load(), s.served.Load()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; loadCtx.Err() == nil; i += clients {
				b := bodies[i%len(bodies)]
				req, _ := http.NewRequestWithContext(loadCtx, http.MethodPost, url, bytes.NewReader(b.data))
				req.Header.Set("Content-Type", b.contentType)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				t1 := time.Now()
				if loadCtx.Err() != nil || t1.Before(from) {
					continue // cut off at the end, or in the warm-up
				}
				mu.Lock()
				if err == nil && resp.StatusCode == http.StatusOK {
					lat = append(lat, t1.Sub(t0))
				} else {
					r.errors++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cancelLoad()
	stop()
	if err := <-served; err != nil {
		return r, err
	}
	client.CloseIdleConnections()
	slices.Sort(lat)
	r.requests = len(lat)
	r.perSecond = float64(len(lat)) / duration.Seconds()
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)*50/100], lat[min(len(lat)-1, len(lat)*99/100)]
	}
	if nb := s.batches.Load() - batches0; nb > 0 {
		r.meanBatch = float64(s.served.Load()-served0) / float64(nb)
	}
	return r, nil
}
