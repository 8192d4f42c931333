package weights

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/pkg/errors"
)

// cacheMagic starts every converted-weights cache file; bump the digit when the format changes.
const cacheMagic = "FLWGHT03"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Load reads the Keras weights file at path through a converted cache in cacheDir:
// the first call parses the HDF5 file and writes cacheDir/weights-<sha256>.bin (keyed
// by the source file's SHA-256), later calls read that simple binary form instead.
// A cache file that fails its checksum or does not parse is reported on stderr and
// rebuilt. The cache keeps the Integrity that ReadH5 found (a damaged file is never cached).
// With cacheDir "" it is ReadH5.
func Load(path, cacheDir string) (*File, error) {
	if cacheDir == "" {
		return ReadH5(path)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, err
	}
	cachePath := CachePath(cacheDir, sum)
	if _, err := os.Stat(cachePath); err == nil {
		f, err := readCache(cachePath, sum)
		if err == nil {
			return f, nil
		}
		fmt.Fprintf(os.Stderr, "weights cache %s is unusable (%v): rebuilding it from %s\n", cachePath, err, path)
	}
	f, err := ReadH5(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, errors.Wrapf(err, "creating weights cache folder %q", cacheDir)
	}
	if err := writeCache(cachePath, sum, f); err != nil {
		return nil, err
	}
	return f, nil
}

// CachePath returns the converted-cache file for a source file with the given SHA-256 (hex).
func CachePath(cacheDir, sha256Hex string) string {
	return filepath.Join(cacheDir, "weights-"+sha256Hex+".bin")
}

// FileSHA256 returns the hex SHA-256 of a file (the cache key).
func FileSHA256(path string) (string, error) { return fileSHA256(path) }

func fileSHA256(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", errors.Wrapf(err, "opening weights file %q", path)
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", errors.Wrapf(err, "reading weights file %q", path)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeCache writes: magic, source sha256 (32 bytes), payload length (u64), payload,
// CRC-32C of the payload (u32). Payload: u32 Format, the Integrity (u32 verified, string how)
// ReadH5 found, u32 layer count; per layer its name,
// Keras 3 key, u32 weight count; per weight its name, u32 rank, u64 dims, float32 values.
// Strings are u32 length + bytes; all little-endian.
func writeCache(path, sum string, f *File) error {
	var p bytes.Buffer
	putU32 := func(v uint32) { binary.Write(&p, binary.LittleEndian, v) }
	putStr := func(s string) { putU32(uint32(len(s))); p.WriteString(s) }
	putU32(uint32(f.Format))
	verified := uint32(0)
	if f.Integrity.Verified {
		verified = 1
	}
	putU32(verified)
	putStr(f.Integrity.How)
	putU32(uint32(len(f.Layers)))
	for _, l := range f.Layers {
		putStr(l.Name)
		putStr(l.Key)
		putU32(uint32(len(l.Weights)))
		for _, w := range l.Weights {
			putStr(w.Name)
			putU32(uint32(len(w.Shape)))
			for _, d := range w.Shape {
				binary.Write(&p, binary.LittleEndian, uint64(d))
			}
			buf := make([]byte, 4*len(w.Data))
			for i, v := range w.Data {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
			}
			p.Write(buf)
		}
	}
	key, _ := hex.DecodeString(sum)
	out := make([]byte, 0, 8+32+8+p.Len()+4)
	out = append(out, cacheMagic...)
	out = append(out, key...)
	out = binary.LittleEndian.AppendUint64(out, uint64(p.Len()))
	out = append(out, p.Bytes()...)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(p.Bytes(), castagnoli))
	return atomicfile.WriteFile(path, out, 0o644)
}

func readCache(path, sum string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, _ := hex.DecodeString(sum)
	if len(b) < 8+32+8+4 || string(b[:8]) != cacheMagic || !bytes.Equal(b[8:40], key) {
		return nil, errors.New("wrong header or source checksum")
	}
	n := binary.LittleEndian.Uint64(b[40:])
	if n != uint64(len(b)-52) {
		return nil, errors.Errorf("payload of %d bytes, file holds %d", n, len(b)-52)
	}
	payload := b[48 : 48+n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[48+n:]) {
		return nil, errors.New("checksum mismatch")
	}
	d := &cacheDecoder{b: payload}
	f := &File{Format: Format(d.u32())}
	if f.Format != FormatKeras2 && f.Format != FormatKeras3 {
		d.fail()
	}
	f.Integrity.Verified = d.u32() == 1
	f.Integrity.How = d.str()
	f.Layers = make([]Layer, d.count(12))
	for i := range f.Layers {
		l := &f.Layers[i]
		l.Name = d.str()
		l.Key = d.str()
		l.Weights = make([]Tensor, d.count(12))
		for j := range l.Weights {
			w := &l.Weights[j]
			w.Name = d.str()
			w.Shape = make([]int, d.count(8))
			elems := uint64(1)
			for k := range w.Shape {
				v := d.u64()
				if v > uint64(len(payload)) {
					d.fail()
				}
				w.Shape[k] = int(v)
				elems *= v
			}
			if elems > uint64(len(payload)) {
				d.fail()
				elems = 0
			}
			raw := d.bytes(int(4 * elems))
			if d.err != nil {
				break
			}
			w.Data = make([]float32, elems)
			for k := range w.Data {
				w.Data[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
			}
		}
		if d.err != nil {
			break
		}
	}
	if d.err == nil && d.pos != len(payload) {
		d.fail()
	}
	if d.err != nil {
		return nil, d.err
	}
	return f, Validate(f)
}

type cacheDecoder struct {
	b   []byte
	pos int
	err error
}

func (d *cacheDecoder) fail() {
	if d.err == nil {
		d.err = errors.Errorf("corrupt payload at byte %d", d.pos)
	}
}
func (d *cacheDecoder) bytes(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b)-d.pos {
		d.fail()
		return nil
	}
	d.pos += n
	return d.b[d.pos-n : d.pos]
}
func (d *cacheDecoder) u32() uint32 {
	if b := d.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}
func (d *cacheDecoder) u64() uint64 {
	if b := d.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// count reads a u32 count, capped by the bytes left (each item needs minSize bytes).
func (d *cacheDecoder) count(minSize int) int {
	n := int(d.u32())
	if n > (len(d.b)-d.pos)/minSize+1 {
		d.fail()
		return 0
	}
	return n
}
func (d *cacheDecoder) str() string { return string(d.bytes(int(d.u32()))) }
