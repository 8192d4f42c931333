package labels

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzReadCSV parses arbitrary labels CSV data: no panic, and whatever parses survives a
// SaveCSV/LoadCSV round trip byte-exactly (names with quotes, commas, newlines, invalid
// UTF-8).
//
//	GOEXPERIMENT=simd go test -run '^$' -fuzz FuzzReadCSV -fuzztime 2m ./flowerlib/labels/
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"images,labels\n\"a.jpg\",\"daisy\"\n",
		",labels,images\n0,roses,a.jpg\n1,daisy,\"b, \"\"c\"\".jpg\"\n",
		"images,labels\n\"bad\xffname.jpg\",\"x\"\n",
		"\ufeffimages,labels\r\nx.jpg,y\r\n",
		"images,labels\n\"multi\nline.jpg\",z\n",
		"images\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ReadCSV(bytes.NewReader(data))
		if err != nil {
			return
		}
		path := filepath.Join(t.TempDir(), "l.csv")
		if err := tab.SaveCSV(path); err != nil {
			t.Fatal(err)
		}
		back, err := LoadCSV(path)
		if err != nil {
			t.Fatalf("reloading what SaveCSV wrote: %v", err)
		}
		if !slices.Equal(back.Rows, tab.Rows) || !slices.Equal(back.Classes, tab.Classes) {
			t.Fatalf("round trip changed the table:\n%q\n%q", tab.Rows, back.Rows)
		}
	})
}
