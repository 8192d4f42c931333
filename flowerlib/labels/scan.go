package labels

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/pkg/errors"
	"github.com/schollz/progressbar/v3"
)

// Options configures Scan. The zero value scans with seed 42, checking each image's
// header (format by content, size limit) but not decoding it.
type Options struct {
	// Seed shuffles the rows; 0 means DefaultSeed (42). A negative seed keeps the rows
	// sorted by path.
	Seed int64
	// Verify decodes every image completely (about 5 ms per photo per core): it catches
	// truncated files, which a header check cannot see. Without it they are skipped later,
	// when images.Batches decodes them.
	Verify bool
	// Strict makes unusable image content an error instead of a reported skip.
	Strict bool
	// Progress, when not nil, receives a progress bar while images are checked.
	Progress io.Writer
}

// Scan lists the images of a dataset root whose sub-folders are the classes (the article's
// generate_csv) and shuffles them with opts.Seed. Files that cannot be used are skipped
// and reported (see Report.Summary); it returns an error when the folder cannot be used:
// no class folders (with a "did you mean" when the classes are one level down), a class
// folder with sub-folders, a class with no usable image, or a file that cannot be read.
//
// Directory symlinks are not followed (no infinite walks); file symlinks are. Names are
// kept byte-exact. Hidden entries (.ipynb_checkpoints, .git, .DS_Store, ._x.jpg) are
// never classes or images.
func Scan(root string, opts Options) (*Table, *Report, error) {
	seed := opts.Seed
	if seed == 0 {
		seed = DefaultSeed
	}
	if err := checkRoot(root); err != nil {
		return nil, nil, err
	}
	rep := &Report{Root: root}
	classes, err := scanRoot(root, rep)
	if err != nil {
		return nil, rep, err
	}
	files, found, err := scanClasses(root, classes, rep)
	if err != nil {
		return nil, rep, err
	}
	t := &Table{Root: root, Seed: seed}
	if err := checkFiles(t, files, opts, rep); err != nil {
		return nil, rep, err
	}
	// docs/BAD_INPUTS.md row 6: classes without any usable image.
	usable := map[string]int{}
	for _, r := range t.Rows {
		usable[r.Label]++
	}
	var problems []string
	for _, class := range classes {
		if usable[class] == 0 {
			problems = append(problems, fmt.Sprintf("class %s has no usable image (%d image-named files, all skipped; see the report): add images or remove the folder",
				Quote(class), found[class]))
		}
	}
	if len(problems) > 0 {
		return nil, rep, errors.New(strings.Join(problems, "\n"))
	}
	sort.SliceStable(rep.Skipped, func(i, j int) bool { return rep.Skipped[i].Path < rep.Skipped[j].Path })
	t.Classes = classes // ReadDir order: sorted by name
	if seed >= 0 {
		Shuffle(t.Rows, seed)
	}
	return t, rep, nil
}

// checkRoot fails with a hint when root is missing or is a file (an archive, say).
func checkRoot(root string) error {
	st, err := os.Stat(root)
	if err != nil {
		if os.IsNotExist(err) {
			return errors.Errorf("dataset folder %s does not exist: pass the folder whose sub-folders are the classes (e.g. flower_photos)", Quote(root))
		}
		return errors.Wrapf(err, "dataset folder %s", Quote(root))
	}
	if !st.IsDir() {
		hint := "pass the folder whose sub-folders are the classes"
		if n := strings.ToLower(root); strings.HasSuffix(n, ".tgz") || strings.HasSuffix(n, ".tar.gz") {
			hint = "it looks like the archive: extract it first (flowers download does both)"
		}
		return errors.Errorf("dataset %s is a file, not a folder: %s", Quote(root), hint)
	}
	return nil
}

