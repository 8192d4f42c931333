package resnet50

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/internal/conv"
	"github.com/flowerlib/flowers/flowerlib/internal/sgemm"
	"github.com/flowerlib/flowers/flowerlib/internal/winograd"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/gomlx/compute"
	"github.com/pkg/errors"
)

// EnvBase names the environment variable that chooses how NewBase runs the frozen base on a
// CPU backend (go, xla:cpu): "host" (default: hostNet, below) or "graph" (a GoMLX graph, as on
// a GPU).
const EnvBase = "FLOWERS_BASE"

// EnvWinograd names the environment variable that turns off ("off") hostNet's Winograd
// 3×3 convolutions (internal/winograd), which it uses where their transforms are vectorized:
// for comparisons and tests.
const EnvWinograd = "FLOWERS_WINOGRAD"

// patchWidth is the widest map whose 3×3 convolutions convSame runs on a patch matrix: at
// 14² and 7² the grid's extra columns and rows would be 13% and 35% of the work. At batch 32
// on the AVX2 EPYC, 7, 14 and 28 measured within 1% of each other, 14 the fastest.
const patchWidth = 14

// hostNet runs the frozen ResNet50 on the CPU, for NewBase on a CPU backend: every
// convolution, with its BatchNorm folded in, is one sgemm product read straight from the
// activations (1×1: the pixels are the rows; 3×3: nine taps into the zero-padded map; conv1:
// 7×7 patches; stride-1 3×3 ones by Winograd's F(2×2, 3×3) where internal/winograd has
// vector transforms), with the bias, the residual Add and the ReLU applied as each tile is
// stored. It follows Layers, the same description the graph builder follows, and its results equal
// the graph's within float32 rounding (TestHostMatchesGraph). On the go backend it is 7–8×
// faster than the graph; on xla:cpu, 1.6–1.8× faster than XLA's own convolutions (AVX-512
// table of docs/BENCHMARKS.md), so it is used there too where sgemm has a vector kernel for
// the CPU.
type hostNet struct {
	layers []Layer
	opts   Options
	convs  map[string]*hostConv
	uses   map[string]int  // how many layers read each layer's output, plus one for outputs
	outs   []string        // the layers whose outputs Extract returns (pooled when Pooling is set)
	pads   map[string]int  // ZeroPadding2D layer → padding on each side
	fused  map[string]bool // layers computed by the convolution before them

	mu   sync.Mutex
	free map[int][][]float32 // buffers for reuse, by length
}

// hostConv is a Conv2D with its BatchNorm folded in, and what follows it in the graph.
type hostConv struct {
	w              *sgemm.Weights // nil when wino runs it
	wino           *winograd.Conv // a stride-1 "same" 3×3 convolution by Winograd's F(2×2, 3×3)
	kernel, stride int
	same           bool
	cIn, cOut      int
	out            string // the layer whose output the fused op writes (ReLU, BatchNorm or Add+ReLU)
	residual       string // the Add's other input, accumulated into the output; "" for none
	relu           bool
}

// useHost reports whether NewBase runs opts on the host: a CPU backend (see useHostOn), the
// default convolution mode, no top (its Dense runs in the graph), unless $FLOWERS_BASE=graph.
func useHost(b compute.Backend, opts Options) (bool, error) {
	return useHostOn(backend.IsGo(b), backend.IsXLACPU(b), opts)
}

func useHostOn(isGo, isXLACPU bool, opts Options) (bool, error) {
	switch v := strings.ToLower(os.Getenv(EnvBase)); v {
	case "", "host":
	case "graph":
		return false, nil
	default:
		return false, errors.Errorf("%s=%q is not one of host, graph", EnvBase, v)
	}
	// On XLA's CPU plugin only with a vector kernel: the portable one is slower than XLA.
	cpu := isGo || (isXLACPU && sgemm.Kernel() != "go")
	return cpu && !opts.IncludeTop && conv.CurrentMode() == conv.Auto && !conv.BFloat16(), nil
}

// RunsOnHost reports whether NewBase runs the frozen base (without the top) on the host on
// backend b with the current settings.
func RunsOnHost(b compute.Backend) bool {
	on, err := useHost(b, Options{})
	return err == nil && on
}

// BasePath says how NewBase runs the frozen base with the current settings on the go backend
// (isGo) or XLA's CPU plugin (isXLACPU), both false for other backends: "host (sgemm
// avx512f)", "host (sgemm avx2+fma)", "host (sgemm neon)", "host (sgemm go)" or "graph".
func BasePath(isGo, isXLACPU bool) string {
	if on, err := useHostOn(isGo, isXLACPU, Options{}); err != nil || !on {
		return "graph"
	}
	if on, err := useWinograd(); err == nil && on {
		return "host (sgemm " + sgemm.Kernel() + ", 3×3 Winograd)"
	}
	return "host (sgemm " + sgemm.Kernel() + ")"
}

