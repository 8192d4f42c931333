package labels

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pkg/errors"
)

// Skip kinds, for Report.Summary's counts by reason.
const (
	KindNotClass   = "not a class (file at the root)"
	KindHidden     = "hidden file or folder"
	KindNotImage   = "not an image (extension)"
	KindBadImage   = "unusable image content"
	KindSymlink    = "symlink not followed or broken"
	KindNotRegular = "not a regular file"
)

// Skip is one file or folder Scan left out. Reason says why, for people; Kind is one
// of the Kind* constants, for counting.
type Skip struct {
	Path   string
	Reason string
	Kind   string
}

// Report lists what Scan skipped or noticed; nothing is ever deleted or rewritten.
type Report struct {
	Root    string
	Skipped []Skip
	// Notes are images that were kept but deserve a look (e.g. PNG content in a .jpg file).
	Notes []Skip
	// License is the dataset's LICENSE.txt (or LICENSE, LICENSE.md) at the root, if any.
	License *License
}

// License holds a dataset licence file: the header text and, for flower_photos' format
// ("daisy/123.jpg CC-BY by NAME - URL"), the attribution line of each image.
type License struct {
	Path    string
	Header  string            // the text before the first attribution line
	Credits map[string]string // "class/file.jpg" → its whole attribution line
}

// Credit returns the attribution line of an image path (any path ending in class/file),
// or "".
func (l *License) Credit(path string) string {
	if l == nil {
		return ""
	}
	rel := filepath.ToSlash(filepath.Join(filepath.Base(filepath.Dir(path)), filepath.Base(path)))
	return l.Credits[rel]
}

func readLicense(path string) (*License, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrapf(err, "reading the licence file %q", path)
	}
	defer f.Close()
	l := &License{Path: path, Credits: map[string]string{}}
	var header strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		first, _, _ := strings.Cut(line, " ")
		if strings.Count(first, "/") == 1 && strings.Contains(line, " - http") {
			l.Credits[first] = line
			continue
		}
		if len(l.Credits) == 0 {
			header.WriteString(line)
			header.WriteByte('\n')
		}
	}
	l.Header = strings.TrimSpace(header.String())
	return l, errors.Wrapf(sc.Err(), "reading the licence file %q", path)
}

func (r *Report) skip(path, kind, reason string) {
	r.Skipped = append(r.Skipped, Skip{Path: path, Reason: reason, Kind: kind})
}

// CountsByKind returns the number of skips per Kind.
func (r *Report) CountsByKind() map[string]int {
	out := map[string]int{}
	for _, s := range r.Skipped {
		out[s.Kind]++
	}
	return out
}

// CountsByExt returns, for the skipped non-image files, the count per lower-case
// extension ("(none)" for files without one).
func (r *Report) CountsByExt() map[string]int {
	out := map[string]int{}
	for _, s := range r.Skipped {
		if s.Kind != KindNotImage {
			continue
		}
		ext := strings.ToLower(filepath.Ext(s.Path))
		if ext == "" {
			ext = "(none)"
		}
		out[ext]++
	}
	return out
}

// MaxSummaryLines bounds the skipped paths Summary lists one by one.
const MaxSummaryLines = 100

// Summary returns the skip report: one line per skipped path with its reason (at most
// MaxSummaryLines), then the
// counts by kind and by extension, then the notes. "skipped nothing" when clean.
func (r *Report) Summary() string {
	var b strings.Builder
	if len(r.Skipped) == 0 {
		b.WriteString("skipped nothing\n")
	} else {
		fmt.Fprintf(&b, "skipped %d:\n", len(r.Skipped))
		for i, s := range r.Skipped {
			if i == MaxSummaryLines {
				fmt.Fprintf(&b, "  ... and %d more (all in Report.Skipped)\n", len(r.Skipped)-i)
				break
			}
			fmt.Fprintf(&b, "  %s: %s\n", Quote(r.rel(s.Path)), s.Reason)
		}
		b.WriteString("by reason:")
		for _, kv := range sortedCounts(r.CountsByKind()) {
			fmt.Fprintf(&b, " %s %d;", kv.Class, kv.Count)
		}
		b.WriteString("\n")
		if ext := r.CountsByExt(); len(ext) > 0 {
			b.WriteString("non-image files by extension:")
			for _, kv := range sortedCounts(ext) {
				fmt.Fprintf(&b, " %s %d;", kv.Class, kv.Count)
			}
			b.WriteString("\n")
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(&b, "kept with a note %d:\n", len(r.Notes))
		for _, s := range r.Notes {
			fmt.Fprintf(&b, "  %s: %s\n", Quote(r.rel(s.Path)), s.Reason)
		}
	}
	if r.License != nil {
		fmt.Fprintf(&b, "licence: %s (%d image credits)\n", Quote(r.rel(r.License.Path)), len(r.License.Credits))
	}
	return b.String()
}

func (r *Report) rel(path string) string {
	if r.Root != "" {
		if rel, err := filepath.Rel(r.Root, path); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return path
}

func sortedCounts(m map[string]int) []ClassCount {
	out := make([]ClassCount, 0, len(m))
	for k, v := range m {
		out = append(out, ClassCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Class < out[j].Class
	})
	return out
}
