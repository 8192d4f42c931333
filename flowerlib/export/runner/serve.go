package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/metrics"
)

// ServeOptions configure Server. Zero values take the defaults.
type ServeOptions struct {
	// MaxBody is the largest request body accepted, in bytes (default 20 MiB): larger ones get
	// 413 without being read.
	MaxBody int64
	// MaxBatch is the most photos run through the model at once (default 1: no batching; the
	// serve command picks 16 on a GPU backend): concurrent requests waiting for the model are
	// batched, up to this.
	MaxBatch int
	// MaxQueue bounds the decoded photos waiting for the model (default 256): a request that
	// finds the queue full gets 503 at once, instead of piling up memory.
	MaxQueue int
	// Timeout bounds a request from its arrival to its answer (default 2 minutes): past it the
	// request gets 503 and its photo is not run. Reading the body has its own 30 s limit.
	Timeout time.Duration
}

func (o ServeOptions) withDefaults() ServeOptions {
	if o.MaxBody <= 0 {
		o.MaxBody = 20 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	return o
}

// Server answers POST /predict (a photo's bytes in the body) with the model's top classes,
// and GET /healthz. Photos are decoded in the handlers (at most GOMAXPROCS at a time); one
// batcher runs the model on whatever photos are waiting, up to MaxBatch at once, so that one
// inference runs at a time and concurrent requests share it.
type Server struct {
	p        *Predictor
	opts     ServeOptions
	queue    chan *job
	decoding chan struct{}
	served   atomic.Int64
	batches  atomic.Int64
}

type job struct {
	ctx    context.Context
	pixels []float32
	done   chan []float32 // the probabilities; nil when the model failed
}

// NewServer returns a server of p's model; call Run to start its batcher.
func NewServer(p *Predictor, opts ServeOptions) *Server {
	opts = opts.withDefaults()
	return &Server{p: p, opts: opts, queue: make(chan *job, opts.MaxQueue),
		decoding: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// Handler routes /predict and /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/predict", s.predict)
	mux.HandleFunc("/healthz", s.healthz)
	return mux
}

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, format string, args ...any) {
	reply(w, status, apiError{Error: fmt.Sprintf(format, args...)})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		fail(w, http.StatusMethodNotAllowed, "use GET /healthz")
		return
	}
	m := s.p.Model
	reply(w, http.StatusOK, map[string]any{"status": "ok", "classes": m.Classes, "image_size": m.ImageSize,
		"backend": s.p.backend.Name(), "waiting": len(s.queue), "served": s.served.Load()})
}

// acceptedType reports whether a Content-Type names an image (or raw bytes).
func acceptedType(ct string) bool {
	t, _, err := mime.ParseMediaType(ct)
	return err == nil && (strings.HasPrefix(t, "image/") || t == "application/octet-stream")
}

func (s *Server) predict(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	m := s.p.Model
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		fail(w, http.StatusMethodNotAllowed, "use POST /predict with the photo's bytes as the body")
		return
	}
	top := 3
	if q := r.URL.Query().Get("top"); q != "" {
		k, err := strconv.Atoi(q)
		if err != nil || k < 1 || k > len(m.Classes) {
			fail(w, http.StatusBadRequest, "top=%q: must be 1 to %d", q, len(m.Classes))
			return
		}
		top = k
	}
	if ct := r.Header.Get("Content-Type"); !acceptedType(ct) {
		fail(w, http.StatusUnsupportedMediaType, "Content-Type %q: send the photo's bytes as the body with an image type "+
			"(image/jpeg, image/png, …) or application/octet-stream, e.g. curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg'", ct)
		return
	}
	if r.ContentLength > s.opts.MaxBody {
		fail(w, http.StatusRequestEntityTooLarge, "body of %d bytes: the limit is %d bytes", r.ContentLength, s.opts.MaxBody)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		fail(w, http.StatusRequestEntityTooLarge, "body larger than the limit of %d bytes", s.opts.MaxBody)
		return
	case err != nil:
		fail(w, http.StatusBadRequest, "reading the body: %v", err)
		return
	case len(data) == 0:
		fail(w, http.StatusBadRequest, "empty body: send the photo's bytes")
		return
	}
	pixels, err := s.decode(ctx, data)
	switch {
	case err != nil && ctx.Err() != nil:
		fail(w, http.StatusServiceUnavailable, "no answer within %s: the server is overloaded; retry later", s.opts.Timeout)
		return
	case err != nil:
		fail(w, http.StatusBadRequest, "%s", images.Reason(err))
		return
	}
	probs, status, msg := s.infer(ctx, pixels)
	if probs == nil {
		fail(w, status, "%s", msg)
		return
	}
	s.served.Add(1)
	reply(w, http.StatusOK, Result{Top: metrics.TopK(m.Classes, probs, top)})
}

