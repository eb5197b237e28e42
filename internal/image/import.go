package image

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/paddockhq/paddock"
)

// Annotations naming an image in an OCI image layout.
const (
	annotationContainerdName = "io.containerd.image.name"          // a full reference
	annotationRefName        = "org.opencontainers.image.ref.name" // a tag or a full reference
)

// Import stores the image held in a `docker save` tarball or an OCI
// image-layout tarball (either possibly gzip-compressed) read from r, under
// name, or under the name recorded in the archive when name is "".
//
// Errors: EInvalid for a malformed name, an archive that is neither
// format, holds more than one image, or names no image when name is "".
func (s *Store) Import(ctx context.Context, name string, r io.Reader, progress func(Progress)) (*paddock.Image, error) {
	var target reference
	if name != "" {
		var err error
		if target, err = parseRef(name); err != nil {
			return nil, err
		}
	}
	work := s.tempPath("import")
	if err := os.Mkdir(work, 0o700); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer os.RemoveAll(work)

	archive := filepath.Join(work, "archive.tar")
	if err := spool(ctx, archive, r, progress); err != nil {
		return nil, err
	}
	names, err := tarNames(archive)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", paddock.Errorf(paddock.EInvalid, "import: not a tar archive"), err)
	}
	var (
		img  v1.Image
		tags []string
	)
	switch {
	case names["manifest.json"]:
		img, tags, err = dockerArchive(archive)
	case names["index.json"]:
		img, tags, err = ociArchive(archive, filepath.Join(work, "layout"))
	default:
		return nil, paddock.Errorf(paddock.EInvalid, "import: archive has neither manifest.json (docker save) nor index.json (OCI layout)")
	}
	if err != nil {
		return nil, err
	}
	if name == "" {
		if len(tags) == 0 {
			return nil, paddock.Errorf(paddock.EInvalid, "import: the archive names no image; give a name")
		}
		if target, err = parseRef(tags[0]); err != nil {
			return nil, fmt.Errorf("import: name in archive: %w", err)
		}
	}
	out, err := s.add(ctx, target, "import", img, progress)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", target.familiar, err)
	}
	return out, nil
}

// spool copies r, decompressing gzip, to file dst, reporting progress.
func spool(ctx context.Context, dst string, r io.Reader, progress func(Progress)) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	var n int64
	src := io.Reader(&countingReadCloser{ReadCloser: io.NopCloser(ctxReader{ctx: ctx, r: r}), count: func(c int64) {
		if n += c; progress != nil && n>>20 != (n-c)>>20 {
			progress(Progress{Phase: "resolve", Current: n, Message: "reading archive"})
		}
	}})
	br := bufio.NewReader(src)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return paddock.Errorf(paddock.EInvalid, "import: bad gzip stream")
		}
		defer zr.Close()
		src = zr
	} else {
		src = br
	}
	if _, err := io.Copy(f, src); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("import: %w", ctx.Err())
		}
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %w", paddock.Errorf(paddock.EInvalid, "import: truncated or corrupt archive"), err)
		}
		return fmt.Errorf("import: read archive: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

// tarNames lists the top-level-relative names of the files in a tar.
func tarNames(archive string) (map[string]bool, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := make(map[string]bool)
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names[path.Clean(strings.TrimLeft(hdr.Name, "/"))] = true
	}
}

// dockerArchive reads a `docker save` tarball holding one image.
func dockerArchive(archive string) (v1.Image, []string, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(archive) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", paddock.Errorf(paddock.EInvalid, "import: bad manifest.json"), err)
	}
	if len(m) != 1 {
		return nil, nil, paddock.Errorf(paddock.EInvalid, "import: the archive holds %d images; import one at a time", len(m))
	}
	img, err := tarball.Image(opener, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", paddock.Errorf(paddock.EInvalid, "import: bad docker archive"), err)
	}
	return img, m[0].RepoTags, nil
}

// ociArchive extracts an OCI image-layout tarball to dir and returns the
// one image it holds, for this machine's platform if it is an index.
func ociArchive(archive, dir string) (v1.Image, []string, error) {
	if err := extractLayout(archive, dir); err != nil {
		return nil, nil, err
	}
	invalid := func(format string, args ...any) error {
		return paddock.Errorf(paddock.EInvalid, "import: "+format, args...)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", invalid("bad OCI layout"), err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", invalid("bad OCI index.json"), err)
	}
	var (
		chosen *v1.Descriptor
		names  []string
	)
	for i, d := range im.Manifests {
		if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
			continue
		}
		if chosen != nil && chosen.Digest != d.Digest {
			return nil, nil, invalid("the archive holds more than one image; import one at a time")
		}
		chosen = &im.Manifests[i]
		if n := d.Annotations[annotationContainerdName]; n != "" {
			names = append(names, n)
		} else if n := d.Annotations[annotationRefName]; strings.ContainsAny(n, "/:@") {
			names = append(names, n)
		}
	}
	if chosen == nil {
		return nil, nil, invalid("the OCI layout holds no image")
	}
	if chosen.MediaType.IsImage() {
		img, err := idx.Image(chosen.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", invalid("bad image in OCI layout"), err)
		}
		return img, names, nil
	}
	child, err := idx.ImageIndex(chosen.Digest)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", invalid("bad index in OCI layout"), err)
	}
	cm, err := child.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", invalid("bad index in OCI layout"), err)
	}
	for _, d := range cm.Manifests {
		if d.MediaType.IsImage() && d.Platform != nil && d.Platform.OS == platform.OS && d.Platform.Architecture == platform.Architecture {
			img, err := child.Image(d.Digest)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %w", invalid("bad image in OCI layout"), err)
			}
			return img, names, nil
		}
	}
	return nil, nil, invalid("no image for %s/%s in the archive", platform.OS, platform.Architecture)
}

// extractLayout extracts the regular files of an OCI layout tarball into
// dir, refusing names that leave it; an OCI layout needs nothing else.
func extractLayout(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	root, err := os.OpenRoot(filepath.Dir(dir))
	if err != nil {
		return err
	}
	defer root.Close()
	base := filepath.Base(dir)
	if err := root.Mkdir(base, 0o700); err != nil {
		return err
	}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", paddock.Errorf(paddock.EInvalid, "import: bad tar"), err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimLeft(hdr.Name, "/"))
		if !filepath.IsLocal(name) {
			return paddock.Errorf(paddock.EInvalid, "import: archive entry %q leaves the archive", hdr.Name)
		}
		p := filepath.Join(base, filepath.FromSlash(name))
		if err := root.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		w, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, tr); err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
}
