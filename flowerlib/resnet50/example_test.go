package resnet50_test

import (
	"fmt"
	"os"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// The article's base: ResNet50(include_top=False) has Keras' parameter counts.
func ExampleParamCounts() {
	total, trainable, _ := resnet50.ParamCounts(resnet50.Options{})
	fmt.Printf("total %d, trainable %d, non-trainable %d\n", total, trainable, total-trainable)
	total, trainable, _ = resnet50.ParamCounts(resnet50.Options{Frozen: true})
	fmt.Printf("frozen: trainable %d\n", trainable)
	// Output:
	// total 23587712, trainable 23534592, non-trainable 53120
	// frozen: trainable 0
}

// A frozen ImageNet base under a new head, inside a GoMLX model function.
func ExampleBuildGraph() {
	w, err := resnet50.LoadWeights("imagenet", "/tmp/flowers-cache", false, os.Stderr)
	if err != nil {
		fmt.Println(err)
		return
	}
	modelFn := func(scope *model.Scope, images *graph.Node) *graph.Node {
		// images: float32 [batch, 224, 224, 3], RGB 0..255.
		features := resnet50.BuildGraph(scope.In("resnet50"), images).
			PreTrained(w).Trainable(false).Pooling(resnet50.PoolingAvg).Done() // [batch, 2048]
		return features // … the head goes here
	}
	_ = modelFn
}

// Features of a batch of photos with the frozen base, compiled once and reused.
func ExampleNewBase() {
	b := backend.MustNew("", os.Stderr)
	ex, err := resnet50.NewBase(b, resnet50.RandomWeights(1, false), resnet50.Options{Pooling: resnet50.PoolingAvg})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ex.Finalize()
	pixels := make([]float32, 2*224*224*3) // 2 images, RGB 0..255, e.g. from images.Batches
	features, err := ex.ExtractFloats(pixels, 2, 224, 224)
	fmt.Println(len(features), err) // 2×2048
}
