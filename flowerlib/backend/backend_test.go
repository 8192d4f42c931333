package backend

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

func TestGoBackendRuns(t *testing.T) {
	var out bytes.Buffer
	b, err := New("go", &out)
	if err != nil {
		t.Fatal(err)
	}
	if !IsGo(b) {
		t.Fatalf("IsGo(%q) = false", b.Name())
	}
	if !strings.Contains(out.String(), "GoMLX backend: go") {
		t.Fatalf("backend not reported, got %q", out.String())
	}
	res, err := model.CallOnce(b, model.NewStore(), func(scope *model.Scope, x *graph.Node) *graph.Node {
		return graph.ReduceAllSum(graph.Mul(x, x))
	}, []float32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Value().(float32); got != 14 {
		t.Fatalf("sum of squares = %v, want 14", got)
	}
	_ = shapes.Make(dtypes.Float32, 1)
}

func TestEnvOverride(t *testing.T) {
	t.Setenv(EnvVar, "go")
	if got := Choose(""); got != "go" {
		t.Fatalf("Choose with %s=go = %q", EnvVar, got)
	}
	if got := Choose("xla:cpu"); got != "xla:cpu" {
		t.Fatalf("explicit request ignored: %q", got)
	}
}

func TestUnknownBackendIsError(t *testing.T) {
	_, err := New("nosuchbackend", nil)
	if err == nil || !strings.Contains(err.Error(), EnvVar+"=go") {
		t.Fatalf("want an error that names %s=go, got %v", EnvVar, err)
	}
}

func TestPickPrefersCUDAThenCPU(t *testing.T) {
	for _, c := range []struct {
		plugins []string
		want    string
	}{
		{nil, "go"},
		{[]string{"tpu"}, "go"},
		{[]string{"cpu"}, "xla:cpu"},
		{[]string{"cpu_v0.114.0"}, "xla:cpu"}, // the name go-xla's installer gives it
		{[]string{"cpu", "cuda"}, "xla:cuda"},
		{[]string{"cpuish"}, "go"},
	} {
		if got := pick(c.plugins); got != c.want {
			t.Errorf("pick(%q) = %q, want %q", c.plugins, got, c.want)
		}
	}
}

func TestGoRunsOpsSequentially(t *testing.T) {
	for in, want := range map[string]string{
		"go":               "go:ops_sequential",
		"go:parallelism=2": "go:parallelism=2,ops_sequential",
		"go:ops_parallel":  "go:ops_parallel",
		"xla:cpu":          "xla:cpu",
	} {
		if got := goSequential(in); got != want {
			t.Errorf("goSequential(%q) = %q, want %q", in, got, want)
		}
	}
}