// useWinograd reports whether hostNet runs its 3×3 convolutions by Winograd's algorithm:
// where the transforms are vectorized, unless $FLOWERS_WINOGRAD=off.
func useWinograd() (bool, error) {
	switch v := strings.ToLower(os.Getenv(EnvWinograd)); v {
	case "", "on":
		return winograd.Vector(), nil
	case "off":
		return false, nil
	default:
		return false, errors.Errorf("%s=%q is not one of on, off", EnvWinograd, v)
	}
}

// newHostNet folds and packs w's convolutions for opts (which must not include the top).
func newHostNet(w *weights.File, opts Options) (*hostNet, error) {
	layers, err := Layers(opts)
	if err != nil {
		return nil, err
	}
	values, err := weightsByName(w, false)
	if err != nil {
		return nil, err
	}
	wino, err := useWinograd()
	if err != nil {
		return nil, err
	}
	h := &hostNet{layers: layers, opts: opts, convs: map[string]*hostConv{}, uses: map[string]int{},
		pads: map[string]int{}, fused: map[string]bool{}, free: map[int][][]float32{}}
	produced := map[string]bool{} // outputs computed before the layer at hand
	for i := range layers {
		l := &layers[i]
		for _, in := range l.Inputs {
			h.uses[in]++
		}
		produced[l.Name] = true
		switch l.Type {
		case "ZeroPadding2D":
			h.pads[l.Name] = (l.OutputShape[0] - h.layer(l.Inputs[0]).OutputShape[0]) / 2
		case "Conv2D":
			c, err := h.fuse(l, values, produced, wino)
			if err != nil {
				return nil, err
			}
			h.convs[l.Name] = c
			produced[c.out] = true
		}
	}
	switch {
	case opts.StopAt != "":
		h.outs = []string{opts.StopAt}
	case len(opts.Outputs) > 0:
		h.outs = opts.Outputs
	default:
		h.outs = []string{layers[len(layers)-1].Name}
	}
	for _, o := range h.outs {
		if h.layer(o) == nil {
			return nil, errors.Errorf("resnet50: no layer %q (see resnet50.Layers for the names)", o)
		}
		if !h.materialized(h.layer(o)) {
			return nil, errors.Errorf("resnet50: the output of layer %q is fused into the next convolution on this backend: ask for an Activation layer, e.g. %q", o, "conv4_block6_out")
		}
		h.uses[o]++
	}
	return h, nil
}

// fuse returns convolution l with its BatchNorm folded in (weights packed for sgemm) and
// what follows fused into it: the ReLU, or the residual Add (and its ReLU) when the Add's
// other input is produced before l (of a block's two convolutions into the Add, the second).
// With wino, a stride-1 "same" 3×3 convolution is transformed for Winograd's algorithm instead.
func (h *hostNet) fuse(l *Layer, values map[string]*weights.Tensor, produced map[string]bool, wino bool) (*hostConv, error) {
	bn := h.consumer(l.Name, "BatchNormalization")
	if bn == nil {
		return nil, errors.Errorf("resnet50: convolution %q has no BatchNormalization after it", l.Name)
	}
	get := func(layer, weight string) []float32 { return values[layer+"/"+weight].Data }
	kernel, bias := conv.FoldBatchNormValues(get(l.Name, "kernel"), get(l.Name, "bias"), get(bn.Name, "gamma"),
		get(bn.Name, "beta"), get(bn.Name, "moving_mean"), get(bn.Name, "moving_variance"), BatchNormEpsilon)
	ws := l.Weights[0].Shape // [k, k, cIn, cOut]
	c := &hostConv{kernel: l.Kernel, stride: l.Stride, same: l.Padding == "same", cIn: ws[2], cOut: ws[3], out: bn.Name}
	defer func() { // once the residual is known: Winograd's tiles take none
		if wino && c.kernel == 3 && c.stride == 1 && c.same && c.residual == "" {
			c.wino = winograd.New(kernel, bias, c.cIn, c.cOut)
		} else {
			c.w = sgemm.Pack(ws[0]*ws[1]*ws[2], ws[3], kernel, bias)
		}
	}()
	h.fused[bn.Name] = true
	last := bn
	if add := h.consumer(bn.Name, "Add"); add != nil {
		other := add.Inputs[0]
		if other == bn.Name {
			other = add.Inputs[1]
		}
		if !produced[other] {
			return c, nil // the Add is fused into its other convolution, later
		}
		c.residual, c.out, last = other, add.Name, add
		h.fused[add.Name] = true
	}
	if relu := h.consumer(last.Name, "Activation"); relu != nil {
		c.out, c.relu = relu.Name, true
		h.fused[relu.Name] = true
	}
	return c, nil
}

