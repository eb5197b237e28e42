package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/paddockhq/paddock"
)

// downloadJobs is how many layers are fetched at once.
const downloadJobs = 3

// V1Image returns the stored image known as ref as a go-containerregistry
// image backed by the store's blobs, e.g. to push it to a registry. It
// fails with ENotFound if ref is absent.
func (s *Store) V1Image(ctx context.Context, ref string) (v1.Image, error) {
	img, err := s.Image(ctx, ref)
	if err != nil {
		return nil, err
	}
	h, err := v1.NewHash(img.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return s.storedImage(h)
}

// storedImage returns the image whose manifest blob is h.
func (s *Store) storedImage(h v1.Hash) (v1.Image, error) {
	raw, err := os.ReadFile(s.blobPath(h))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", h, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", h, err)
	}
	return partial.CompressedToImage(&storedImage{s: s, raw: raw, manifest: m})
}

// storedImage is an image read from the blob store.
type storedImage struct {
	s        *Store
	raw      []byte
	manifest *v1.Manifest
}

var _ partial.CompressedImageCore = (*storedImage)(nil)

func (i *storedImage) RawManifest() ([]byte, error) { return i.raw, nil }

func (i *storedImage) MediaType() (types.MediaType, error) {
	if i.manifest.MediaType != "" {
		return i.manifest.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

func (i *storedImage) RawConfigFile() ([]byte, error) {
	return os.ReadFile(i.s.blobPath(i.manifest.Config.Digest))
}

func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return &blobLayer{s: i.s, desc: i.manifest.Config}, nil
	}
	for _, d := range i.manifest.Layers {
		if d.Digest == h {
			return &blobLayer{s: i.s, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("layer %s not in manifest", h)
}

// blobLayer is a compressed layer read from the blob store. If count is
// set it is told how many compressed bytes have been read.
type blobLayer struct {
	s     *Store
	desc  v1.Descriptor
	count func(n int64)
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *blobLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

func (l *blobLayer) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(l.s.blobPath(l.desc.Digest))
	if err != nil {
		return nil, err
	}
	if l.count == nil {
		return f, nil
	}
	return &countingReadCloser{ReadCloser: f, count: l.count}, nil
}

type countingReadCloser struct {
	io.ReadCloser
	count func(int64)
}

func (c *countingReadCloser) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.count(int64(n))
	}
	return n, err
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// writeBlobs stores the manifest, config and layers of img, skipping blobs
// already present. It returns the blobs it added, for cleanup on failure.
func (s *Store) writeBlobs(ctx context.Context, img v1.Image, progress func(Progress)) ([]v1.Hash, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	if m.Config.MediaType != "" && !m.Config.MediaType.IsConfig() {
		return nil, paddock.Errorf(paddock.EUnsupported, "not a container image (config type %s)", m.Config.MediaType)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("manifest digest: %w", err)
	}
	var (
		mu    sync.Mutex
		added []v1.Hash
	)
	note := func(h v1.Hash, wrote bool) {
		if wrote {
			mu.Lock()
			added = append(added, h)
			mu.Unlock()
		}
	}

	var total int64
	var todo []v1.Descriptor
	for _, d := range m.Layers {
		if !s.hasBlob(d) {
			todo = append(todo, d)
			total += d.Size
		}
	}
	var done atomic.Int64
	var report sync.Mutex // keeps reports in order
	count := func(n int64) {
		cur := done.Add(n)
		if progress == nil || cur>>20 == (cur-n)>>20 || !report.TryLock() {
			return // report once per MiB, never concurrently
		}
		progress(Progress{Phase: "download", Current: done.Load(), Total: total, Message: "downloading layers"})
		report.Unlock()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(downloadJobs)
	for _, d := range todo {
		g.Go(func() error {
			l, err := img.LayerByDigest(d.Digest)
			if err != nil {
				return fmt.Errorf("layer %s: %w", d.Digest, err)
			}
			wrote, err := s.writeBlob(gctx, d.Digest, d.Size, l.Compressed, count)
			note(d.Digest, wrote)
			if err != nil {
				return fmt.Errorf("layer %s: %w", d.Digest, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return added, err
	}
	if progress != nil && len(todo) > 0 {
		progress(Progress{Phase: "download", Current: total, Total: total, Message: "layers downloaded"})
	}

	cfg, err := img.RawConfigFile()
	if err != nil {
		return added, fmt.Errorf("read config: %w", err)
	}
	wrote, err := s.writeBlob(ctx, m.Config.Digest, int64(len(cfg)), bytesOpener(cfg), nil)
	note(m.Config.Digest, wrote)
	if err != nil {
		return added, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	wrote, err = s.writeBlob(ctx, digest, int64(len(raw)), bytesOpener(raw), nil)
	note(digest, wrote)
	if err != nil {
		return added, fmt.Errorf("manifest %s: %w", digest, err)
	}
	return added, nil
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func (s *Store) hasBlob(d v1.Descriptor) bool {
	fi, err := os.Stat(s.blobPath(d.Digest))
	return err == nil && fi.Mode().IsRegular() && (d.Size <= 0 || fi.Size() == d.Size)
}

// writeBlob stores the content open returns as blob h, verifying its
// digest (and size, if size > 0). It reports whether it wrote the blob:
// false when it was already present.
func (s *Store) writeBlob(ctx context.Context, h v1.Hash, size int64, open func() (io.ReadCloser, error), count func(int64)) (bool, error) {
	if h.Algorithm != "sha256" {
		return false, fmt.Errorf("unsupported digest algorithm %q", h.Algorithm)
	}
	if s.hasBlob(v1.Descriptor{Digest: h, Size: size}) {
		return false, nil
	}
	rc, err := open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	tmp := s.tempPath("blob")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp) // fails harmlessly after the rename
	hash := sha256.New()
	var r io.Reader = ctxReader{ctx: ctx, r: rc}
	if count != nil {
		r = &countingReadCloser{ReadCloser: io.NopCloser(r), count: count}
	}
	n, err := io.Copy(io.MultiWriter(f, hash), r)
	if err != nil {
		f.Close()
		return false, err
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != h.Hex {
		f.Close()
		return false, fmt.Errorf("digest mismatch: got sha256:%s", got)
	}
	if size > 0 && n != size {
		f.Close()
		return false, fmt.Errorf("size mismatch: got %d bytes, want %d", n, size)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, s.blobPath(h)); err != nil {
		return false, err
	}
	return true, nil
}

// blobsOf lists the blobs of the stored manifest digest: the manifest,
// its config and its layers. An unreadable manifest yields itself only.
func blobsOf(s *Store, digest string) []v1.Hash {
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil
	}
	hs := []v1.Hash{h}
	raw, err := os.ReadFile(s.blobPath(h))
	if err != nil {
		return hs
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return hs
	}
	hs = append(hs, m.Config.Digest)
	for _, l := range m.Layers {
		hs = append(hs, l.Digest)
	}
	return hs
}

// collectBlobs deletes the candidates no image in idx refers to. Callers
// hold the lock.
func (s *Store) collectBlobs(idx *index, candidates []v1.Hash) error {
	if len(candidates) == 0 {
		return nil
	}
	live := make(map[v1.Hash]bool)
	seen := make(map[string]bool)
	for _, e := range idx.Images {
		if seen[e.Digest] {
			continue
		}
		seen[e.Digest] = true
		for _, h := range blobsOf(s, e.Digest) {
			live[h] = true
		}
	}
	var errs []error
	for _, h := range candidates {
		if live[h] || h.Hex == "" {
			continue
		}
		if err := os.Remove(s.blobPath(h)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove blobs: %w", err)
	}
	return nil
}
