package head

import (
	"math"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
)

// TestArticleSummary: the article's head described on the 7×7×2048 map is Keras' summary of
// flower_model()'s head: Flatten 100352 → BN (401,408 params, half trainable) → Dense 2048
// (205,522,944) → BN (8,192) → Dense 1024 (2,098,176) → BN (4,096) → Dense 5 (5,125).
func TestArticleSummary(t *testing.T) {
	d, err := Describe(backend.MustNew("go", nil), Article(5, nil, 0), []int{7, 7, 2048})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range d.Layers {
		names = append(names, l.Name+":"+l.Type)
	}
	want := ":Flatten batch_normalization:BatchNormalization dense:Dense batch_normalization_1:BatchNormalization " +
		"dense_1:Dense batch_normalization_2:BatchNormalization dense_2:Dense"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("layers %s\nwant   %s", got, want)
	}
	tr, nt := d.Params()
	if tr+nt != 401408+205522944+8192+2098176+4096+5125 || nt != (401408+8192+4096)/2 {
		t.Errorf("params trainable %d non-trainable %d", tr, nt)
	}
	s := d.Summary()
	for _, want := range []string{"\nflatten (Flatten)", "(None, 100352)", "\ndense (Dense)", "205522944", "dense_2 (Dense)", "(None, 5)",
		"Total params: 208039941", "Non-trainable params: 206848"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if d.Classes() != 5 {
		t.Errorf("classes %d", d.Classes())
	}
}

// TestFingerprint: the same head code gives the same fingerprint; a changed width, an added
// dropout or another initializer seed give another.
func TestFingerprint(t *testing.T) {
	b := backend.MustNew("go", nil)
	fp := func(fn Func) string {
		d, err := Describe(b, fn, []int{2048})
		if err != nil {
			t.Fatal(err)
		}
		return d.Fingerprint
	}
	base := fp(Article(5, []int{64, 32}, 0))
	if again := fp(Article(5, []int{64, 32}, 0)); again != base {
		t.Errorf("same head, fingerprints %s and %s", base, again)
	}
	seed7 := func(scope *model.Scope, x *graph.Node) *graph.Node {
		x = BatchNorm(scope, x)
		x = activation.Relu(Dense(scope, x, 64, HeNormal(7)))
		x = BatchNorm(scope, x)
		x = activation.Relu(Dense(scope, x, 32, HeNormal(42)))
		return Dense(scope, BatchNorm(scope, x), 5)
	}
	seen := map[string]string{base: "article"}
	for name, fn := range map[string]Func{
		"width":   Article(5, []int{64, 16}, 0),
		"dropout": Article(5, []int{64, 32}, 0.5),
		"classes": Article(4, []int{64, 32}, 0),
		"seed":    seed7,
	} {
		f := fp(fn)
		if other, dup := seen[f]; dup {
			t.Errorf("%s: same fingerprint as %s", name, other)
		}
		seen[f] = name
	}
}