// layer returns the layer of that name, or nil.
func (h *hostNet) layer(name string) *Layer {
	for i := range h.layers {
		if h.layers[i].Name == name {
			return &h.layers[i]
		}
	}
	return nil
}

// consumer returns the first layer of the given type that reads name's output, or nil.
func (h *hostNet) consumer(name, typ string) *Layer {
	for i := range h.layers {
		if l := &h.layers[i]; l.Type == typ && slices.Contains(l.Inputs, name) {
			return l
		}
	}
	return nil
}

// materialized reports whether l's output exists as such in hostNet (not folded into a
// fused convolution).
func (h *hostNet) materialized(l *Layer) bool {
	switch l.Type {
	case "Conv2D", "BatchNormalization", "Add":
		for _, c := range h.convs {
			if c.out == l.Name {
				return true
			}
		}
		return false
	case "Activation":
		return true
	}
	return true
}

// act is an NHWC activation map.
type act struct {
	n, h, w, c int
	data       []float32
}

func (a *act) pixels() int { return a.n * a.h * a.w }

// forward runs the base over pixels (n images height×width×3, RGB 0..255) and returns the
// outputs (see Base.OutputShape) as one flat slice.
func (h *hostNet) forward(pixels []float32, n, height, width int) []float32 {
	vals := map[string]*act{}
	uses := make(map[string]int, len(h.uses))
	for k, v := range h.uses {
		uses[k] = v
	}
	done := func(names ...string) {
		for _, name := range names {
			if uses[name]--; uses[name] == 0 {
				if a := vals[name]; a != nil {
					h.put(a.data)
				}
				delete(vals, name)
			}
		}
	}
	for i := range h.layers {
		l := &h.layers[i]
		if h.fused[l.Name] {
			continue // computed by its convolution
		}
		var in *act
		if len(l.Inputs) > 0 {
			in = vals[l.Inputs[0]]
		}
		switch l.Type {
		case "InputLayer":
			vals[l.Name] = h.preprocess(pixels, n, height, width)
		case "ZeroPadding2D":
			vals[l.Name] = h.pad(in, h.pads[l.Name])
		case "Conv2D":
			c := h.convs[l.Name]
			vals[c.out] = h.conv(c, in, vals, uses, done)
		case "MaxPooling2D":
			vals[l.Name] = h.maxPool(in, l.Kernel, l.Stride)
		case "GlobalAveragePooling2D", "GlobalMaxPooling2D":
			vals[l.Name] = h.globalPool(in, l.Type == "GlobalMaxPooling2D")
		default:
			panic(fmt.Sprintf("resnet50: hostNet cannot run the %s layer %q", l.Type, l.Name))
		}
		done(l.Inputs...)
	}
	if len(h.opts.Outputs) > 0 {
		return h.concatPooled(vals)
	}
	return vals[h.outs[0]].data // the caller keeps it: not given back
}

// concatPooled pools each of opts.Outputs and concatenates them: [n, Σ channels].
func (h *hostNet) concatPooled(vals map[string]*act) []float32 {
	var pooled []*act
	total := 0
	for _, name := range h.outs {
		p := h.globalPool(vals[name], h.opts.Pooling == PoolingMax)
		pooled = append(pooled, p)
		total += p.c
		h.put(vals[name].data)
	}
	n := pooled[0].n
	res := make([]float32, n*total)
	off := 0
	for _, p := range pooled {
		for i := range n {
			copy(res[i*total+off:i*total+off+p.c], p.data[i*p.c:(i+1)*p.c])
		}
		off += p.c
		h.put(p.data)
	}
	return res
}

