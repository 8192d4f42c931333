package images

import (
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowerlib/flowers/internal/testdata"
)

// pilTimer decodes every path given on stdin (a JSON list) with PIL on one thread, as
// torchvision's ImageFolder does (Image.open + convert("RGB")), then again with the 224×224
// bilinear resize of torchvision's Resize, and prints the seconds of each pass and PIL's
// libjpeg-turbo status.
const pilTimer = `
import json, sys, time
from PIL import Image, features
paths = json.load(sys.stdin)
def run(resize):
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im = im.convert("RGB")
            if resize:
                im = im.resize((224, 224), Image.BILINEAR)
    return time.perf_counter() - t
run(False)  # warm the page cache and PIL's imports
print(json.dumps({"decode": run(False), "load224": run(True), "turbo": bool(features.check_feature("libjpeg_turbo"))}))
`

// BenchmarkDecodeVsPIL decodes the 200 sample photos on one core with flowerlib (Go's
// image/jpeg, EXIF, conversion to RGB; then also the 224×224 resize: Load) and with PIL
// (libjpeg-turbo in Debian's python3-pil) on the same files, in alternating rounds, and
// reports each one's median photos/s. It needs /usr/bin/python3 with PIL (skipped otherwise).
//
//	GOEXPERIMENT=simd go test -run '^$' -bench DecodeVsPIL -benchtime 1x ./flowerlib/images/
func BenchmarkDecodeVsPIL(b *testing.B) {
	paths := testdata.SamplePhotos(b, 200)
	if exec.Command("/usr/bin/python3", "-c", "import PIL").Run() != nil {
		b.Skip("/usr/bin/python3 has no PIL (Debian python3-pil): nothing to compare with")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one core, as PIL's loop
	list, _ := json.Marshal(paths)
	goPass := func(resize bool) float64 {
		start := time.Now()
		for _, p := range paths {
			var err error
			if resize {
				_, err = Load(p, 224)
			} else {
				_, _, err = ReadFile(p)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start).Seconds()
	}
	goPass(false) // page cache
	var goDec, goLoad, pilDec, pilLoad []float64
	turbo := false
	for range max(b.N, 3) {
		goDec, goLoad = append(goDec, goPass(false)), append(goLoad, goPass(true))
		cmd := exec.Command("/usr/bin/python3", "-c", pilTimer)
		cmd.Stdin = strings.NewReader(string(list))
		cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("PIL: %v", err)
		}
		var r struct {
			Decode, Load224 float64
			Turbo           bool
		}
		if err := json.Unmarshal(out, &r); err != nil {
			b.Fatalf("PIL printed %q: %v", out, err)
		}
		pilDec, pilLoad, turbo = append(pilDec, r.Decode), append(pilLoad, r.Load224), r.Turbo
	}
	n := float64(len(paths))
	med := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	b.ReportMetric(n/med(goDec), "go-decode-photos/s")
	b.ReportMetric(n/med(goLoad), "go-load224-photos/s")
	b.ReportMetric(n/med(pilDec), "pil-decode-photos/s")
	b.ReportMetric(n/med(pilLoad), "pil-load224-photos/s")
	b.Logf("%d photos, %d rounds, one core; PIL libjpeg-turbo: %v; decode go/PIL %.2f×, decode+resize go/PIL %.2f×",
		len(paths), len(goDec), turbo, med(pilDec)/med(goDec), med(pilLoad)/med(goLoad))
}
