package hdf5

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestVarStringAttr writes variable-length string attributes, one far above the 64 KiB an
// object header message holds (Keras' model_config of a ResNet50 is ~150 KB), and reads them
// back with this package, h5dump and h5py.
func TestVarStringAttr(t *testing.T) {
	long := `{"name": "ünïcode ✓", "layers": [` + strings.Repeat(`{"class_name": "Conv2D"}, `, 8000) + `{}]}`
	root := NewRoot()
	root.SetAttrVarString("model_config", long)
	root.SetAttrVarString("keras_version", "2.21.0")
	g, err := root.Group("model_weights")
	if err != nil {
		t.Fatal(err)
	}
	g.SetAttrVarString("backend", "tensorflow")
	path := filepath.Join(t.TempDir(), "vlen.h5")
	if err := WriteFile(path, root); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		group      *Group
		name, want string
	}{
		{f.Root(), "model_config", long}, {f.Root(), "keras_version", "2.21.0"},
	} {
		if s, err := c.group.Attr(c.name).Strings(); err != nil || len(s) != 1 || s[0] != c.want {
			t.Errorf("%s: %d strings, %v; want the %d-byte string written", c.name, len(s), err, len(c.want))
		}
	}
	if mw, ok := f.Root().Lookup("model_weights"); !ok {
		t.Error("no model_weights group")
	} else if s, err := mw.Group.Attr("backend").Strings(); err != nil || len(s) != 1 || s[0] != "tensorflow" {
		t.Errorf("model_weights backend = %q, %v", s, err)
	}
	if _, err := os.Stat("/usr/bin/h5dump"); err == nil {
		out, err := exec.Command("/usr/bin/h5dump", "-A", path).CombinedOutput()
		if err != nil || strings.Contains(string(out), "rror") || !strings.Contains(string(out), `H5T_STRING {`) ||
			!strings.Contains(string(out), `STRSIZE H5T_VARIABLE;`) || !strings.Contains(string(out), `"2.21.0"`) {
			t.Errorf("h5dump: %v\n%s", err, string(out)[:min(len(out), 2000)])
		}
	} else {
		t.Log("h5dump not installed: skipping the h5dump check")
	}
	requirePy(t)
	out := runPy(t, `
import h5py, sys
f = h5py.File(sys.argv[1], 'r')
c = f.attrs['model_config']
c = c.decode() if isinstance(c, bytes) else c
assert c.startswith('{"name": "ünïcode ✓"') and len(c.encode()) == int(sys.argv[2]), len(c)
assert f.attrs['keras_version'] in ('2.21.0', b'2.21.0')
assert f['model_weights'].attrs['backend'] in ('tensorflow', b'tensorflow')
print('ok')
`, path, strconv.Itoa(len(long)))
	if !strings.Contains(out, "ok") {
		t.Fatalf("h5py: %s", out)
	}
}
