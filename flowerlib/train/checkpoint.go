package train

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"

	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/pkg/errors"
)

// Checkpoint files: "ckpt-<step>.flw" in the run directory. Layout:
//
//	"FLWCKPT1"  uint64 header length  header JSON  tensor data (float32 little-endian, in header order)
//	uint32 CRC-32C of everything before it
//
// A checkpoint is written to a temporary file, synced, renamed into place and the directory
// synced; only then are older checkpoints removed (the previous one is kept), so a crash at
// any moment leaves at least one complete checkpoint. Reading verifies the CRC: a torn or
// corrupt file is reported and the next older checkpoint is used.
const (
	ckptMagic  = "FLWCKPT1"
	ckptPrefix = "ckpt-"
	ckptExt    = ".flw"
	// KeepCheckpoints is how many complete checkpoints stay in the run directory.
	KeepCheckpoints = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// TensorEntry describes one array stored in a checkpoint.
type TensorEntry struct {
	Name string `json:"name"`
	Dims []int  `json:"dims"`
}

type ckptHeader struct {
	State   json.RawMessage `json:"state"`
	Tensors []TensorEntry   `json:"tensors"`
}

// NamedArray is a float32 array with a name and dims, as stored in checkpoints.
type NamedArray struct {
	Name string
	Dims []int
	Data []float32
}

// WriteCheckpointFile writes state (any JSON value) and arrays to path atomically.
func WriteCheckpointFile(path string, state any, arrays []NamedArray) (err error) {
	stateJSON, err := json.Marshal(state)
	if err != nil {
		return errors.Wrapf(err, "encoding checkpoint state for %q", path)
	}
	hdr := ckptHeader{State: stateJSON}
	for _, a := range arrays {
		if n := numel(a.Dims); n != len(a.Data) {
			return errors.Errorf("checkpoint %q: array %s has %d values for dims %v", path, a.Name, len(a.Data), a.Dims)
		}
		hdr.Tensors = append(hdr.Tensors, TensorEntry{Name: a.Name, Dims: a.Dims})
	}
	hdrJSON, err := json.Marshal(hdr)
	if err != nil {
		return errors.Wrapf(err, "encoding checkpoint header for %q", path)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		crc := crc32.New(castagnoli)
		mw := io.MultiWriter(w, crc)
		var lenBuf [8]byte
		binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdrJSON)))
		for _, b := range [][]byte{[]byte(ckptMagic), lenBuf[:], hdrJSON} {
			if _, err := mw.Write(b); err != nil {
				return err
			}
		}
		for _, a := range arrays {
			if _, err := mw.Write(float32Bytes(a.Data)); err != nil {
				return err
			}
		}
		var sum [4]byte
		binary.LittleEndian.PutUint32(sum[:], crc.Sum32())
		_, err := w.Write(sum[:])
		return err
	})
}

// ReadCheckpointFile reads a checkpoint written by WriteCheckpointFile, decoding its state into
// state (a pointer) and returning its arrays. It fails on a truncated or corrupt file.
func ReadCheckpointFile(path string, state any) ([]NamedArray, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrapf(err, "opening checkpoint")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, errors.Wrapf(err, "checkpoint %q", path)
	}
	crc := crc32.New(castagnoli)
	r := io.TeeReader(bufio.NewReaderSize(f, 1<<20), crc)
	corrupt := func(format string, args ...any) error {
		return errors.Errorf("checkpoint %q is corrupt or incomplete (%s): delete it to resume from the previous one",
			path, fmt.Sprintf(format, args...))
	}
	head := make([]byte, len(ckptMagic)+8)
	if _, err := io.ReadFull(r, head); err != nil || string(head[:len(ckptMagic)]) != ckptMagic {
		return nil, corrupt("bad magic")
	}
	hdrLen := binary.LittleEndian.Uint64(head[len(ckptMagic):])
	if hdrLen > uint64(st.Size()) {
		return nil, corrupt("header length %d beyond file size %d", hdrLen, st.Size())
	}
	hdrJSON := make([]byte, hdrLen)
	if _, err := io.ReadFull(r, hdrJSON); err != nil {
		return nil, corrupt("short header")
	}
	var hdr ckptHeader
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return nil, corrupt("header: %v", err)
	}
	total := int64(len(head)) + int64(hdrLen) + 4
	for _, t := range hdr.Tensors {
		total += 4 * int64(numel(t.Dims))
	}
	if total != st.Size() {
		return nil, corrupt("size %d, want %d", st.Size(), total)
	}
	arrays := make([]NamedArray, len(hdr.Tensors))
	for i, t := range hdr.Tensors {
		data := make([]float32, numel(t.Dims))
		if _, err := io.ReadFull(r, float32Bytes(data)); err != nil {
			return nil, corrupt("reading %s: %v", t.Name, err)
		}
		arrays[i] = NamedArray{Name: t.Name, Dims: t.Dims, Data: data}
	}
	want := crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil || binary.LittleEndian.Uint32(sum[:]) != want {
		return nil, corrupt("checksum mismatch")
	}
	if state != nil {
		if err := json.Unmarshal(hdr.State, state); err != nil {
			return nil, corrupt("state: %v", err)
		}
	}
	return arrays, nil
}

// checkpointPath returns the file name of the checkpoint at a step.
func checkpointPath(runDir string, step int64) string {
	return filepath.Join(runDir, fmt.Sprintf("%s%09d%s", ckptPrefix, step, ckptExt))
}

// ListCheckpoints returns the checkpoint files in runDir, newest (highest step) first.
// Temporary files of interrupted writes are not listed.
func ListCheckpoints(runDir string) ([]string, error) {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, errors.Wrapf(err, "listing checkpoints in %q", runDir)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ckptPrefix) && strings.HasSuffix(n, ckptExt) {
			names = append(names, n)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names))) // zero-padded steps sort numerically
	for i, n := range names {
		names[i] = filepath.Join(runDir, n)
	}
	return names, nil
}

// removeOldCheckpoints keeps the newest `keep` checkpoints and removes leftovers of
// interrupted writes.
func removeOldCheckpoints(runDir string, keep int) {
	names, _ := ListCheckpoints(runDir)
	for i, n := range names {
		if i >= keep {
			os.Remove(n)
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(runDir, "."+ckptPrefix+"*.tmp-*"))
	for _, t := range tmps {
		os.Remove(t)
	}
}

func numel(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// float32Bytes views a float32 slice as its little-endian bytes (the machines this runs on are
// little-endian: amd64, arm64).
func float32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}