// scanRoot lists the class folders of root, reporting everything else (the licence is kept).
func scanRoot(root string, rep *Report) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, errors.Wrapf(err, "listing the dataset folder %s", Quote(root))
	}
	var classes []string
	rootImages := 0
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(root, name)
		isDir, regular, ok := entryType(rep, p, e)
		if !ok {
			continue
		}
		if strings.HasPrefix(name, ".") {
			rep.skip(p, KindHidden, hiddenReason(name, isDir))
			continue
		}
		if isDir {
			classes = append(classes, name)
			continue
		}
		if !regular {
			rep.skip(p, KindNotRegular, "not a regular file (device, pipe or socket)")
			continue
		}
		reason := "file at the dataset root, not a class folder"
		if isLicenseName(name) {
			lic, err := readLicense(p)
			if err != nil {
				return nil, err
			}
			rep.License = lic
			reason += fmt.Sprintf("; licence kept for attribution (%d image credits)", len(lic.Credits))
		}
		if images.IsImageExt(name) {
			rootImages++
		}
		rep.skip(p, KindNotClass, reason)
	}
	if len(classes) == 0 {
		if rootImages > 0 {
			return nil, errors.Errorf("no class folders in %s, but %d image files: it looks like a single class folder; pass its parent %s, whose sub-folders are the classes",
				Quote(root), rootImages, Quote(filepath.Dir(filepath.Clean(root))))
		}
		return nil, errors.Errorf("no class folders in %s: expected one sub-folder per class (e.g. daisy/, roses/) holding the images", Quote(root))
	}
	return classes, nil
}

// candidate is an image-named file of a class folder, not yet checked.
type candidate struct {
	path, class string
}

// scanClasses lists the image-named files of each class folder (found counts them per class),
// reporting the rest, and refuses nested datasets (docs/BAD_INPUTS.md rows 5 and 7).
func scanClasses(root string, classes []string, rep *Report) (files []candidate, found map[string]int, err error) {
	nested := map[string][]string{} // class → its sub-folders
	found = map[string]int{}
	for _, class := range classes {
		dir := filepath.Join(root, class)
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, nil, errors.Wrapf(err, "listing the class folder %s", Quote(dir))
		}
		for _, e := range ents {
			name := e.Name()
			p := filepath.Join(dir, name)
			isDir, regular, ok := entryType(rep, p, e)
			if !ok {
				continue
			}
			switch {
			case strings.HasPrefix(name, "."):
				rep.skip(p, KindHidden, hiddenReason(name, isDir))
			case isDir:
				nested[class] = append(nested[class], name)
			case !regular:
				rep.skip(p, KindNotRegular, "not a regular file (device, pipe or socket)")
			case !images.IsImageExt(name):
				ext := filepath.Ext(name)
				if ext == "" {
					ext = "none"
				}
				rep.skip(p, KindNotImage, fmt.Sprintf("not an image file (extension %s)", ext))
			default:
				files = append(files, candidate{p, class})
				found[class]++
			}
		}
	}
	// The classes are one level down (root/flower_photos/daisy/...).
	if len(files) == 0 {
		for _, class := range classes {
			for _, sub := range nested[class] {
				if hasImageFiles(filepath.Join(root, class, sub)) {
					return nil, nil, errors.Errorf("no images in the class folders of %s, but %s holds folders of images: did you mean %s?",
						Quote(root), Quote(filepath.Join(root, class)), Quote(filepath.Join(root, class)))
				}
			}
		}
	}
	// Nested folders in a class.
	var problems []string
	for _, class := range classes {
		if subs := nested[class]; len(subs) > 0 {
			q := make([]string, len(subs))
			for i, s := range subs {
				q[i] = Quote(filepath.Join(root, class, s))
			}
			problems = append(problems, fmt.Sprintf("class folder %s has sub-folders %s (a nested copy of the dataset?): class folders must hold only images; move or remove them",
				Quote(class), strings.Join(q, ", ")))
		}
	}
	if len(problems) > 0 {
		return nil, nil, errors.New(strings.Join(problems, "\n"))
	}
	return files, found, nil
}

