// Package features runs the frozen ResNet50 base once over a list of images and caches its
// outputs on disk, so training epochs (and later notebook cells, each a fresh program) read
// features instead of re-running the base: [N, 7, 7, 2048] float32 for the article's Flatten head
// (2936 images ≈ 1.2 GB), [N, 2048] with global pooling.
//
// A cache file is keyed by everything its values depend on: the content of the image files,
// in order (each one's SHA-256: a photo replaced by another of the same size and time is
// seen, and a copied dataset reuses its features), the weights' checksum, preprocessing, image
// size, pooling, any augmentation, and this package's Version. A change to any of them gives
// another key, so the features are rebuilt, never reused. Files are written atomically (temporary file, fsync,
// rename) in flowerlib's one container format (internal/container: sizes, CRC-32C and header
// ranges are checked when opened): a corrupt file is rebuilt.
// Opened files are memory-mapped, so memory stays bounded however large the cache.
package features

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/flowerlib/flowers/flowerlib/internal/container"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pkg/errors"
)

// Version is part of every cache key: bump it when the extraction changes.
const Version = "flowerlib-features-3"

// Preprocessing names the input convention the cached features were computed with.
const Preprocessing = "images.Load bilinear RGB 0..255 → resnet50.Preprocess caffe (BGR, mean-subtracted)"

// Magic is the internal/container kind of feature cache files.
const Magic = "FLWFEAT2"

// Extractor runs the frozen base: resnet50.Base implements it.
type Extractor interface {
	// ExtractFloats returns the features of n images [n, height, width, 3] RGB 0..255 (flat).
	ExtractFloats(pixels []float32, n, height, width int) ([]float32, error)
	// OutputShape returns the features' shape for n images of the given size.
	OutputShape(n, height, width int) []int
}

// Options says what to extract and where to cache it.
type Options struct {
	CacheDir  string   // required: where cache files live
	Paths     []string // images, in row order
	Size      int      // images are resized to Size×Size; default 224
	Pooling   string   // "none", "avg" or "max": must be what the Extractor does (part of the key)
	WeightsID string   // checksum (or other identity) of the base's weights; required
	BatchSize int      // images per forward pass; default 32
	// Transform, when set, augments each image before the base (images.BatchOptions.Transform);
	// TransformID must then identify it (augmentation settings, seed, copy number).
	Transform   func(index int, img *images.RGB, dst []float32)
	TransformID string
	// Progress receives a progress bar while extracting (nil: none).
	Progress io.Writer
	// Log receives one line about reuse/rebuild: the count, the time and images/s (nil: none).
	// The cache file is Set.Path.
	Log io.Writer
}

// Failure is an image the base could not be run on (undecodable file): it has no row.
type Failure = images.Failure

// fileKey is what the key holds of one image file: its content, not its name or time.
type fileKey struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type keyFields struct {
	Version       string    `json:"version"`
	Files         []fileKey `json:"files"`
	WeightsID     string    `json:"weights"`
	Preprocessing string    `json:"preprocessing"`
	Size          int       `json:"image_size"`
	Pooling       string    `json:"pooling"`
	Transform     string    `json:"transform,omitempty"`
}

type header struct {
	Key      string    `json:"key"`
	N        int       `json:"n"`
	Dims     []int     `json:"dims"` // per row
	Indices  []int     `json:"indices"`
	Failures []Failure `json:"failures"`
	Created  string    `json:"created"`
	Fields   keyFields `json:"fields"`
}

func (o Options) defaults() Options {
	if o.Size == 0 {
		o.Size = defaults.ImageSize.Default
	}
	if o.BatchSize == 0 {
		o.BatchSize = defaults.BatchSize.Default
	}
	if o.Pooling == "" {
		o.Pooling = "none"
	}
	return o
}

// check reports options that cannot key a cache.
func (o Options) check() error {
	if o.WeightsID == "" {
		return errors.New("features: Options.WeightsID is required (the weights' checksum)")
	}
	if o.Transform != nil && o.TransformID == "" {
		return errors.New("features: Options.TransformID must identify the Transform")
	}
	return nil
}

// Key returns the cache key of opts (a hex SHA-256 of the key fields): it reads every file
// (in parallel; a file that cannot be read is an error naming it).
func Key(opts Options) (string, error) {
	opts = opts.defaults()
	if err := opts.check(); err != nil {
		return "", err
	}
	f, err := keyFieldsOf(opts)
	if err != nil {
		return "", err
	}
	return f.key(), nil
}

