package main

import (
	"fmt"
	"os"

	"github.com/flowerlib/flowers/flowerlib/defaults"

	"github.com/flowerlib/flowers/flowerlib/download"
	"github.com/flowerlib/flowers/flowerlib/labels"
)

func init() {
	register("labels", "labels table from class folders: first rows, per-class counts, skip report (generate_csv)", runLabels)
}

func runLabels(args []string) error {
	fs := newFlags("labels", "[-data DIR] [-out FILE.csv [-force]] [-seed N] [-verify] [-strict] [-cache DIR]", "")
	data := fs.String("data", "", "dataset folder whose sub-folders are the classes (default $"+download.DataEnv+", else download flower_photos into -cache)")
	out := fs.String("out", "", "write the table as CSV (columns images,labels) to FILE.csv (an existing file only if flowers wrote it, or with -force)")
	seed := fs.Int64("seed", labels.DefaultSeed, "shuffle seed (negative: keep the sorted order)")
	verify := fs.Bool("verify", false, "decode every image fully (slower; catches truncated files)")
	strict := fs.Bool("strict", false, "unusable images are errors, not skips")
	cache := fs.String("cache", "", "cache folder for the downloaded dataset (default "+defaults.CacheDir()+")")
	force := fs.forceFlag()
	if err := fs.parse(args); err != nil {
		return err
	}
	if *seed == 0 {
		return usagef("-seed 0 is reserved for the default; use another value")
	}
	if *out != "" {
		if err := checkNotInside("out", *out, *data); err != nil {
			return err
		}
		if err := checkOutput("out", *out, labelsCSV, *force, nil); err != nil {
			return err
		}
	}
	root, err := download.ResolveData(*data, *cache, os.Stderr)
	if err != nil {
		return err
	}
	if *out != "" && *data == "" {
		if err := checkNotInside("out", *out, root); err != nil {
			return err
		}
	}
	opts := labels.Options{Seed: *seed, Verify: *verify, Strict: *strict}
	if *verify {
		opts.Progress = os.Stderr
	}
	tab, rep, err := labels.Scan(root, opts)
	if err != nil {
		if rep != nil && len(rep.Skipped) > 0 {
			fmt.Fprint(os.Stderr, rep.Summary())
		}
		return err
	}
	fmt.Print(tab.Head(5))
	fmt.Println()
	fmt.Print(tab.CountsString())
	fmt.Println()
	fmt.Print(rep.Summary())
	if *out != "" {
		if err := tab.SaveCSV(*out); err != nil {
			return err
		}
		fmt.Printf("wrote %s\n", labels.Quote(*out))
	}
	fmt.Printf("labels: %s in %s from %s, %d skipped, seed %d\n",
		count(len(tab.Rows), "image"), count(len(tab.Classes), "class"), labels.Quote(root), len(rep.Skipped), *seed)
	return nil
}