// checkFiles checks the candidate files in parallel (header, or a full decode with Verify)
// and adds the usable ones to t's rows, reporting the others.
func checkFiles(t *Table, files []candidate, opts Options, rep *Report) error {
	type outcome struct {
		info images.Info
		err  error
	}
	results := make([]outcome, len(files))
	var bar *progressbar.ProgressBar
	if opts.Progress != nil {
		desc := "checking headers"
		if opts.Verify {
			desc = "decoding"
		}
		bar = progressbar.NewOptions(len(files), progressbar.OptionSetWriter(opts.Progress),
			progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("img"), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opts.Progress) }))
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i].info, results[i].err = check(files[i].path, opts.Verify)
				if bar != nil {
					_ = bar.Add(1)
				}
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, f := range files {
		r := results[i]
		if r.err != nil {
			if !images.IsBadImage(r.err) {
				return errors.WithMessage(r.err, "cannot read an image file: check its permissions and the disk (the dataset folder must be readable)")
			}
			if opts.Strict {
				return errors.WithMessage(r.err, "unusable image (strict mode)")
			}
			rep.skip(f.path, KindBadImage, images.Reason(r.err))
			continue
		}
		if r.info.Note != "" {
			rep.Notes = append(rep.Notes, Skip{Path: f.path, Reason: r.info.Note + ": decoded by content", Kind: "note"})
		}
		t.Rows = append(t.Rows, Row{Path: f.path, Label: f.class})
	}
	return nil
}

// entryType resolves a directory entry, following file symlinks but not directory ones.
// ok is false when the entry was skipped (and reported).
func entryType(rep *Report, p string, e fs.DirEntry) (isDir, regular, ok bool) {
	typ := e.Type()
	if typ&fs.ModeSymlink != 0 {
		st, err := os.Stat(p)
		if err != nil {
			rep.skip(p, KindSymlink, fmt.Sprintf("broken or looping symlink (%v)", errors.Cause(err)))
			return false, false, false
		}
		if st.IsDir() {
			rep.skip(p, KindSymlink, "symlink to a folder: not followed (copy the folder instead)")
			return false, false, false
		}
		typ = st.Mode().Type()
	}
	return typ.IsDir(), typ.IsRegular(), true
}

// check inspects one image file (and decodes it when verify).
func check(path string, verify bool) (images.Info, error) {
	st, err := os.Stat(path)
	if err != nil {
		return images.Info{}, errors.Wrapf(err, "reading %q", path)
	}
	if st.Size() == 0 {
		return images.Info{}, &images.BadImageError{Path: path, Reason: "empty file (0 bytes)"}
	}
	info, err := images.Inspect(path)
	if err != nil || !verify {
		return info, err
	}
	_, info, err = images.ReadFile(path)
	return info, err
}

func hiddenReason(name string, isDir bool) string {
	switch {
	case isDir && name == ".ipynb_checkpoints":
		return "hidden folder (Jupyter checkpoints): never a class"
	case isDir:
		return "hidden folder: never a class"
	case strings.HasPrefix(name, "._"):
		return "AppleDouble file (macOS metadata), not an image"
	case name == ".DS_Store":
		return "macOS folder metadata, not an image"
	}
	return "hidden file"
}

func isLicenseName(name string) bool {
	n := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(name, filepath.Ext(name)), "."))
	return n == "LICENSE" || n == "LICENCE"
}

// hasImageFiles reports whether dir or one of its direct sub-folders holds image-named files.
func hasImageFiles(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.Type().IsRegular() && images.IsImageExt(e.Name()) {
			return true
		}
		if e.IsDir() {
			sub, _ := os.ReadDir(filepath.Join(dir, e.Name()))
			for _, s := range sub {
				if s.Type().IsRegular() && images.IsImageExt(s.Name()) {
					return true
				}
			}
		}
	}
	return false
}
