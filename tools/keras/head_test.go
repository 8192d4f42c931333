package keras

// The seed's head trained by tf-keras and by flowerlib from the same initial weights on the same
// batches. Written against flowerlib/train's current API (train.New + TrainStep with
// head.TrainGradients); the Python side (oracle.py, section "head") depends only on files.

import (
	"fmt"
	"math"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/npy"
	"github.com/flowerlib/flowers/flowerlib/train"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// headTolerance bounds flowerlib's per-step losses and final kernels and moving statistics against
// tf-keras' (relative; L2-relative for tensors). It sits near float32's own noise: over these 20
// steps Keras float32 drifts 1.8e-4 (loss) and 2e-4 (dense/kernel) from the same run in float64,
// while flowerlib, fed Keras' step sizes, stays within 1.2e-5 and 1.4e-5 of Keras float32.
const headTolerance = 1e-4

const (
	headSteps = 20 // Adam steps, batch 32 (Keras' default), the last batch of each epoch smaller
	headBatch = 32
	headSeed  = 42 // the shuffle of each epoch: train.Permutation(42, epoch, n)
)

// headJob is one head for oracle.py: its features (oracle outputs: Keras' ResNet50 on the photos
// with flowerlib's weights, pooled in numpy for the avg head), the labels, and the batches of each
// step, in order.
type headJob struct {
	Kind     head.Kind `json:"kind"`
	Features string    `json:"features"`
	Labels   []int32   `json:"labels"`
	Batches  [][]int   `json:"batches"`
}

// headWeights lists the head's Keras weight names per layer, in Keras' order.
func headWeights(l head.Layer) []string {
	if l.BN {
		return []string{"gamma", "beta", "moving_mean", "moving_variance"}
	}
	return []string{"kernel", "bias"}
}

// writeHeads writes, for the pooled head, flowerlib's initial weights (head.Init) and the batch
// order of headSteps steps.
func (o *oracle) writeHeads() error {
	// The seed's Flatten head (205M weights) does not fit the test's time: its first kernel alone is
	// 822 MB to write and read back, and the float64 reference run needs ~7 GB.
	kinds := []head.Kind{head.Avg}
	var batches [][]int
	steps := train.StepsPerEpoch(o.n(), headBatch)
	for s := range headSteps {
		perm := train.Permutation(headSeed, s/steps, o.n())
		k := s % steps
		batches = append(batches, perm[k*headBatch:min((k+1)*headBatch, o.n())])
	}
	for _, kind := range kinds {
		cfg := head.Config{Kind: kind}.Defaults()
		store := model.NewStore()
		if err := head.Init(store.RootScope(), cfg); err != nil {
			return err
		}
		for _, l := range cfg.Layers() {
			for _, w := range headWeights(l) {
				v := store.RootScope().In("%s", l.Name).GetVariable(w)
				data, err := tensors.CopyFlatData[float32](v.MustValue())
				if err != nil {
					return err
				}
				if err := npy.WriteFloat32(o.file(fmt.Sprintf("head_%s_init_%s_%s.npy", kind, l.Name, w)), v.Shape().Dimensions, data); err != nil {
					return err
				}
			}
		}
		store.Finalize()
		features := "feat_avg.npy"
		if kind == head.Flatten {
			features = "out_fl_none.npy"
		}
		o.heads = append(o.heads, headJob{Kind: kind, Features: features, Labels: o.labels, Batches: batches})
	}
	return nil
}

// kerasStepSize is tf-keras' Adam step size at update t (from 1) as Keras computes it, in float32:
// lr·sqrt(1−β2^t)/(1−β1^t) with β^t = tf.pow(float32(β), t) (tf_keras/src/optimizers/adam.py).
// flowerlib's train.Adam computes the same in float64: at t = 1 the two differ by 6e-6 relative
// (float32(0.999) is 0.99900001), enough to set 20 steps apart (README.md, "Where we differ").
func kerasStepSize(lr float64, t int64) float32 {
	b1t := float32(math.Pow(float64(float32(train.AdamBeta1)), float64(t)))
	b2t := float32(math.Pow(float64(float32(train.AdamBeta2)), float64(t)))
	return float32(lr) * float32(math.Sqrt(float64(1-b2t))) / (1 - b1t)
}

// trainHead runs flowerlib's Trainer (head.TrainGradients, host Adam) from head.Init over the
// batches, and returns each step's loss and the store. With kerasStep (Keras' step size of each
// update), each step's learning rate is set so that train.Adam's float64 step size rounds to it.
func trainHead(t *testing.T, cfg head.Config, data train.Data, batches [][]int, kerasStep []float32) ([]float64, *model.Store) {
	t.Helper()
	store := model.NewStore()
	if err := head.Init(store.RootScope(), cfg); err != nil {
		t.Fatal(err)
	}
	tr, err := train.New(testBackend(t), store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return head.Logits(scope, x, cfg)
	}, train.Options{RunDir: t.TempDir(), BatchSize: headBatch, Grad: func(scope *model.Scope, x, labels *graph.Node) *head.Gradients {
		return head.TrainGradients(scope, x, labels, cfg)
	}})
	if err != nil {
		t.Fatal(err)
	}
	var losses []float64
	for _, idx := range batches {
		if kerasStep != nil {
			step := tr.Adam.Step + 1
			ratio := math.Sqrt(1-math.Pow(train.AdamBeta2, float64(step))) / (1 - math.Pow(train.AdamBeta1, float64(step)))
			tr.Adam.LearningRate = float64(kerasStep[step-1]) / ratio
		}
		loss, _, err := tr.TrainStep(data, idx, 0)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
	}
	return losses, store
}