// conv runs one fused convolution on x; the residual, when there is one, is accumulated in
// place when nothing else reads it, else copied first.
func (h *hostNet) conv(c *hostConv, x *act, vals map[string]*act, uses map[string]int, done func(...string)) *act {
	ho, wo := x.h, x.w
	if !c.same {
		ho, wo = conv.OutputSize(x.h, c.kernel, c.stride), conv.OutputSize(x.w, c.kernel, c.stride)
	}
	out := &act{n: x.n, h: ho, w: wo, c: c.cOut}
	op := sgemm.Op{M: out.pixels(), ReLU: c.relu}
	if c.residual != "" {
		r := vals[c.residual]
		if uses[c.residual] == 1 { // this Add is its last reader: take its buffer
			out.data, r.data = r.data, nil
			delete(vals, c.residual)
		} else {
			out.data = h.get(len(r.data))
			copy(out.data, r.data)
			done(c.residual)
		}
		op.Accumulate = true
	} else {
		out.data = h.get(out.pixels() * c.cOut)
	}
	op.C = out.data
	switch {
	case c.wino != nil:
		c.wino.Forward(x.data, x.n, x.h, x.w, out.data, c.relu, hostBuffers{h})
	case c.kernel == 1:
		src := x
		if c.stride > 1 {
			src = h.subsample(x, c.stride)
			defer h.put(src.data)
		}
		op.A, op.RowStride = src.data, c.cIn
		c.w.Apply(op)
	case c.same && c.stride == 1:
		h.convSame(c, x, out, op)
	default: // conv1's 7×7 patches, an image at a time: they stay in cache for the product
		// (at batch 32 the whole batch's patches are 236 MB; one image at a time took 47–53 ms
		// against 67–78 on the AVX-512 Xeon)
		in, per := x.h*x.w*x.c, ho*wo*c.cOut
		for i := range x.n {
			img := &act{n: 1, h: x.h, w: x.w, c: x.c, data: x.data[i*in : (i+1)*in]}
			patches := h.im2col(img, c.kernel, c.stride, ho, wo)
			o := op
			o.M, o.C = ho*wo, op.C[i*per:(i+1)*per]
			o.A, o.RowStride = patches, c.kernel*c.kernel*c.cIn
			c.w.Apply(o)
			h.put(patches)
		}
	}
	return out
}

// convSame is a stride-1 "same" k×k convolution. On maps at most patchWidth wide it multiplies
// the patches of the zero-padded input (im2col): one row per output pixel. On wider maps it
// reads the padded input in place, k² taps into each image seen as rows w+2p pixels wide:
// output pixel q of an image's grid reads its padded pixel q + ky·(w+2p) + kx at tap (ky, kx).
// The grid's extra columns are computed into a scratch map and dropped when the valid pixels
// are copied out (2p/w of the work: 4% at 56², 7% at 28²; a patch matrix would cost more in
// copies than that); the padding rows between images are not computed.
func (h *hostNet) convSame(c *hostConv, x, out *act, op sgemm.Op) {
	if op.Accumulate {
		panic("resnet50: hostNet cannot add a residual to a padded convolution")
	}
	p := c.kernel / 2
	padded := h.pad(x, p)
	defer h.put(padded.data)
	if x.w <= patchWidth {
		patches := h.im2col(padded, c.kernel, 1, x.h, x.w)
		op.A, op.RowStride = patches, c.kernel*c.kernel*c.cIn
		c.w.Apply(op)
		h.put(patches)
		return
	}
	wp := x.w + 2*p
	for ky := range c.kernel {
		for kx := range c.kernel {
			op.Taps = append(op.Taps, (ky*wp+kx)*c.cIn)
		}
	}
	// An image's grid ends with its last output pixel: the taps of the last one read the
	// padded map's last pixel.
	grid := (x.h-1)*wp + x.w
	wide := h.get(x.n * x.h * wp * c.cOut)
	op.M, op.A, op.RowStride, op.C = grid, padded.data, c.cIn, wide
	op.Batch, op.ABatchStride, op.CBatchStride = x.n, padded.h*wp*c.cIn, x.h*wp*c.cOut
	c.w.Apply(op)
	row := x.w * c.cOut
	parallelFor(x.n*x.h, func(i int) {
		src := i * wp * c.cOut
		copy(out.data[i*row:(i+1)*row], wide[src:src+row])
	})
	h.put(wide)
}

// preprocess is Preprocess on the host: RGB→BGR minus the ImageNet means.
func (h *hostNet) preprocess(pixels []float32, n, height, width int) *act {
	a := &act{n: n, h: height, w: width, c: 3, data: h.get(n * height * width * 3)}
	const b, g, r = 103.939, 116.779, 123.68
	for i := 0; i+2 < len(pixels); i += 3 {
		a.data[i], a.data[i+1], a.data[i+2] = pixels[i+2]-b, pixels[i+1]-g, pixels[i]-r
	}
	return a
}

// pad returns x with p zero pixels around each image.
func (h *hostNet) pad(x *act, p int) *act {
	out := &act{n: x.n, h: x.h + 2*p, w: x.w + 2*p, c: x.c}
	out.data = h.get(out.pixels() * x.c)
	clear(out.data)
	row := x.w * x.c
	parallelFor(x.n*x.h, func(i int) {
		img, y := i/x.h, i%x.h
		dst := ((img*out.h+y+p)*out.w + p) * x.c
		copy(out.data[dst:dst+row], x.data[i*row:(i+1)*row])
	})
	return out
}