func (f keyFields) key() string {
	b, _ := json.Marshal(f)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// CachePath returns the cache file for a key.
func CachePath(cacheDir, pooling, key string) string {
	return filepath.Join(cacheDir, fmt.Sprintf("features-%s-%s.f32", pooling, key[:24]))
}

// Set is a cached feature matrix, memory-mapped: row r holds the features of image
// Indices[r] of the paths it was built from.
type Set struct {
	Path     string
	Key      string
	N        int   // rows
	Dims     []int // per-row dims, e.g. [7 7 2048] or [2048]
	Indices  []int // path index of each row
	Failures []Failure
	// Rebuilt is true when Build computed the features (false: reused from the cache).
	Rebuilt bool

	file  *container.File
	data  []float32
	rowOf map[int]int
}

// RowSize is the number of float32 values per row.
func (s *Set) RowSize() int {
	n := 1
	for _, d := range s.Dims {
		n *= d
	}
	return n
}

// Row returns row r's values (a view into the mapped file: do not modify).
func (s *Set) Row(r int) []float32 {
	rs := s.RowSize()
	return s.data[r*rs : (r+1)*rs]
}

// RowOf returns the row of path index i, or -1 when that image failed.
func (s *Set) RowOf(i int) int {
	if r, ok := s.rowOf[i]; ok {
		return r
	}
	return -1
}

// Gather copies rows into a new float32 tensor [len(rows), Dims...].
func (s *Set) Gather(rows []int) *tensors.Tensor {
	rs := s.RowSize()
	t := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{len(rows)}, s.Dims...)...))
	tensors.MustMutableFlatData[float32](t, func(f []float32) {
		for i, r := range rows {
			copy(f[i*rs:(i+1)*rs], s.data[r*rs:(r+1)*rs])
		}
	})
	return t
}

// Close unmaps the file.
func (s *Set) Close() error {
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file, s.data = nil, nil
	return err
}

