package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/npy"
	"github.com/flowerlib/flowers/flowerlib/weights"
)

// No command replaces a file it did not create. Each output has a kind; before any work, an
// existing file at an output path is replaced only when it is of that kind and, where the
// format can say so, was written by flowers: a labels CSV quotes every field (pandas' to_csv
// does not), a features row list starts with its "row" column, a .npy counts as flowers' when
// flowers' row list of as many rows lies beside it (numpy refuses extra header keys, so the
// .npy itself cannot carry a mark), weights carry flowers' root attributes, and pictures
// flowers' generator mark. Anything else needs -force.

// outputKind is a kind of file a command writes.
type outputKind struct {
	what string   // in messages: "a labels CSV"
	exts []string // the extensions the output may have (lower case); nil: any
	// ours reports whether the existing regular file at path is of this kind, written by
	// flowers.
	ours func(path string) bool
}

var (
	labelsCSV = outputKind{"a labels CSV", []string{".csv"}, isLabelsCSV}
	rowsCSV   = outputKind{"a features row list", []string{".csv"}, func(p string) bool { _, ok := rowListRows(p); return ok }}
	// The .npy of features: see isFeaturesNPY.
	featuresNPY = outputKind{"a features .npy with its row list", []string{".npy"}, isFeaturesNPY}
	weightsH5   = outputKind{"a weights file", []string{".h5"}, isFlowersH5}
	picture     = outputKind{"a picture", []string{".png", ".svg"}, isFlowersFigure}
	// A pprof file cannot carry a mark: any CPU profile may be replaced.
	profile = outputKind{"a pprof profile", nil, isProfile}
)

// forceFlag adds -force: replace existing outputs that flowers did not write.
func (fs *flagSet) forceFlag() *bool {
	return fs.Bool("force", false, "replace an existing output file even when flowers did not write it")
}

// checkOutput refuses, before any long work, an output that is one of the inputs (even with
// force), an existing file flowers did not write as that kind (unless force), or one whose
// folder cannot be written.
func checkOutput(flagName, out string, kind outputKind, force bool, inputs []string) error {
	if kind.exts != nil && !slices.Contains(kind.exts, strings.ToLower(filepath.Ext(out))) {
		return usagef("-%s %q: the output must be a %s file", flagName, out, strings.Join(kind.exts, " or "))
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return usagef("-%s %q: %v", flagName, out, err)
	}
	outInfo, outErr := os.Stat(abs)
	for _, in := range inputs {
		inAbs, err := filepath.Abs(in)
		if err != nil {
			continue
		}
		same := inAbs == abs
		if !same && outErr == nil {
			if inInfo, err := os.Stat(inAbs); err == nil {
				same = os.SameFile(inInfo, outInfo)
			}
		}
		if same {
			return usagef("-%s %q is also an input: it would be overwritten; write the output elsewhere", flagName, out)
		}
	}
	if outErr == nil {
		switch {
		case outInfo.IsDir():
			return usagef("-%s %q is a folder: give a file name", flagName, out)
		case !outInfo.Mode().IsRegular():
			return usagef("-%s %q exists and is not a regular file: write elsewhere", flagName, out)
		case !force && !kind.ours(abs):
			return usagef("-%s %q exists and is not %s written by flowers: flowers replaces only files it wrote; write elsewhere, or pass -force to replace it",
				flagName, out, kind.what)
		}
	}
	dir := filepath.Dir(abs)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("-%s %q: its folder %q does not exist", flagName, out, dir)
	}
	probe, err := os.CreateTemp(dir, ".flowers-write-check-*")
	if err != nil {
		return fmt.Errorf("-%s %q: cannot write in %q: %w", flagName, out, dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// writeFileAtomic writes data to path through a temporary file in the same folder, synced and
// renamed into place: a reader never sees half a file, and an interrupted write leaves the
// old one.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".flowers-tmp-*")
	if err != nil {
		return fmt.Errorf("writing %q: %w", path, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %q: %w", path, err)
	}
	return nil
}

// checkNotInside refuses an output inside the dataset folder: the next scan would meet it as
// a stray file, and it could replace a photo.
func checkNotInside(flagName, out, data string) error {
	if data == "" {
		return nil
	}
	rel, err := filepath.Rel(mustAbs(data), mustAbs(out))
	if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return usagef("-%s %q is inside the dataset folder %q: write it elsewhere (the scan would meet it as a stray file, or it would replace a photo)",
			flagName, out, data)
	}
	return nil
}

// firstLines returns up to n lines of the start of a file (at most 64 KiB read).
func firstLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	var out []string
	for len(out) < n && sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// isLabelsCSV: the header labels.Table.SaveCSV writes, and its rows quoted field by field.
func isLabelsCSV(path string) bool {
	l := firstLines(path, 2)
	return len(l) > 0 && l[0] == "images,labels" && (len(l) == 1 || strings.HasPrefix(l[1], `"`))
}

// rowListHeader is the header of the features row list, without and with labels.
var rowListHeader = [][]string{{"row", "images"}, {"row", "images", "labels"}}

// rowListRows returns the number of rows of a features row list (writeRowsCSV), and whether
// path is one.
func rowListRows(path string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil || !slices.ContainsFunc(rowListHeader, func(h []string) bool { return slices.Equal(h, head) }) {
		return 0, false
	}
	n := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return n, true
		}
		if err != nil || len(rec) != len(head) || rec[0] != fmt.Sprint(n) {
			return 0, false
		}
		n++
	}
}