// subsample keeps every stride-th pixel of each row and column (a 1×1 convolution's input).
func (h *hostNet) subsample(x *act, stride int) *act {
	out := &act{n: x.n, h: conv.OutputSize(x.h, 1, stride), w: conv.OutputSize(x.w, 1, stride), c: x.c}
	out.data = h.get(out.pixels() * x.c)
	parallelFor(out.n*out.h, func(i int) {
		img, y := i/out.h, i%out.h
		for xo := range out.w {
			src := ((img*x.h+y*stride)*x.w + xo*stride) * x.c
			copy(out.data[(i*out.w+xo)*x.c:], x.data[src:src+x.c])
		}
	})
	return out
}

// im2col returns the k×k patches of x at the given stride, [n·ho·wo][k·k·c] (ky, kx, c order:
// the Keras kernel's).
func (h *hostNet) im2col(x *act, k, stride, ho, wo int) []float32 {
	width := k * k * x.c
	out := h.get(x.n * ho * wo * width)
	parallelFor(x.n*ho, func(i int) {
		img, y := i/ho, i%ho
		for xo := range wo {
			dst := out[(i*wo+xo)*width:]
			for ky := range k {
				src := ((img*x.h+y*stride+ky)*x.w + xo*stride) * x.c
				copy(dst[ky*k*x.c:(ky+1)*k*x.c], x.data[src:src+k*x.c])
			}
		}
	})
	return out
}

// maxPool is a valid k×k max pooling with the given stride.
func (h *hostNet) maxPool(x *act, k, stride int) *act {
	out := &act{n: x.n, h: conv.OutputSize(x.h, k, stride), w: conv.OutputSize(x.w, k, stride), c: x.c}
	out.data = h.get(out.pixels() * x.c)
	parallelFor(out.n*out.h, func(i int) {
		img, y := i/out.h, i%out.h
		for xo := range out.w {
			dst := out.data[(i*out.w+xo)*x.c : (i*out.w+xo+1)*x.c]
			for ky := range k {
				for kx := range k {
					src := x.data[((img*x.h+y*stride+ky)*x.w+xo*stride+kx)*x.c:][:x.c]
					if ky == 0 && kx == 0 {
						copy(dst, src)
						continue
					}
					for j, v := range src {
						dst[j] = max(dst[j], v)
					}
				}
			}
		}
	})
	return out
}

// globalPool averages (or takes the maximum of) each image's pixels: [n, c].
func (h *hostNet) globalPool(x *act, useMax bool) *act {
	out := &act{n: x.n, h: 1, w: 1, c: x.c}
	out.data = h.get(x.n * x.c)
	hw := x.h * x.w
	parallelFor(x.n, func(img int) {
		dst := out.data[img*x.c : (img+1)*x.c]
		pix := x.data[img*hw*x.c : (img+1)*hw*x.c]
		copy(dst, pix[:x.c])
		for p := 1; p < hw; p++ {
			src := pix[p*x.c : (p+1)*x.c]
			for j, v := range src {
				if useMax {
					dst[j] = max(dst[j], v)
				} else {
					dst[j] += v
				}
			}
		}
		if !useMax {
			for j := range dst {
				dst[j] /= float32(hw)
			}
		}
	})
	return out
}

// get returns a buffer of n values (contents undefined), reusing a freed one.
func (h *hostNet) get(n int) []float32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.free[n]; len(l) > 0 {
		b := l[len(l)-1]
		h.free[n] = l[:len(l)-1]
		return b
	}
	return make([]float32, n)
}

// put gives a buffer back for reuse.
func (h *hostNet) put(b []float32) {
	if b == nil {
		return
	}
	h.mu.Lock()
	h.free[len(b)] = append(h.free[len(b)], b)
	h.mu.Unlock()
}

// hostBuffers lends hostNet's buffers to internal/winograd.
type hostBuffers struct{ h *hostNet }

func (b hostBuffers) Get(n int) []float32 { return b.h.get(n) }
func (b hostBuffers) Put(v []float32)     { b.h.put(v) }

// release drops the reusable buffers (Base.Finalize).
func (h *hostNet) release() {
	h.mu.Lock()
	h.free = map[int][][]float32{}
	h.mu.Unlock()
}

// parallelFor runs fn(0..n-1) on GOMAXPROCS goroutines.
func parallelFor(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}
