// Package containertest writes deliberately malformed container files for tests: any header
// JSON with valid checksums, so that only the readers' range checks stand between a crafted
// header and a read.
package containertest

import (
	"encoding/binary"
	"hash/crc32"
	"os"
)

// Craft writes a container of the given magic with payload and the header JSON verbatim.
func Craft(path, magic string, payload []byte, header string) error {
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(payload)))
	b = append(b, payload...)
	b = append(b, header...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(header)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum([]byte(header), castagnoli))
	b = append(b, magic...)
	return os.WriteFile(path, b, 0o644)
}
