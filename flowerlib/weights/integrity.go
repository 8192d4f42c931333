package weights

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/hdf5"
	"github.com/pkg/errors"
)

// ChecksumAttr is the root attribute in which WriteH5 and WriteKeras3 record the SHA-256 of
// the tensors (ContentSHA256), so that ReadH5 can tell a damaged file from a good one. Keras
// and h5py ignore it.
const ChecksumAttr = "flowers_sha256"

// Integrity says how the content of a weights file was verified when it was read: against the
// md5 Keras publishes for its files, against the checksum flowers wrote into it, or not at all
// (then How says why, and a model should check the values' statistics, as
// resnet50.CheckStatistics does).
type Integrity struct {
	Verified bool   `json:"verified"`
	How      string `json:"how"`
}

// publishedMD5 names the files Keras publishes, by the md5 Keras checks them with.
var publishedMD5 = map[string]string{
	NoTopMD5: "Keras' published " + fileName(NoTopURL),
	TopMD5:   "Keras' published " + fileName(TopURL),
}

func fileName(url string) string { return url[strings.LastIndexByte(url, '/')+1:] }

// ContentSHA256 returns the hex SHA-256 of f's tensors — layer names and keys, weight names,
// shapes and float32 values — independent of the layer order a layout reads them in (layers
// are taken by name).
func ContentSHA256(f *File) string {
	h := sha256.New()
	put := func(v uint64) { h.Write(binary.LittleEndian.AppendUint64(nil, v)) }
	str := func(s string) { put(uint64(len(s))); io.WriteString(h, s) }
	put(uint64(f.Format))
	layers := make([]*Layer, len(f.Layers))
	for i := range f.Layers {
		layers[i] = &f.Layers[i]
	}
	slices.SortFunc(layers, func(a, b *Layer) int { return strings.Compare(a.Name, b.Name) })
	buf := make([]byte, 0, 1<<16)
	for _, l := range layers {
		str(l.Name)
		str(l.Key)
		put(uint64(len(l.Weights)))
		for _, w := range l.Weights {
			str(w.Name)
			put(uint64(len(w.Shape)))
			for _, d := range w.Shape {
				put(uint64(d))
			}
			for i := 0; i < len(w.Data); {
				buf = buf[:0]
				for ; i < len(w.Data) && len(buf) < cap(buf); i++ {
					buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(w.Data[i]))
				}
				h.Write(buf)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// setAttrs sets the root attributes every file flowers writes has: the extra ones, then the
// checksum of f's tensors.
func setAttrs(root *hdf5.WGroup, f *File, extra []Attr) {
	for _, a := range extra {
		if a.Name != ChecksumAttr {
			root.SetAttrString(a.Name, a.Value)
		}
	}
	root.SetAttrString(ChecksumAttr, ContentSHA256(f))
}

// verify returns how the content f read from the file at path (whose root group is root) is
// verified: by the checksum flowers wrote into it (a mismatch is an error: the file is
// damaged), else by the md5 Keras published for it, else not.
func verify(path string, root *hdf5.Group, f *File) (Integrity, error) {
	if a := root.Attr(ChecksumAttr); a != nil {
		s, err := a.Strings()
		if err != nil || len(s) != 1 {
			return Integrity{}, errors.Errorf("weights file %q: its %s attribute cannot be read (%v)", path, ChecksumAttr, err)
		}
		if got := ContentSHA256(f); got != s[0] {
			return Integrity{}, errors.Errorf("weights file %q is damaged: its tensors do not match the checksum flowers wrote into it "+
				"(%s %.12s…, the tensors give %.12s…): write it again, or copy it again from where it came from", path, ChecksumAttr, s[0], got)
		}
		return Integrity{Verified: true, How: "the checksum flowers wrote into it"}, nil
	}
	sum, err := fileMD5(path)
	if err != nil {
		return Integrity{}, err
	}
	if name, ok := publishedMD5[sum]; ok {
		return Integrity{Verified: true, How: name + " (md5 " + sum + ")"}, nil
	}
	return Integrity{How: "neither a file Keras published (md5) nor one flowers wrote (no " + ChecksumAttr + " attribute)"}, nil
}

func fileMD5(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", errors.Wrapf(err, "opening weights file %q", path)
	}
	defer fh.Close()
	h := md5.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", errors.Wrapf(err, "reading weights file %q", path)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