// decode decodes and resizes a photo as training does, at most GOMAXPROCS at a time.
func (s *Server) decode(ctx context.Context, data []byte) ([]float32, error) {
	select {
	case s.decoding <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.decoding }()
	img, _, err := images.Decode(data, "the request body")
	if err != nil {
		return nil, err
	}
	size := s.p.Model.ImageSize
	return images.Resize(img, size, size).Float32(), nil
}

// infer queues the photo for the batcher and waits for its probabilities; on failure it
// returns nil with the status and message to answer.
func (s *Server) infer(ctx context.Context, pixels []float32) ([]float32, int, string) {
	j := &job{ctx: ctx, pixels: pixels, done: make(chan []float32, 1)}
	select {
	case s.queue <- j:
	default:
		return nil, http.StatusServiceUnavailable, fmt.Sprintf("busy: %d photos are waiting for the model; retry later", cap(s.queue))
	}
	select {
	case probs := <-j.done:
		if probs == nil {
			return nil, http.StatusInternalServerError, "the model failed on this photo (see the server's log)"
		}
		return probs, 0, ""
	case <-ctx.Done():
		return nil, http.StatusServiceUnavailable, fmt.Sprintf("no answer within %s: the server is overloaded; retry later", s.opts.Timeout)
	}
}

// Run runs the batcher until ctx is done: it takes the photos waiting (up to MaxBatch), pads
// the batch to a power of two (so at most log2(MaxBatch)+1 graphs are compiled) and runs it.
// log receives the model's errors.
func (s *Server) Run(ctx context.Context, log io.Writer) {
	for {
		var first *job
		select {
		case first = <-s.queue:
		case <-ctx.Done():
			return
		}
		batch := []*job{first}
	more:
		for len(batch) < s.opts.MaxBatch {
			select {
			case j := <-s.queue:
				batch = append(batch, j)
			default:
				break more
			}
		}
		s.runBatch(batch, log)
	}
}

func (s *Server) runBatch(batch []*job, log io.Writer) {
	live := batch[:0]
	for _, j := range batch {
		if j.ctx.Err() == nil { // its client gave up or timed out: skip
			live = append(live, j)
		}
	}
	if len(live) == 0 {
		return
	}
	n := 1
	for n < len(live) {
		n *= 2
	}
	per := len(live[0].pixels)
	pixels := make([]float32, 0, n*per)
	for i := range n {
		pixels = append(pixels, live[min(i, len(live)-1)].pixels...)
	}
	size := s.p.Model.ImageSize
	probs, err := s.p.ExtractFloats(pixels, n, size, size)
	s.batches.Add(1)
	c := len(s.p.Model.Classes)
	for i, j := range live {
		if err != nil {
			fmt.Fprintf(log, "serve: batch of %d: %v\n", len(live), err)
			j.done <- nil
			continue
		}
		j.done <- probs[i*c : (i+1)*c]
	}
}

// Warm compiles the graphs of the batch sizes Run uses (1, 2, 4, … MaxBatch) by running
// each once, so that the first requests do not pay for it.
func (s *Server) Warm() error {
	size := s.p.Model.ImageSize
	for n := 1; n <= s.opts.MaxBatch; n *= 2 {
		if _, err := s.p.ExtractFloats(make([]float32, n*size*size*3), n, size, size); err != nil {
			return err
		}
	}
	return nil
}

// Serve serves on ln until ctx is done, then shuts down cleanly: it stops accepting, lets the
// requests in flight finish (up to grace), and returns. The batcher runs meanwhile.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration, log io.Writer) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: s.opts.Timeout + 30*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	bctx, stopBatcher := context.WithCancel(context.Background())
	batcherDone := make(chan struct{})
	go func() { s.Run(bctx, log); close(batcherDone) }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		err = srv.Shutdown(sctx)
		cancel()
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
	}
	stopBatcher()
	<-batcherDone
	return err
}