// TestHeadAdamSteps: the seed's head (BN → Dense 2048 relu → BN → Dense 1024 relu → BN →
// Dense 5 softmax, categorical cross-entropy, Adam defaults) built in tf-keras with flowerlib's
// initial weights and trained with train_on_batch, against flowerlib's Trainer.TrainStep on the
// same features and batches (the last of each epoch 8 rows): every step's loss within
// headTolerance relative, and after 20 steps every kernel and BatchNorm moving statistic within
// headTolerance L2-relative (‖flowerlib − Keras‖ / ‖Keras‖ per tensor; not elementwise, since Adam moves
// every weight by about ±lr on its first step whatever its gradient's size, so a gradient that
// is zero up to rounding takes either sign in two correct implementations).
//
// That holds with Keras' own float32 Adam step sizes (computed by TensorFlow in oracle.py, fed
// through the learning rate);
// flowerlib's own float64 step size is also run and its larger divergence reported, within 2e-2.
// Keras trained again with each batch's rows reversed (the same sums in another order) gives the
// float32 noise floor, and Keras in float64 the trajectory float32 rounding leaves: both logged.
func TestHeadAdamSteps(t *testing.T) {
	o := runOracle(t)
	for _, job := range o.heads {
		t.Run(string(job.Kind), func(t *testing.T) {
			cfg := head.Config{Kind: job.Kind}.Defaults()
			shape, feats := o.readNPY(t, job.Features)
			data := &train.ArrayData{X: feats, Dims: shape[1:], Y: job.Labels}
			var keras struct {
				Losses   []float64          `json:"losses"`
				Reversed []float64          `json:"losses_reversed_batches"`
				Noise    map[string]float64 `json:"l2_relative_reversed_batches"`
				Alpha    []float32          `json:"adam_step_sizes"`
				Losses64 []float64          `json:"losses_float64"`
			}
			o.result(t, "head_"+string(job.Kind), &keras)
			if len(keras.Losses) != len(job.Batches) || len(keras.Reversed) != len(job.Batches) {
				t.Fatalf("Keras ran %d steps, want %d", len(keras.Losses), len(job.Batches))
			}
			rel := func(a, b float64) float64 { return math.Abs(a-b) / math.Abs(b) }
			if len(keras.Alpha) != len(job.Batches) {
				t.Fatalf("Keras gave %d Adam step sizes for %d steps", len(keras.Alpha), len(job.Batches))
			}
			var alphaDiff float64
			for i, a := range keras.Alpha {
				alphaDiff = max(alphaDiff, rel(float64(kerasStepSize(train.DefaultLearningRate, int64(i+1))), float64(a)))
			}
			t.Logf("Adam step sizes: Keras' (TensorFlow float32) vs the same formula in Go float32: max %.2g relative; flowerlib's float64 at step 1: %.2g",
				alphaDiff, rel(train.DefaultLearningRate*math.Sqrt(1-train.AdamBeta2)/(1-train.AdamBeta1), float64(keras.Alpha[0])))
			asIs, asIsStore := trainHead(t, cfg, data, job.Batches, nil)
			defer asIsStore.Finalize()
			losses, store := trainHead(t, cfg, data, job.Batches, keras.Alpha)
			defer store.Finalize()
			var worst, worstAsIs, worstNoise, worst64 float64
			for s, idx := range job.Batches {
				r, ra, rn := rel(losses[s], keras.Losses[s]), rel(asIs[s], keras.Losses[s]), rel(keras.Reversed[s], keras.Losses[s])
				worst, worstAsIs, worstNoise = max(worst, r), max(worstAsIs, ra), max(worstNoise, rn)
				r64 := rel(keras.Losses[s], keras.Losses64[s])
				worst64 = max(worst64, r64)
				t.Logf("step %2d (%2d rows): Keras loss %.7g; flowerlib %.2g relative (%.2g with its float64 step size); Keras with reversed rows %.2g; Keras float32 vs float64 %.2g",
					s+1, len(idx), keras.Losses[s], r, ra, rn, r64)
				if r > headTolerance {
					t.Errorf("step %d (batch of %d): loss %.7g, Keras %.7g (relative %.2g > %g)", s+1, len(idx), losses[s], keras.Losses[s], r, headTolerance)
				}
			}
			t.Logf("%s head, %d steps, loss %.4g → %.4g: worst per-step relative difference %.2g (float64 step size: %.2g; Keras vs Keras, reversed rows: %.2g; Keras float32 vs float64: %.2g)",
				job.Kind, len(job.Batches), keras.Losses[0], keras.Losses[len(keras.Losses)-1], worst, worstAsIs, worstNoise, worst64)
			if worstAsIs > 2e-2 {
				t.Errorf("with flowerlib's own float64 Adam step size the losses drift %.2g from Keras' (> 2e-2; measured 6.7e-3 on the 200 photos)", worstAsIs)
			}
			for _, l := range cfg.Layers() {
				for _, w := range headWeights(l) {
					_, want := o.readNPY(t, fmt.Sprintf("head_%s_final_%s_%s.npy", job.Kind, l.Name, w))
					value := func(st *model.Store) []float32 {
						got, err := tensors.CopyFlatData[float32](st.RootScope().In("%s", l.Name).GetVariable(w).MustValue())
						if err != nil {
							t.Fatal(err)
						}
						return got
					}
					got := value(store)
					_, want64 := o.readNPY(t, fmt.Sprintf("head_%s_final64_%s_%s.npy", job.Kind, l.Name, w))
					inf, _ := relDiff(t, l.Name+"/"+w, got, want, 1)
					r := l2Rel(got, want)
					const limit = headTolerance
					checked := w == "kernel" || w == "moving_mean" || w == "moving_variance"
					t.Logf("  %-38s %.2g L2-relative (float64 step size %.2g; Keras, reversed rows %.2g; to Keras float64: Keras %.2g, flowerlib %.2g), %.2g ∞-norm relative%s",
						l.Name+"/"+w, r, l2Rel(value(asIsStore), want), keras.Noise[l.Name+"/"+w], l2Rel(want, want64), l2Rel(got, want64), inf,
						map[bool]string{true: "", false: " (reported only)"}[checked])
					if checked && r > limit {
						t.Errorf("%s/%s after %d steps: %.3g L2-relative to Keras' (limit %g)", l.Name, w, len(job.Batches), r, limit)
					}
				}
			}
		})
	}
}

// l2Rel is ‖got − want‖₂ / ‖want‖₂.
func l2Rel(got, want []float32) float64 {
	var d2, r2 float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		d2 += d * d
		r2 += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d2 / r2)
}