// Build returns the features of opts.Paths: from the cache when a valid file with the same key
// exists, otherwise by running ex over the images and writing the cache first.
func Build(ex Extractor, opts Options) (*Set, error) {
	opts = opts.defaults()
	if opts.CacheDir == "" {
		return nil, errors.New("features: Options.CacheDir is required")
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	fields, err := keyFieldsOf(opts)
	if err != nil {
		return nil, err
	}
	key := fields.key()
	path := CachePath(opts.CacheDir, opts.Pooling, key)
	if _, statErr := os.Stat(path); statErr == nil {
		s, err := Open(path, key)
		if err == nil && s.namesFrom(opts.Paths) {
			logf(opts.Log, "features: %d×%v from the cache\n", s.N, s.Dims)
			return s, nil
		}
		if err == nil {
			s.Close()
			err = &container.CorruptError{Path: path, Reason: "image indices beyond the photos"}
		}
		logf(opts.Log, "features: %v: rebuilding\n", err)
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return nil, errors.Wrapf(err, "features: creating cache directory %q", opts.CacheDir)
	}
	if removed := atomicfile.CleanStale(opts.CacheDir); len(removed) > 0 {
		logf(opts.Log, "features: removed %d temporary files of interrupted extractions from %s\n", len(removed), opts.CacheDir)
	}
	start := time.Now()
	if err := write(ex, opts, fields, path); err != nil {
		return nil, err
	}
	s, err := Open(path, key)
	if err != nil {
		return nil, err
	}
	s.Rebuilt = true
	secs := time.Since(start).Seconds()
	logf(opts.Log, "features: computed %d×%v in %.1fs (%.1f images/s), cached\n", s.N, s.Dims, secs, float64(s.N)/secs)
	return s, nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// Pixels is the Extractor that runs no model: the "features" are the decoded (and
// transformed) pixels themselves, float32 [n, height, width, 3] RGB 0..255. Extract with it
// decodes a list of photos in parallel for a model that takes images (fine-tuning).
type Pixels struct{}

// ExtractFloats returns the pixels.
func (Pixels) ExtractFloats(pixels []float32, n, height, width int) ([]float32, error) {
	return pixels, nil
}

// OutputShape is [n, height, width, 3].
func (Pixels) OutputShape(n, height, width int) []int { return []int{n, height, width, 3} }

// Extract runs ex over the images of paths in batches of opts.BatchSize: decoded in parallel,
// resized to opts.Size, transformed by opts.Transform when set. fn gets each batch's path
// indices and features (flat, len(indices) rows of OutputShape). Every input gets its answer:
// a path that is missing, not a regular file (a folder, a named pipe: never opened) or
// unreadable, and a file that cannot be decoded, is returned as a Failure with its reason, in
// input order, and the others are still extracted. The one decode → base → failures loop of
// flowerlib: the cache, prediction and the features command all run it.
func Extract(ex Extractor, paths []string, opts Options, fn func(indices []int, feats []float32) error) ([]Failure, error) {
	opts = opts.defaults()
	usable, failures := readable(paths)
	list := make([]string, len(usable))
	for k, i := range usable {
		list[k] = paths[i]
	}
	it := images.NewBatches(list, images.BatchOptions{Size: opts.Size, BatchSize: opts.BatchSize,
		Progress: opts.Progress, Description: "features", Transform: func(k int, img *images.RGB, dst []float32) {
			if opts.Transform != nil {
				opts.Transform(usable[k], img, dst)
			} else {
				img.Float32Into(dst)
			}
		}})
	defer it.Close()
	next, stop := prefetchBatches(it, prefetchDepth) // decoding overlaps the base (pipeline.go)
	defer stop()
	for b := next(); b != nil; b = next() {
		out, err := ex.ExtractFloats(b.Data, b.N, b.Size, b.Size)
		if err != nil {
			return nil, errors.WithMessagef(err, "running the base on %q…", list[b.Indices[0]])
		}
		indices := make([]int, len(b.Indices))
		for k, i := range b.Indices {
			indices[k] = usable[i]
		}
		if err := fn(indices, out); err != nil {
			return nil, err
		}
	}
	if err := it.Err(); err != nil {
		return nil, errors.WithMessage(err, "decoding images")
	}
	for _, f := range it.Failures() {
		f.Index = usable[f.Index]
		failures = append(failures, f)
	}
	slices.SortFunc(failures, func(a, b Failure) int { return a.Index - b.Index })
	return failures, nil
}

// readable returns the indices of the paths that are regular files this process can open,
// and a Failure for each of the others. Only regular files are read as photos: a named pipe
// would block the reader, a device never end.
func readable(paths []string) (usable []int, failures []Failure) {
	for i, p := range paths {
		reason := ""
		switch st, err := os.Stat(p); {
		case os.IsNotExist(err):
			reason = "does not exist"
		case err != nil:
			reason = "cannot be read: " + err.Error()
		case st.IsDir():
			reason = "is a folder, not a photo"
		case !st.Mode().IsRegular():
			reason = "is not a regular file (" + fileType(st.Mode()) + "): only regular files are read as photos"
		default:
			if f, err := os.Open(p); err != nil {
				reason = "cannot be read: " + err.Error()
			} else {
				f.Close()
			}
		}
		if reason == "" {
			usable = append(usable, i)
		} else {
			failures = append(failures, Failure{Index: i, Path: p, Reason: reason})
		}
	}
	return usable, failures
}

// fileType names a file mode's type that is not a regular file nor a folder.
func fileType(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.Type().String()
}

// write extracts the features batch by batch straight into a temporary file (bounded memory),
// then syncs and renames it into place.
func write(ex Extractor, opts Options, fields keyFields, path string) error {
	err := container.Write(path, Magic, 0o644, func(w *container.Writer) error {
		h := header{Key: fields.key(), Fields: fields, Created: time.Now().UTC().Format(time.RFC3339), Dims: ex.OutputShape(1, opts.Size, opts.Size)[1:]}
		failures, err := Extract(ex, opts.Paths, opts, func(indices []int, feats []float32) error {
			h.Indices = append(h.Indices, indices...)
			return w.Stream(container.Float32Bytes(feats))
		})
		if err != nil {
			return err
		}
		h.Failures = failures
		h.N = len(h.Indices)
		if h.N == 0 {
			return errors.Errorf("none of the %d images could be decoded (first failure: %v)", len(opts.Paths), firstFailure(h.Failures))
		}
		if err := w.Declare("features", "float32", append([]int{h.N}, h.Dims...), 0); err != nil {
			return err
		}
		return w.SetMeta(h)
	})
	return errors.WithMessage(err, "features")
}

func firstFailure(f []Failure) any {
	if len(f) == 0 {
		return "none"
	}
	return fmt.Sprintf("%s: %s", f[0].Path, f[0].Reason)
}

// keyFieldsOf returns the key fields of opts (after defaults), hashing every image file in
// parallel.
func keyFieldsOf(opts Options) (keyFields, error) {
	f := keyFields{Version: Version, WeightsID: opts.WeightsID, Preprocessing: Preprocessing,
		Size: opts.Size, Pooling: opts.Pooling, Transform: opts.TransformID, Files: make([]fileKey, len(opts.Paths))}
	errs := make([]error, len(opts.Paths))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.NumCPU(), len(opts.Paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f.Files[i], errs[i] = hashFile(opts.Paths[i])
			}
		}()
	}
	for i := range opts.Paths {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return f, errors.WithMessage(e, "features: image")
		}
	}
	return f, nil
}

