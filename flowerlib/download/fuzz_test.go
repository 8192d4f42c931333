package download

import (
	"archive/tar"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtract builds archives from fuzzed entry names, link targets and types, and checks
// the property that matters: whatever ExtractTarGz accepts or refuses, nothing appears
// outside the target folder and no symlink inside points out of it.
//
//	GOEXPERIMENT=simd go test -run '^$' -fuzz FuzzExtract -fuzztime 1m ./flowerlib/download/
func FuzzExtract(f *testing.F) {
	f.Add("flower_photos/daisy/a.jpg", "", byte(tar.TypeReg), "x/y", "", byte(tar.TypeReg))
	f.Add("../evil", "", byte(tar.TypeReg), "ok", "", byte(tar.TypeReg))
	f.Add("l", "..", byte(tar.TypeSymlink), "l/evil", "", byte(tar.TypeReg))
	f.Add("a/l", "../../x", byte(tar.TypeSymlink), "a/b", "", byte(tar.TypeDir))
	f.Add("l", "/tmp", byte(tar.TypeSymlink), "l/x", "", byte(tar.TypeReg))
	f.Add("./a/./../b", "", byte(tar.TypeReg), "h", "a", byte(tar.TypeLink))
	f.Fuzz(func(t *testing.T, name1, link1 string, typ1 byte, name2, link2 string, typ2 byte) {
		top := t.TempDir()
		target := filepath.Join(top, "in", "out")
		archive := filepath.Join(top, "a.tgz")
		data := tgz(t, []entry{
			{name: name1, link: link1, typ: typ1, data: []byte("1")},
			{name: name2, link: link2, typ: typ2, data: []byte("2")},
		})
		if data == nil {
			t.Skip("tar cannot encode these entries")
		}
		if err := os.WriteFile(archive, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = ExtractTarGz(archive, target)
		_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == top || p == archive || p == filepath.Join(top, "in") {
				return nil
			}
			if p != target && !strings.HasPrefix(p, target+string(filepath.Separator)) {
				t.Fatalf("%q was created outside the target (entries %q -> %q, %q -> %q)", p, name1, link1, name2, link2)
			}
			if d.Type()&fs.ModeSymlink != 0 {
				dest, _ := os.Readlink(p)
				resolved := filepath.Clean(filepath.Join(filepath.Dir(p), dest))
				if filepath.IsAbs(dest) || (resolved != target && !strings.HasPrefix(resolved, target+string(filepath.Separator))) {
					t.Fatalf("symlink %q -> %q leaves the target", p, dest)
				}
			}
			return nil
		})
	})
}
