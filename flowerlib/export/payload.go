package export

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/flowerlib/flowers/flowerlib/internal/container"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/pkg/errors"
)

// A model is stored as an internal/container file (the one format of checkpoints and caches:
// checksummed, range-checked on read) of kind ModelMagic: the tensors "base/<layer>/<weight>"
// and "head/<layer>/<weight>", and the rest of Model as the JSON metadata. An executable
// carries it appended, followed by a trailer: uint64 offset and uint64 size of the container
// in the file, then ExecMagic.
const (
	ModelMagic    = "FLWMODL1"
	ExecMagic     = "FLWEXEC1"
	trailerLen    = 8 + 8 + len(ExecMagic)
	payloadFormat = 1
)

// payloadMeta is the container's metadata: Model without the tensors' values.
type payloadMeta struct {
	Format    int      `json:"format"`
	Classes   []string `json:"classes"`
	ImageSize int      `json:"image_size"`
	Pooling   string   `json:"pooling"`
	Head      []Layer  `json:"head"`
	Source    string   `json:"source,omitempty"`
}

// SaveModel writes m to path as a model container, atomically.
func SaveModel(path string, m *Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	layers, err := resnet50.Layers(m.BaseOptions())
	if err != nil {
		return err
	}
	return container.Write(path, ModelMagic, 0o644, func(w *container.Writer) error {
		for _, l := range layers {
			for _, wt := range l.Weights {
				name := l.Name + "/" + wt.Name
				t := m.Base[name]
				if err := w.AddFloat32("base/"+name, t.Dims, t.Data); err != nil {
					return err
				}
			}
		}
		for _, l := range m.Head {
			for _, wt := range l.Weights {
				if err := w.AddFloat32("head/"+l.Name+"/"+wt.Name, wt.Dims, wt.Data); err != nil {
					return err
				}
			}
		}
		return w.SetMeta(payloadMeta{Format: payloadFormat, Classes: m.Classes, ImageSize: m.ImageSize,
			Pooling: m.Pooling.String(), Head: m.Head, Source: m.Source})
	})
}

// LoadModel reads a model container (a whole file when size < 0, else size bytes at offset).
// The tensors are copied out, so the file is closed on return.
func LoadModel(path string, offset, size int64) (*Model, error) {
	f, err := container.OpenSection(path, offset, size, ModelMagic)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var meta payloadMeta
	if err := f.Meta(&meta); err != nil {
		return nil, err
	}
	if meta.Format != payloadFormat {
		return nil, errors.Errorf("%q holds a model of format %d, this program reads format %d: export it again with this version of flowers",
			path, meta.Format, payloadFormat)
	}
	pooling, err := resnet50.ParsePooling(meta.Pooling)
	if err != nil {
		return nil, errors.WithMessagef(err, "%q", path)
	}
	m := &Model{Classes: meta.Classes, ImageSize: meta.ImageSize, Pooling: pooling, Head: meta.Head, Source: meta.Source,
		Base: map[string]Tensor{}}
	read := func(name string) (Tensor, error) {
		e, ok := f.Lookup(name)
		if !ok {
			return Tensor{}, errors.Errorf("%q: the model has no tensor %q", path, name)
		}
		v, err := f.Float32(e)
		return Tensor{Dims: e.Dims, Data: append([]float32(nil), v...)}, err
	}
	for _, e := range f.Tensors {
		if name, ok := strings.CutPrefix(e.Name, "base/"); ok {
			if m.Base[name], err = read(e.Name); err != nil {
				return nil, err
			}
		}
	}
	for i := range m.Head {
		for j := range m.Head[i].Weights {
			w := &m.Head[i].Weights[j]
			if w.Tensor, err = read("head/" + m.Head[i].Name + "/" + w.Name); err != nil {
				return nil, err
			}
		}
	}
	return m, errors.WithMessagef(m.Validate(), "%q", path)
}

// Embedded returns the offset and size of the model container appended to the executable at
// path; ok is false when it carries none.
func Embedded(path string) (offset, size int64, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false, errors.Wrapf(err, "opening %q", path)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() < int64(trailerLen) {
		return 0, 0, false, err
	}
	t := make([]byte, trailerLen)
	if _, err := f.ReadAt(t, st.Size()-int64(trailerLen)); err != nil {
		return 0, 0, false, errors.Wrapf(err, "reading %q", path)
	}
	if string(t[16:]) != ExecMagic {
		return 0, 0, false, nil
	}
	offset, size = int64(binary.LittleEndian.Uint64(t)), int64(binary.LittleEndian.Uint64(t[8:]))
	if offset < 0 || size < 0 || offset+size != st.Size()-int64(trailerLen) {
		return 0, 0, false, errors.Errorf("%q: the model appended to it is damaged (offset %d + size %d, file %d bytes): export it again", path, offset, size, st.Size())
	}
	return offset, size, true, nil
}

// WriteExecutable writes out: a copy of the runner executable (the flowers binary, which runs
// an appended model instead of its commands: RunEmbedded) with m appended. The result needs
// nothing beside it. Any model already appended to runner is left out. out is written
// atomically with mode 0755.
func WriteExecutable(runner, out string, m *Model) error {
	src, err := os.Open(runner)
	if err != nil {
		return errors.Wrapf(err, "opening the runner executable %q", runner)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return errors.Wrapf(err, "reading %q", runner)
	}
	runnerSize := st.Size()
	if off, _, ok, err := Embedded(runner); err != nil {
		return err
	} else if ok {
		runnerSize = off
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".model-*")
	if err != nil {
		return errors.Wrapf(err, "creating a temporary file beside %q", out)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := SaveModel(tmp.Name(), m); err != nil {
		return err
	}
	payload, err := os.Open(tmp.Name())
	if err != nil {
		return err
	}
	defer payload.Close()
	pst, err := payload.Stat()
	if err != nil {
		return err
	}
	return atomicfile.WriteDirect(out, 0o755, func(f *os.File) error {
		if _, err := io.Copy(f, io.NewSectionReader(src, 0, runnerSize)); err != nil {
			return errors.Wrapf(err, "copying %q", runner)
		}
		if _, err := io.Copy(f, payload); err != nil {
			return err
		}
		t := binary.LittleEndian.AppendUint64(nil, uint64(runnerSize))
		t = binary.LittleEndian.AppendUint64(t, uint64(pst.Size()))
		_, err := f.Write(append(t, ExecMagic...))
		return err
	})
}

// ReadExecutable returns the model appended to the executable at path, or nil when it has
// none.
func ReadExecutable(path string) (*Model, error) {
	off, size, ok, err := Embedded(path)
	if err != nil || !ok {
		return nil, err
	}
	return LoadModel(path, off, size)
}

// Describe is the model's metadata as indented JSON: classes, image size, pooling, the head's
// layers and the shapes of their weights.
func Describe(m *Model) ([]byte, error) {
	return json.MarshalIndent(payloadMeta{Format: payloadFormat, Classes: m.Classes, ImageSize: m.ImageSize,
		Pooling: m.Pooling.String(), Head: m.Head, Source: m.Source}, "", "  ")
}