// hashFile returns the size and SHA-256 of a regular file.
func hashFile(path string) (fileKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileKey{}, err
	}
	if !st.Mode().IsRegular() {
		return fileKey{}, errors.Errorf("%q is not a regular file", path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return fileKey{}, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return fileKey{}, errors.Wrapf(err, "reading %q", path)
	}
	return fileKey{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// namesFrom names the failures of a Set by the paths it is used with (the key holds contents,
// not names, so a reused file may come from a copy of the photos elsewhere); false when an
// index is beyond them.
func (s *Set) namesFrom(paths []string) bool {
	for _, i := range s.Indices {
		if i >= len(paths) {
			return false
		}
	}
	for k, f := range s.Failures {
		if f.Index < 0 || f.Index >= len(paths) {
			return false
		}
		s.Failures[k].Path = paths[f.Index]
	}
	return true
}

// Open maps a cache file and verifies it (internal/container: sizes, checksums, header
// ranges), then its key (when key is not "") and that rows, dims and indices agree. Any
// mismatch is an error naming the file.
func Open(path, key string) (*Set, error) {
	f, err := container.Open(path, Magic)
	if err != nil {
		return nil, errors.WithMessage(err, "features: cache file")
	}
	s := &Set{Path: path, file: f}
	fail := func(e error) (*Set, error) { s.Close(); return nil, e }
	bad := func(what string) error {
		return &container.CorruptError{Path: path, Reason: what}
	}
	var h header
	if err := f.Meta(&h); err != nil {
		return fail(err)
	}
	if key != "" && h.Key != key {
		return fail(errors.Errorf("features: cache file %q has key %.12s…, want %.12s…", path, h.Key, key))
	}
	e, ok := f.Lookup("features")
	if !ok || len(e.Dims) != 1+len(h.Dims) || e.Dims[0] != h.N || !slices.Equal(e.Dims[1:], h.Dims) || len(h.Indices) != h.N {
		return fail(bad("rows, dims and indices do not agree"))
	}
	for _, i := range h.Indices {
		if i < 0 {
			return fail(bad("negative image index"))
		}
	}
	s.Key, s.N, s.Dims, s.Indices, s.Failures = h.Key, h.N, h.Dims, h.Indices, h.Failures
	if s.data, err = f.Float32(e); err != nil {
		return fail(err)
	}
	s.rowOf = make(map[int]int, s.N)
	for r, i := range s.Indices {
		s.rowOf[i] = r
	}
	return s, nil
}

// Labeled is a trainer.Data over rows of a Set: example i is row Rows[i] with label Labels[i].
type Labeled struct {
	Set    *Set
	Rows   []int
	Labels []int32
}

// NewLabeled picks the rows of the given path indices (skipping images that failed) with
// their labels; dropped counts the skipped ones.
func NewLabeled(s *Set, pathIndices []int, labels []int32) (d *Labeled, dropped int) {
	d = &Labeled{Set: s}
	for k, i := range pathIndices {
		r := s.RowOf(i)
		if r < 0 {
			dropped++
			continue
		}
		d.Rows = append(d.Rows, r)
		d.Labels = append(d.Labels, labels[k])
	}
	return d, dropped
}

func (d *Labeled) Len() int          { return len(d.Rows) }
func (d *Labeled) Label(i int) int32 { return d.Labels[i] }

// Inputs gathers the features of examples idx: float32 [len(idx), Dims...].
func (d *Labeled) Inputs(idx []int, _ int) (*tensors.Tensor, error) {
	rows := make([]int, len(idx))
	for k, i := range idx {
		rows[k] = d.Rows[i]
	}
	return d.Set.Gather(rows), nil
}
