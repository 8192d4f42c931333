//go:build ignore

// gen.go builds photos/ from the 200-photo sample of flower_photos: the first PerClass
// photos of each class (by file name), shrunk to at most MaxSide pixels, re-encoded as
// JPEG, with the dataset's licence header and each photo's CC-BY credit line.
//
//	go run gen.go [-src ../../../shared/data/flower_photos_small]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/plots"
)

const (
	PerClass = 10
	MaxSide  = 320
	Quality  = 82
)

func main() {
	src := flag.String("src", "../../../shared/data/flower_photos_small", "the flower_photos folder to pick from")
	flag.Parse()
	lic, err := os.ReadFile(filepath.Join(*src, "LICENSE.txt"))
	if err != nil {
		log.Fatal(err)
	}
	var header []string
	credits := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(lic)))
	for sc.Scan() {
		l := sc.Text()
		if name, _, ok := strings.Cut(l, " "); ok && strings.Contains(name, "/") && strings.HasSuffix(name, ".jpg") {
			credits[name] = l
		} else if len(credits) == 0 {
			header = append(header, l)
		}
	}
	if err := os.RemoveAll("photos"); err != nil {
		log.Fatal(err)
	}
	var out []string
	classes, _ := filepath.Glob(filepath.Join(*src, "*"))
	sort.Strings(classes)
	for _, dir := range classes {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		class := filepath.Base(dir)
		files, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
		sort.Strings(files)
		if len(files) < PerClass {
			log.Fatalf("%s: %d photos, want %d", dir, len(files), PerClass)
		}
		if err := os.MkdirAll(filepath.Join("photos", class), 0o755); err != nil {
			log.Fatal(err)
		}
		for _, f := range files[:PerClass] {
			rgb, _, err := images.ReadFile(f)
			if err != nil {
				log.Fatal(err)
			}
			img := image.NewRGBA(image.Rect(0, 0, rgb.Width, rgb.Height))
			for i, j := 0, 0; i+2 < len(rgb.Pix); i, j = i+3, j+4 {
				img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = rgb.Pix[i], rgb.Pix[i+1], rgb.Pix[i+2], 255
			}
			name := class + "/" + filepath.Base(f)
			credit, ok := credits[name]
			if !ok {
				log.Fatalf("%s has no credit line in LICENSE.txt", name)
			}
			w, err := os.Create(filepath.Join("photos", name))
			if err != nil {
				log.Fatal(err)
			}
			if err := jpeg.Encode(w, plots.Shrink(img, MaxSide), &jpeg.Options{Quality: Quality}); err != nil {
				log.Fatal(err)
			}
			if err := w.Close(); err != nil {
				log.Fatal(err)
			}
			out = append(out, credit)
		}
	}
	text := strings.Join(header, "\n") + "\n" + strings.Join(out, "\n") + "\n"
	text = strings.Replace(text, "All images in this archive", fmt.Sprintf("All images in this folder (%d photos of flower_photos, shrunk to at most %d pixels)", len(out), MaxSide), 1)
	if err := os.WriteFile(filepath.Join("photos", "LICENSE.txt"), []byte(text), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d photos written to photos/\n", len(out))
}
