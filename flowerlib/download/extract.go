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
	links := map[string]bool{} // symlinks created so far (cleaned slash names)
	var total int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errors.Wrapf(err, "reading the archive %q (corrupt or incomplete download? delete it to download again)", archive)
		}
		name, err := safeName(hdr.Name)
		if err != nil {
			return errors.Wrapf(err, "archive %q", archive)
		}
		if name == "." {
			continue
		}
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			if links[p] {
				return errors.Errorf("archive %q: entry %q would be written through the symlink %q", archive, hdr.Name, p)
			}
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return errors.Wrapf(err, "extracting %q", hdr.Name)
			}
		case tar.TypeReg, tar.TypeRegA:
			total += hdr.Size
			if total > MaxExtractBytes {
				return errors.Errorf("archive %q unpacks to more than %d bytes: refusing (gzip bomb?)", archive, int64(MaxExtractBytes))
			}
			if links[name] {
				return errors.Errorf("archive %q: entry %q would overwrite a symlink", archive, hdr.Name)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return errors.Wrapf(err, "extracting %q", hdr.Name)
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return errors.Wrapf(err, "extracting %q", hdr.Name)
			}
			n, err := io.Copy(out, io.LimitReader(tr, hdr.Size))
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err == nil && n != hdr.Size {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return errors.Wrapf(err, "extracting %q from %q", hdr.Name, archive)
			}
		case tar.TypeSymlink:
			if path.IsAbs(hdr.Linkname) {
				return errors.Errorf("archive %q: symlink %q points to the absolute path %q: refusing", archive, hdr.Name, hdr.Linkname)
			}
			resolved := path.Join(path.Dir(name), hdr.Linkname)
			if resolved == ".." || strings.HasPrefix(resolved, "../") {
				return errors.Errorf("archive %q: symlink %q points outside the target folder (%q): refusing", archive, hdr.Name, hdr.Linkname)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return errors.Wrapf(err, "extracting %q", hdr.Name)
			}
			_ = os.Remove(target)
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return errors.Wrapf(err, "extracting %q", hdr.Name)
			}
			links[name] = true
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
			// Metadata only.
		default:
			return errors.Errorf("archive %q: entry %q has type %q (hard link, device or FIFO): refusing", archive, hdr.Name, string(hdr.Typeflag))
		}
	}
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
