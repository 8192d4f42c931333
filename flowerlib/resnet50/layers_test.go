package resnet50

import (
	"slices"
	"strings"
	"testing"
)

// Keras' summary of ResNet50(include_top=False) starts and ends with these layers.
func TestLayersOrder(t *testing.T) {
	layers, err := Layers(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 175 {
		t.Fatalf("got %d layers, Keras' ResNet50 without top has 175", len(layers))
	}
	names := make([]string, len(layers))
	for i, l := range layers {
		names[i] = l.Name
	}
	wantHead := []string{"input_1", "conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad", "pool1_pool",
		"conv2_block1_1_conv", "conv2_block1_1_bn", "conv2_block1_1_relu", "conv2_block1_2_conv", "conv2_block1_2_bn",
		"conv2_block1_2_relu", "conv2_block1_0_conv", "conv2_block1_3_conv", "conv2_block1_0_bn", "conv2_block1_3_bn",
		"conv2_block1_add", "conv2_block1_out",
		"conv2_block2_1_conv", "conv2_block2_1_bn", "conv2_block2_1_relu", "conv2_block2_2_conv", "conv2_block2_2_bn",
		"conv2_block2_2_relu", "conv2_block2_3_conv", "conv2_block2_3_bn", "conv2_block2_add", "conv2_block2_out"}
	if !slices.Equal(names[:len(wantHead)], wantHead) {
		t.Errorf("first layers:\n got %v\nwant %v", names[:len(wantHead)], wantHead)
	}
	if last := names[len(names)-1]; last != "conv5_block3_out" {
		t.Errorf("last layer %q, want conv5_block3_out", last)
	}
	// Stage boundaries and block counts 3, 4, 6, 3.
	for _, want := range []string{"conv3_block4_out", "conv4_block6_out", "conv5_block1_0_conv"} {
		if !slices.Contains(names, want) {
			t.Errorf("missing layer %s", want)
		}
	}
	for _, unwanted := range []string{"conv2_block4_out", "conv3_block5_out", "conv4_block7_out", "conv5_block4_out", "conv2_block2_0_conv"} {
		if slices.Contains(names, unwanted) {
			t.Errorf("unexpected layer %s", unwanted)
		}
	}
	byName := map[string]Layer{}
	for _, l := range layers {
		byName[l.Name] = l
	}
	for name, want := range map[string][]int{
		"conv1_pad": {230, 230, 3}, "conv1_conv": {112, 112, 64}, "pool1_pad": {114, 114, 64}, "pool1_pool": {56, 56, 64},
		"conv2_block1_out": {56, 56, 256}, "conv3_block1_1_conv": {28, 28, 128}, "conv3_block1_0_conv": {28, 28, 512},
		"conv4_block6_out": {14, 14, 1024}, "conv5_block3_out": {7, 7, 2048},
	} {
		if got := byName[name].OutputShape; !slices.Equal(got, want) {
			t.Errorf("%s output %v, want %v", name, got, want)
		}
	}
	if got := byName["conv3_block1_1_conv"].Weights[0].Shape; !slices.Equal(got, []int{1, 1, 256, 128}) {
		t.Errorf("conv3_block1_1_conv kernel %v", got)
	}
	if got := byName["conv3_block1_1_conv"].Stride; got != 2 {
		t.Errorf("conv3_block1_1_conv stride %d, want 2 (Keras puts the stride on the first 1×1)", got)
	}
	if got := byName["conv2_block1_1_conv"].Stride; got != 1 {
		t.Errorf("conv2_block1_1_conv stride %d, want 1", got)
	}
	if got := byName["conv3_block1_add"].Inputs; !slices.Equal(got, []string{"conv3_block1_0_bn", "conv3_block1_3_bn"}) {
		t.Errorf("conv3_block1_add inputs %v", got)
	}
	if got := byName["conv3_block2_add"].Inputs; !slices.Equal(got, []string{"conv3_block1_out", "conv3_block2_3_bn"}) {
		t.Errorf("conv3_block2_add inputs %v", got)
	}

	top, err := Layers(Options{IncludeTop: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(top); n != 177 || top[175].Name != "avg_pool" || top[176].Name != "predictions" {
		t.Errorf("with top: %d layers ending %s, %s; want 177 ending avg_pool, predictions", n, top[n-2].Name, top[n-1].Name)
	}
	small, err := Layers(Options{Height: 32, Width: 64, Pooling: PoolingMax})
	if err != nil {
		t.Fatal(err)
	}
	if l := small[len(small)-2]; !slices.Equal(l.OutputShape, []int{1, 2, 2048}) {
		t.Errorf("32×64: last block output %v, want [1 2 2048]", l.OutputShape)
	}
	if l := small[len(small)-1]; l.Name != "max_pool" {
		t.Errorf("pooling max: last layer %s", l.Name)
	}
	if _, err := Layers(Options{Height: 31}); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("31×224 input: err=%v, want 'at least 32'", err)
	}
}

// Keras: ResNet50(include_top=False).summary() and ResNet50().summary() totals.
func TestParamCounts(t *testing.T) {
	for _, tc := range []struct {
		opts             Options
		total, trainable int
	}{
		{Options{}, 23_587_712, 23_534_592},
		{Options{Pooling: PoolingAvg, Height: 64, Width: 64}, 23_587_712, 23_534_592},
		{Options{IncludeTop: true}, 25_636_712, 25_583_592},
		{Options{Frozen: true}, 23_587_712, 0},
		{Options{TrainableFrom: "conv5"}, 23_587_712, 14_976_000},
	} {
		total, trainable, err := ParamCounts(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if total != tc.total || trainable != tc.trainable {
			t.Errorf("%+v: total %d trainable %d, want %d and %d", tc.opts, total, trainable, tc.total, tc.trainable)
		}
	}
	if _, _, err := ParamCounts(Options{TrainableFrom: "conv9"}); err == nil || !strings.Contains(err.Error(), `"conv9"`) {
		t.Errorf("TrainableFrom(conv9): err=%v", err)
	}
}

func TestSummary(t *testing.T) {
	s, err := Summary(Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Total params: 23,587,712\n", "Trainable params: 23,534,592\n", "Non-trainable params: 53,120\n",
		"Layer (type)", "Connected to",
		"conv1_conv (Conv2D)", "(None, 112, 112, 64)", "9472", "['conv1_pad[0][0]']",
		"conv5_block3_out (Activation)", "(None, 7, 7, 2048)",
		"['conv2_block1_0_bn[0][0]',", " 'conv2_block1_3_bn[0][0]']",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	// Rows appear in Keras order.
	if i, j := strings.Index(s, "conv2_block1_0_conv ("), strings.Index(s, "conv2_block1_2_relu ("); i < j {
		t.Errorf("conv2_block1_0_conv should follow conv2_block1_2_relu in Keras order")
	}
	if testing.Verbose() {
		t.Log("\n" + s[:2000])
	}
}
