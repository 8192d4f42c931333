package download

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/errors"
)

// MaxExtractBytes bounds the total size ExtractTarGz writes (gzip bombs); flower_photos
// unpacks to about 230 MB.
const MaxExtractBytes = 8 << 30

// ExtractTarGz unpacks a .tar.gz archive into dir (created if needed). No entry can land
// outside dir: absolute names, ".." components, symlinks whose target leaves dir, hard
// links, and entries that would be written through a symlink are errors naming the entry.
// Regular files get mode 0644, folders 0755; device files and FIFOs are errors.
func ExtractTarGz(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return errors.Wrapf(err, "opening the archive %q", archive)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return errors.Wrapf(err, "archive %q is not gzip-compressed (corrupt or incomplete download? delete it to download again)", archive)
	}
	defer gz.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errors.Wrapf(err, "creating %q", dir)
	}
	tr := tar.NewReader(gz)
	x := &extractor{archive: archive, dir: dir, links: map[string]bool{}}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errors.Wrapf(err, "reading the archive %q (corrupt or incomplete download? delete it to download again)", archive)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
}

// extractor writes the entries of one archive into dir, keeping what its checks need from
// one entry to the next.
type extractor struct {
	archive, dir string
	links        map[string]bool // symlinks created so far (cleaned slash names)
	total        int64           // bytes of regular files so far (MaxExtractBytes)
}

// entry extracts the entry hdr, whose content r holds, after checking that its name stays
// inside dir and that no symlink extracted before lies on its path.
func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := safeName(hdr.Name)
	if err != nil {
		return errors.Wrapf(err, "archive %q", x.archive)
	}
	if name == "." {
		return nil
	}
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		if x.links[p] {
			return errors.Errorf("archive %q: entry %q would be written through the symlink %q", x.archive, hdr.Name, p)
		}
	}
	target := filepath.Join(x.dir, filepath.FromSlash(name))
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(target, 0o755); err != nil {
			return errors.Wrapf(err, "extracting %q", hdr.Name)
		}
	case tar.TypeReg, tar.TypeRegA:
		return x.file(hdr, name, target, r)
	case tar.TypeSymlink:
		return x.symlink(hdr, name, target)
	case tar.TypeXGlobalHeader, tar.TypeXHeader:
		// Metadata only.
	default:
		return errors.Errorf("archive %q: entry %q has type %q (hard link, device or FIFO): refusing", x.archive, hdr.Name, string(hdr.Typeflag))
	}
	return nil
}

// file writes the regular file hdr (cleaned name, path target) with mode 0644, within
// MaxExtractBytes in all and never over a symlink.
func (x *extractor) file(hdr *tar.Header, name, target string, r io.Reader) error {
	x.total += hdr.Size
	if x.total > MaxExtractBytes {
		return errors.Errorf("archive %q unpacks to more than %d bytes: refusing (gzip bomb?)", x.archive, int64(MaxExtractBytes))
	}
	if x.links[name] {
		return errors.Errorf("archive %q: entry %q would overwrite a symlink", x.archive, hdr.Name)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return errors.Wrapf(err, "extracting %q", hdr.Name)
	}
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return errors.Wrapf(err, "extracting %q", hdr.Name)
	}
	n, err := io.Copy(out, io.LimitReader(r, hdr.Size))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return errors.Wrapf(err, "extracting %q from %q", hdr.Name, x.archive)
	}
	return nil
}

// symlink creates the symlink hdr (cleaned name, path target), refusing targets that are
// absolute or leave dir.
func (x *extractor) symlink(hdr *tar.Header, name, target string) error {
	if path.IsAbs(hdr.Linkname) {
		return errors.Errorf("archive %q: symlink %q points to the absolute path %q: refusing", x.archive, hdr.Name, hdr.Linkname)
	}
	resolved := path.Join(path.Dir(name), hdr.Linkname)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return errors.Errorf("archive %q: symlink %q points outside the target folder (%q): refusing", x.archive, hdr.Name, hdr.Linkname)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return errors.Wrapf(err, "extracting %q", hdr.Name)
	}
	_ = os.Remove(target)
	if err := os.Symlink(hdr.Linkname, target); err != nil {
		return errors.Wrapf(err, "extracting %q", hdr.Name)
	}
	x.links[name] = true
	return nil
}

// safeName cleans a tar entry name and rejects absolute names and ".." components.
func safeName(name string) (string, error) {
	if name == "" {
		return "", errors.New("entry with an empty name")
	}
	if path.IsAbs(name) || filepath.IsAbs(name) || strings.Contains(name, "\\") {
		return "", errors.Errorf("entry %q has an absolute or non-portable path: refusing", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", errors.Errorf("entry %q contains \"..\": refusing", name)
		}
	}
	return path.Clean(name), nil
}