// rowListOf is the row list written next to a features .npy.
func rowListOf(npyPath string) string {
	return strings.TrimSuffix(npyPath, filepath.Ext(npyPath)) + ".csv"
}

// isFeaturesNPY: a float32 .npy whose row list (written with it) lies beside it and lists as
// many rows.
func isFeaturesNPY(path string) bool {
	descr, shape, err := npy.Header(path)
	if err != nil || descr != "<f4" || len(shape) == 0 {
		return false
	}
	n, ok := rowListRows(rowListOf(path))
	return ok && n == shape[0]
}

// isFlowersH5: a weights file with flowers' checksum or note root attribute.
func isFlowersH5(path string) bool {
	attrs, err := weights.RootAttrs(path)
	if err != nil {
		return false
	}
	_, sum := attrs[weights.ChecksumAttr]
	_, note := attrs[weights.NoteAttr]
	return sum || note
}

// Pictures carry flowers' mark: a PNG tEXt chunk "Software" and an SVG generator comment
// (both the standard places for it), added by markFigure.
const (
	figureSoftware = "flowers"
	svgMark        = "<!-- Generator: flowers -->\n"
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

func pngTextChunk(key, value string) []byte {
	data := append(append([]byte(key), 0), value...)
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, "tEXt"...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// markFigure returns the picture with flowers' mark: the PNG's "Software" text chunk right
// after its header chunk, or the SVG's generator comment before its root element.
func markFigure(data []byte, svg bool) []byte {
	if svg {
		return append([]byte(svgMark), data...)
	}
	const ihdrEnd = 8 + 4 + 4 + 13 + 4 // signature, IHDR length, type, data, CRC
	if len(data) < ihdrEnd || !bytes.HasPrefix(data, pngSignature) {
		return data
	}
	out := append([]byte{}, data[:ihdrEnd]...)
	out = append(out, pngTextChunk("Software", figureSoftware)...)
	return append(out, data[ihdrEnd:]...)
}

// isFlowersFigure: a PNG or SVG that markFigure marked.
func isFlowersFigure(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 128)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	mark := pngTextChunk("Software", figureSoftware)
	return bytes.HasPrefix(head, []byte(svgMark)) ||
		(bytes.HasPrefix(head, pngSignature) && len(head) >= 33+len(mark) && bytes.Equal(head[33:33+len(mark)], mark))
}

// isProfile: what runtime/pprof writes, a gzip stream of a profile.proto: its first KiB must
// read as fields of a Profile message (numbers 1 to 14, varint or length-delimited).
func isProfile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return false
	}
	buf := make([]byte, 1024)
	n, _ := io.ReadFull(z, buf)
	buf = buf[:n]
	fields := 0
	for len(buf) > 0 {
		tag, k := binary.Uvarint(buf)
		if k <= 0 || tag>>3 < 1 || tag>>3 > 14 || (tag&7 != 0 && tag&7 != 2) {
			return false
		}
		buf = buf[k:]
		v, k := binary.Uvarint(buf)
		if k <= 0 {
			return fields >= 2 // cut by the 1 KiB read
		}
		buf = buf[k:]
		if tag&7 == 2 {
			buf = buf[min(uint64(len(buf)), v):]
		}
		fields++
	}
	return fields >= 2
}

// checkFigureOutput refuses a figure file that is not .png or .svg, cannot be written, or
// exists and is not a picture flowers wrote (unless force).
func checkFigureOutput(flagName, path string, force bool) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".png" && ext != ".svg" {
		return usagef("-%s %q: the picture must be a .png or .svg file", flagName, path)
	}
	return checkOutput(flagName, path, picture, force, nil)
}
