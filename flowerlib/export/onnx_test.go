package export_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/export"
	"github.com/flowerlib/flowers/flowerlib/export/exporttest"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
)

// TestONNXChecker runs ONNX's own checker (Debian's python3-onnx 1.12, with full shape
// inference) on the ONNX files of a pooled and a Flatten head: valid for opset 13, and the
// inferred output shape is [batch, classes]. (tools/export runs them in ONNX Runtime.)
func TestONNXChecker(t *testing.T) {
	if exec.Command("/usr/bin/python3", "-c", "import onnx").Run() != nil {
		msg := "/usr/bin/python3 cannot import onnx (Debian's python3-onnx, in .ci/apt-packages.txt): skipping"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, pooling := range []resnet50.Pooling{resnet50.PoolingMax, resnet50.PoolingNone} {
		path := filepath.Join(t.TempDir(), "m.onnx")
		if err := export.WriteONNX(path, exporttest.Model(4, 64, pooling, 8)); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("/usr/bin/python3", "-c", `
import onnx, sys
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
out = inferred.graph.output[0].type.tensor_type.shape.dim
print("opset", m.opset_import[0].version, "ir", m.ir_version, "output", [d.dim_param or d.dim_value for d in out])
`, path).CombinedOutput()
		want := "opset 13 ir 7 output ['batch', 3]"
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("pooling %s: %v\n%s\nwant %q", pooling, err, out, want)
		}
	}
}
