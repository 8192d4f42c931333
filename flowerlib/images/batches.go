package images

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/pkg/errors"
	"github.com/schollz/progressbar/v3"
)

// BatchOptions configures Batches. The zero value means: 224×224, batches of 32, one
// worker per core, no progress bar, bad files skipped and reported.
type BatchOptions struct {
	Size      int // output images are Size×Size; default 224
	BatchSize int // images per batch; default 32 (the last batch may be smaller)
	Workers   int // parallel decoders; default runtime.NumCPU()

	// Progress, when not nil, receives a progress bar (usually os.Stderr).
	Progress io.Writer
	// Description labels the progress bar; default "decoding".
	Description string

	// Strict makes the first bad file stop the iteration with an error (Err) instead of
	// being skipped and reported in Failures.
	Strict bool

	// Transform, when set, writes image index's pixels (already resized to Size×Size) into
	// dst (Size*Size*3 float32, HWC RGB) instead of the default img.Float32Into(dst). It runs
	// on the worker goroutines; augment.Augmenter provides one. It must depend only on
	// (index, img) for runs to be reproducible.
	Transform func(index int, img *RGB, dst []float32)
}

// Batch is a group of decoded images, in the order of the input paths.
type Batch struct {
	// Data holds N images as float32 NHWC: [N, Size, Size, 3], RGB, 0..255 (unless a
	// Transform rescales).
	Data    []float32
	N, Size int
	// Indices[i] is the position in the input paths of image i; files that failed are
	// left out, so use Indices to pick the matching labels.
	Indices []int
}

// Failure is a file the iterator skipped.
type Failure struct {
	Index  int // position in the input paths
	Path   string
	Reason string
}

// Batches decodes a list of image files in parallel, in order, in bounded memory (at most
// about 2×Workers decoded images are held besides the batch being filled). Use:
//
//	it := images.NewBatches(paths, images.BatchOptions{Progress: os.Stderr})
//	defer it.Close()
//	for b := range it.All() { ... b.Data ... }
//	if err := it.Err(); err != nil { ... }
//	for _, f := range it.Failures() { ... }
type Batches struct {
	paths []string
	opts  BatchOptions

	ordered chan chan result
	stop    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup
	bar     *progressbar.ProgressBar

	failures []Failure
	err      error
	done     bool
	decoded  int
	start    time.Time
}

type result struct {
	index int
	data  []float32
	err   error
}

// NewBatches starts decoding paths in the background.
func NewBatches(paths []string, opts BatchOptions) *Batches {
	if opts.Size <= 0 {
		opts.Size = 224
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 32
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.Description == "" {
		opts.Description = "decoding"
	}
	it := &Batches{
		paths:   paths,
		opts:    opts,
		ordered: make(chan chan result, 2*opts.Workers),
		stop:    make(chan struct{}),
		start:   time.Now(),
	}
	if opts.Progress != nil {
		it.bar = progressbar.NewOptions(len(paths),
			progressbar.OptionSetWriter(opts.Progress),
			progressbar.OptionSetDescription(opts.Description),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("img"),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opts.Progress) }),
		)
	}
	jobs := make(chan job)
	// The dispatcher hands out jobs in order and queues their result channels in the same
	// order; the bounded queue is what bounds memory.
	go func() {
		defer close(it.ordered)
		defer close(jobs)
		for i := range paths {
			out := make(chan result, 1)
			select {
			case it.ordered <- out:
			case <-it.stop:
				return
			}
			select {
			case jobs <- job{i, out}:
			case <-it.stop:
				out <- result{index: i, err: errStopped} // Close's drain waits on it
				return
			}
		}
	}()
	for range opts.Workers {
		it.wg.Add(1)
		go func() {
			defer it.wg.Done()
			for j := range jobs {
				j.out <- it.decode(j.index)
			}
		}()
	}
	return it
}

var errStopped = errors.New("images.Batches: closed")

type job struct {
	index int
	out   chan result
}

func (it *Batches) decode(i int) result {
	img, err := Load(it.paths[i], it.opts.Size)
	if err != nil {
		return result{index: i, err: err}
	}
	n := it.opts.Size * it.opts.Size * 3
	data := make([]float32, n)
	if it.opts.Transform != nil {
		it.opts.Transform(i, img, data)
	} else {
		img.Float32Into(data)
	}
	return result{index: i, data: data}
}

// Next returns the next batch, or nil at the end (then check Err).
func (it *Batches) Next() *Batch {
	if it.done {
		return nil
	}
	size := it.opts.Size
	per := size * size * 3
	b := &Batch{Size: size, Data: make([]float32, 0, it.opts.BatchSize*per)}
	for b.N < it.opts.BatchSize {
		out, ok := <-it.ordered
		if !ok {
			it.finish()
			break
		}
		r := <-out
		if it.bar != nil {
			_ = it.bar.Add(1)
		}
		if r.err != nil {
			if it.opts.Strict || !IsBadImage(r.err) {
				// Non-content errors (permissions, I/O) point to a broken environment.
				it.err = errors.WithMessagef(r.err, "image %d of %d", r.index+1, len(it.paths))
				it.finish()
				break
			}
			it.failures = append(it.failures, Failure{Index: r.index, Path: it.paths[r.index], Reason: Reason(r.err)})
			continue
		}
		b.Data = append(b.Data, r.data...)
		b.Indices = append(b.Indices, r.index)
		b.N++
		it.decoded++
	}
	if b.N == 0 {
		return nil
	}
	return b
}

// All iterates over the remaining batches.
func (it *Batches) All() func(yield func(*Batch) bool) {
	return func(yield func(*Batch) bool) {
		for b := it.Next(); b != nil; b = it.Next() {
			if !yield(b) {
				return
			}
		}
	}
}

func (it *Batches) finish() {
	it.done = true
	it.Close()
	if it.bar != nil && it.err == nil {
		_ = it.bar.Finish()
	}
}

// Close stops the workers; safe to call more than once.
func (it *Batches) Close() {
	it.stopped.Do(func() {
		close(it.stop)
		// Drain so the dispatcher and workers can exit.
		go func() {
			for out := range it.ordered {
				<-out
			}
		}()
	})
}

// Err returns the error that stopped the iteration early, if any.
func (it *Batches) Err() error { return it.err }

// Failures returns the files skipped so far (bad content), in input order.
func (it *Batches) Failures() []Failure { return it.failures }

// Summary returns a one-line summary: decoded count, skipped count, images/s.
func (it *Batches) Summary() string {
	secs := time.Since(it.start).Seconds()
	return fmt.Sprintf("decoded %d images (%d skipped) in %.1fs: %.1f images/s",
		it.decoded, len(it.failures), secs, float64(it.decoded)/secs)
}

// LoadAll decodes all paths into one [N, size, size, 3] float32 NHWC RGB array (0..255):
// for small sets only, since it holds everything in memory. Bad files are skipped and
// returned as failures; indices gives the input position of each decoded image.
func LoadAll(paths []string, size int, progress io.Writer) (data []float32, indices []int, failures []Failure, err error) {
	it := NewBatches(paths, BatchOptions{Size: size, Progress: progress})
	defer it.Close()
	for b := range it.All() {
		data = append(data, b.Data...)
		indices = append(indices, b.Indices...)
	}
	return data, indices, it.Failures(), it.Err()
}
