package keras

import (
	"math"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestHeNormalStreams measures a documented difference: in tf-keras both of the article's
// he_normal(seed=42) layers draw from the same seeded stream (dense_1's [2048, 1024] kernel is a
// prefix of dense's values), while flowerlib's head.Init seeds each layer apart.
func TestHeNormalStreams(t *testing.T) {
	o := runOracle(t)
	var k struct {
		Prefix bool    `json:"dense_1_equals_dense_prefix"`
		Block  bool    `json:"dense_1_equals_dense_block"`
		Std0   float64 `json:"dense_std"`
		Std1   float64 `json:"dense_1_std"`
	}
	o.result(t, "he_normal_avg", &k)
	store := model.NewStore()
	defer store.Finalize()
	if _, err := head.Init(backend.MustNew("go", nil), store, head.Article(5, nil, 0), []int{head.FeatureChannels}); err != nil {
		t.Fatal(err)
	}
	k0 := tensors.MustCopyFlatData[float32](store.RootScope().In("dense").GetVariable("kernel").MustValue())
	k1 := tensors.MustCopyFlatData[float32](store.RootScope().In("dense_1").GetVariable("kernel").MustValue())
	same := 0
	for i := range k1 {
		if k1[i] == k0[i] {
			same++
		}
	}
	t.Logf("tf-keras: dense_1's kernel is dense's first values: %v (top-left block: %v); stddev %.4g, %.4g (he_normal: %.4g, %.4g); "+
		"flowerlib: %d of %d equal", k.Prefix, k.Block, k.Std0, k.Std1, math.Sqrt(2.0/2048), math.Sqrt(2.0/2048), same, len(k1))
	if !k.Prefix && !k.Block {
		t.Errorf("tf-keras' two he_normal(seed=42) layers no longer share their stream: update README.md")
	}
	if same > len(k1)/1000 {
		t.Errorf("flowerlib's dense_1 kernel repeats dense's values (%d of %d)", same, len(k1))
	}
}

// TestBatchNormMovingVariance measures which batch variance BatchNormalization's moving variance
// takes in training: tf-keras' fused kernel (4-D inputs, ResNet50's layers) the unbiased one
// (÷(n−1)), tf-keras on 2-D inputs (the article's head) and Keras 3 the biased one (÷n), which
// flowerlib uses everywhere (head, and resnet50 when fine-tuning).
func TestBatchNormMovingVariance(t *testing.T) {
	o := runOracle(t)
	var r map[string]struct {
		N          int     `json:"n"`
		VsBiased   float64 `json:"vs_biased"`
		VsUnbiased float64 `json:"vs_unbiased"`
	}
	o.result(t, "bn_moving_variance", &r)
	want := map[string]string{"tf_keras_2d": "biased", "tf_keras_4d": "unbiased", "keras3_2d": "biased", "keras3_4d": "biased"}
	for key, kind := range want {
		v, ok := r[key]
		if !ok {
			t.Fatalf("no %s in the oracle's results", key)
		}
		got := "neither"
		switch {
		case v.VsBiased < 1e-5:
			got = "biased"
		case v.VsUnbiased < 1e-5:
			got = "unbiased"
		}
		t.Logf("%s (n = %d): the moving variance takes the %s batch variance (off by %.2g from biased, %.2g from unbiased)", key, v.N, got, v.VsBiased, v.VsUnbiased)
		if got != kind {
			t.Errorf("%s: moving variance follows the %s variance, README.md says %s", key, got, kind)
		}
	}
}