// TestInitValues: Init draws he_normal(42) and glorot_uniform kernels with the layer's own seed
// (seed·1000003 + its index among the layers with weights), zero biases, unit γ and moving
// variance; a second Init keeps the values; a GoMLX layer's variables get a row of their own.
func TestInitValues(t *testing.T) {
	b := backend.MustNew("go", nil)
	store := model.NewStore()
	mixed := func(scope *model.Scope, x *graph.Node) *graph.Node {
		x = BatchNorm(scope, x)
		x = activation.Relu(Dense(scope, x, 16, HeNormal(42)))
		x = layers.DropoutStatic(scope, x, 0.2)
		x = layers.Dense(scope.In("gomlx"), x, true, 8)
		return Dense(scope, x, 3)
	}
	ls, err := Init(b, store, mixed, []int{32})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ls); n != 4 || ls[3].Name != "gomlx/dense" || ls[3].Trainable != 16*8+8 {
		t.Fatalf("layers %+v", ls)
	}
	kernel := tensors.MustCopyFlatData[float32](store.GetVariable("/dense/kernel").MustValue())
	want := make([]float32, 32*16)
	HeNormalFill(want, 32, 42*1000003+1)
	for i := range want {
		if kernel[i] != want[i] {
			t.Fatalf("dense/kernel[%d] = %v, want he_normal's %v", i, kernel[i], want[i])
		}
	}
	last := tensors.MustCopyFlatData[float32](store.GetVariable("/dense_1/kernel").MustValue())
	want = make([]float32, 8*3)
	GlorotUniformFill(want, math.Sqrt(6.0/11), 42*1000003+2)
	for i := range want {
		if last[i] != want[i] {
			t.Fatalf("dense_1/kernel[%d] = %v, want glorot_uniform's %v", i, last[i], want[i])
		}
	}
	for path, v := range map[string]float32{"/dense/bias": 0, "/batch_normalization/gamma": 1, "/batch_normalization/moving_variance": 1} {
		for _, x := range tensors.MustCopyFlatData[float32](store.GetVariable(path).MustValue()) {
			if x != v {
				t.Fatalf("%s holds %v, want %v", path, x, v)
			}
		}
	}
	if store.GetVariable("/batch_normalization/moving_mean").Trainable || !store.GetVariable("/dense/kernel").Trainable {
		t.Error("trainability")
	}
	store.GetVariable("/dense/bias").MustValue().MustMutableFlatData(func(f any) { f.([]float32)[0] = 7 })
	if _, err := Init(b, store, mixed, []int{32}); err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[float32](store.GetVariable("/dense/bias").MustValue())[0]; got != 7 {
		t.Errorf("a second Init replaced an existing value: bias[0] = %v", got)
	}
	if _, err := Init(b, store, Article(3, []int{8}, 0), []int{32}); err == nil || !strings.Contains(err.Error(), "new run folder") {
		t.Errorf("a changed head over existing variables: %v", err)
	}
}

func TestHeNormalStats(t *testing.T) {
	f := make([]float32, 1<<20)
	HeNormalFill(f, 2048, 42)
	var sum, sq float64
	for _, v := range f {
		sum += float64(v)
		sq += float64(v) * float64(v)
		if math.Abs(float64(v)) > 2*math.Sqrt(2.0/2048)/0.87962566103423978+1e-6 {
			t.Fatalf("value %v beyond 2σ", v)
		}
	}
	n := float64(len(f))
	std := math.Sqrt(sq/n - (sum/n)*(sum/n))
	if want := math.Sqrt(2.0 / 2048); math.Abs(std-want)/want > 0.01 {
		t.Errorf("he_normal stddev %v, want %v", std, want)
	}
}

// TestBadHead: a head that does not give [batch, classes] logits, or Dense on a feature map,
// is an error naming the problem.
func TestBadHead(t *testing.T) {
	b := backend.MustNew("go", nil)
	for name, c := range map[string]struct {
		fn   Func
		want string
	}{
		"map to Dense": {func(scope *model.Scope, x *graph.Node) *graph.Node { return Dense(scope, x, 5) }, "Flatten or pool first"},
		"no logits":    {func(scope *model.Scope, x *graph.Node) *graph.Node { return x }, "logits [batch, classes]"},
	} {
		if _, err := Describe(b, c.fn, []int{7, 7, 2048}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
}

// TestActivations: Describe notes the ReLU after each hidden Dense of the article's head (none
// after the logits), and names code a layer list cannot express.
func TestActivations(t *testing.T) {
	b := backend.MustNew("go", nil)
	d, err := Describe(b, Article(5, []int{32, 16}, 0.5), []int{2048})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range d.Layers {
		got = append(got, l.Name+":"+l.Activation)
		if len(l.Unsupported) > 0 {
			t.Errorf("%s: unsupported %v", l.Name, l.Unsupported)
		}
	}
	if want := "batch_normalization: dense:relu batch_normalization_1: dense_1:relu batch_normalization_2: dense_2:"; strings.Join(got, " ") != want {
		t.Errorf("activations %q\nwant        %q", strings.Join(got, " "), want)
	}
	odd := func(scope *model.Scope, x *graph.Node) *graph.Node {
		x = graph.Tanh(Dense(scope, x, 8))
		return Dense(scope, x, 3)
	}
	d, err = Describe(b, odd, []int{16})
	if err != nil {
		t.Fatal(err)
	}
	if u := d.Layers[1].Unsupported; len(u) != 1 || !strings.Contains(u[0], "Tanh") {
		t.Errorf("tanh between two Dense layers: %+v", d.Layers)
	}
}
