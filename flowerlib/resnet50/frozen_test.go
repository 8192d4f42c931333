package resnet50

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/internal/conv"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// trainHead trains a 5-class linear head on the avg-pooled base for a few Adam steps, in
// training mode, and returns the store and the base's features from the last step.
func trainHead(t *testing.T, configure func(*Config) *Config, steps int) (store *model.Store, feats *tensors.Tensor, images *tensors.Tensor) {
	t.Helper()
	b := goBackend(t)
	store = model.NewStore()
	const n, size = 4, 32
	images = tensors.FromFlatDataAndDimensions(randomImages(7, n, size, size), n, size, size, 3)
	targets := tensors.FromFlatDataAndDimensions([]float32{
		1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}, n, 5)
	opt := optimizer.Adam().LearningRate(0.001).Done()
	step := model.MustNewExec(b, store, func(scope *model.Scope, x, y *Node) (*Node, *Node) {
		g := x.Graph()
		store.SetTraining(g, true)
		features := configure(BuildGraph(scope.In("base"), x).PreTrained(testWeights).Pooling(PoolingAvg)).Done()
		head := scope.In("head").WithInitializer(initializer.XavierNormalFn(scope))
		k := head.VariableWithShape("kernel", shapes.Make(dtypes.Float32, FeatureChannels, 5)).NodeValue(g)
		bias := head.WithInitializer(initializer.Zero).VariableWithShape("bias", shapes.Make(dtypes.Float32, 5)).NodeValue(g)
		logits := Add(MatMul(features, k), ExpandLeftToRank(bias, 2))
		loss := ReduceAllMean(Square(Sub(logits, y)))
		opt.UpdateGraph(scope, g, loss)
		return loss, features
	})
	var loss *tensors.Tensor
	for i := range steps {
		loss, feats = step.MustCall2(images, targets)
		t.Logf("step %d: loss %.4f", i, tensors.ToScalar[float32](loss))
	}
	return store, feats, images
}

func TestFrozenBaseDoesNotChange(t *testing.T) {
	store, feats, images := trainHead(t, func(c *Config) *Config { return c.Trainable(false) }, 3)
	// Every base variable still equals the weights file, bit for bit.
	n := 0
	for v := range store.IterVariables() {
		path := v.Path()
		if !strings.HasPrefix(path, "/base/") {
			continue
		}
		if v.Trainable {
			t.Errorf("%s is trainable in a frozen base", path)
		}
		layer, name := model.SplitPath(strings.TrimPrefix(path, "/base/"))
		want := findWeight(t, layer, name)
		if got := tensors.MustCopyFlatData[float32](v.MustValue()); !slices.Equal(got, want) {
			t.Errorf("%s changed while frozen", path)
		}
		n++
	}
	if n != 53*2+53*4 { // 53 convolutions (kernel, bias) and their 53 BatchNorms
		t.Errorf("%d base variables, want %d", n, 53*2+53*4)
	}
	// The head did train.
	k := store.GetVariable("/head/kernel")
	if k == nil || !k.Trainable {
		t.Fatal("head kernel missing or not trainable")
	}
	// BatchNorm used the moving statistics: the features of the training step equal the
	// inference Extractor's.
	e, err := NewBase(goBackend(t), testWeights, Options{Pooling: PoolingAvg})
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.Extract(images)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxRelDiff(tensors.MustCopyFlatData[float32](feats), tensors.MustCopyFlatData[float32](want)); d > 1e-6 {
		t.Errorf("frozen training-mode features differ from inference by %g relative: BatchNorm did not use moving stats", d)
	}
}

// TrainableFrom("conv5") trains conv5 only, BatchNorm there in training mode with Keras'
// moving-average update; the layers before stay bit-identical.
func TestTrainableFrom(t *testing.T) {
	store, _, _ := trainHead(t, func(c *Config) *Config { return c.TrainableFrom("conv5") }, 1)
	for v := range store.IterVariables() {
		path := v.Path()
		if !strings.HasPrefix(path, "/base/") {
			continue
		}
		layer, name := model.SplitPath(strings.TrimPrefix(path, "/base/"))
		changed := !slices.Equal(tensors.MustCopyFlatData[float32](v.MustValue()), findWeight(t, layer, name))
		inConv5 := strings.HasPrefix(layer, "conv5")
		wantTrainable := inConv5 && !strings.HasPrefix(name, "moving_")
		if v.Trainable != wantTrainable {
			t.Errorf("%s: trainable=%v, want %v", path, v.Trainable, wantTrainable)
		}
		if changed != inConv5 {
			t.Errorf("%s: changed=%v after one step, want %v", path, changed, inConv5)
		}
	}
}

// Trainable(true): one training step updates conv1_bn's moving mean as Keras does,
// 0.99·moving_mean + 0.01·(batch mean of conv1_conv's output), and trains every kernel.
func TestTrainableUpdatesMovingStats(t *testing.T) {
	store, _, images := trainHead(t, func(c *Config) *Config { return c.Trainable(true) }, 1)
	batchMean := model.MustCallOnce(goBackend(t), model.NewStore(), func(scope *model.Scope, x *Node) *Node {
		g := x.Graph()
		w := testWeights.Layer("conv1_conv").Weights
		kernel := Const(g, tensors.FromFlatDataAndDimensions(w[0].Data, w[0].Shape...))
		bias := Const(g, tensors.FromFlatDataAndDimensions(w[1].Data, w[1].Shape...))
		y := conv.Conv2D(conv.ZeroPad2D(Preprocess(x), 3), kernel, bias, 2)
		return ReduceMean(y, 0, 1, 2)
	}, images)
	mean := tensors.MustCopyFlatData[float32](batchMean)
	old := findWeight(t, "conv1_bn", "moving_mean")
	got := tensors.MustCopyFlatData[float32](store.GetVariable("/base/conv1_bn/moving_mean").MustValue())
	for c := range got {
		want := 0.99*float64(old[c]) + 0.01*float64(mean[c])
		if math.Abs(float64(got[c])-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Fatalf("conv1_bn/moving_mean[%d] = %g, want 0.99·%g + 0.01·%g = %g", c, got[c], old[c], mean[c], want)
		}
	}
	for _, path := range []string{"/base/conv1_conv/kernel", "/base/conv3_block2_2_conv/kernel", "/base/conv5_block3_3_bn/gamma"} {
		layer, name := model.SplitPath(strings.TrimPrefix(path, "/base/"))
		if slices.Equal(tensors.MustCopyFlatData[float32](store.GetVariable(path).MustValue()), findWeight(t, layer, name)) {
			t.Errorf("%s did not train", path)
		}
	}
}

func findWeight(t *testing.T, layer, name string) []float32 {
	l := testWeights.Layer(layer)
	if l == nil {
		t.Fatalf("no layer %s in the weights", layer)
	}
	for _, w := range l.Weights {
		if shortWeightName(w.Name) == name {
			return w.Data
		}
	}
	t.Fatalf("no weight %s/%s", layer, name)
	return nil
}

func maxRelDiff(a, b []float32) float64 {
	var maxDiff, maxAbs float64
	for i := range a {
		maxDiff = math.Max(maxDiff, math.Abs(float64(a[i]-b[i])))
		maxAbs = math.Max(maxAbs, math.Abs(float64(b[i])))
	}
	return maxDiff / maxAbs
}
