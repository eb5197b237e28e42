package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"

	"github.com/paddockhq/paddock"
)

// maxAttempts bounds how often add starts over when a concurrent Remove
// (possibly in another process) deletes blobs or a tree it relied on.
const maxAttempts = 3

// add stores img under the name r: its blobs, its unpacked tree (once per
// manifest digest) and its index entry. source is "pull", "import" or
// "build". On failure it leaves nothing behind but blobs other images use.
func (s *Store) add(ctx context.Context, r reference, source string, img v1.Image, progress func(Progress)) (_ *paddock.Image, err error) {
	report := func(p Progress) {
		if progress != nil {
			progress(p)
		}
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("manifest digest: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var added []v1.Hash
	defer func() {
		if err != nil && len(added) > 0 {
			s.dropBlobs(added)
		}
	}()
	for attempt := 1; ; attempt++ {
		more, err := s.writeBlobs(ctx, img, progress)
		added = append(added, more...)
		if err != nil {
			return nil, err
		}
		tmp, size := "", int64(-1)
		if _, err := os.Lstat(s.rootfsPath(digest.String())); errors.Is(err, fs.ErrNotExist) {
			tmp, size, err = s.unpack(ctx, digest, report)
			if err != nil {
				if attempt < maxAttempts && !s.hasBlobs(digest) {
					continue
				}
				return nil, err
			}
		}
		e, done, trash, err := s.commit(ctx, r, source, digest, imageConfig(cf), tmp, size)
		if tmp != "" {
			_ = os.RemoveAll(tmp) // gone already if it was renamed into place
		}
		if trash != "" {
			if err := os.RemoveAll(trash); err != nil {
				s.log.Warn("remove replaced image tree", "path", trash, "error", err)
			}
		}
		if err != nil {
			return nil, err
		}
		if done {
			s.log.Info("image stored", "image", r.familiar, "digest", e.Digest, "source", source, "size", e.Size)
			report(Progress{Phase: "done", Current: e.Size, Total: e.Size, Message: r.familiar + " " + e.Digest})
			return s.toImage(r.full, e), nil
		}
		if attempt == maxAttempts {
			return nil, fmt.Errorf("store %s: content removed concurrently %d times", r.familiar, attempt)
		}
	}
}

// unpack applies the layers of stored manifest digest to a new directory
// under tmp/ and returns it with its size.
func (s *Store) unpack(ctx context.Context, digest v1.Hash, report func(Progress)) (string, int64, error) {
	img, err := s.storedImage(digest)
	if err != nil {
		return "", 0, err
	}
	m, err := img.Manifest()
	if err != nil {
		return "", 0, err
	}
	var total, done int64
	for _, d := range m.Layers {
		total += d.Size
	}
	layers := make([]v1.Layer, 0, len(m.Layers))
	for _, d := range m.Layers {
		l, err := partial.CompressedToLayer(&blobLayer{s: s, desc: d, count: func(n int64) {
			if done += n; done>>20 != (done-n)>>20 || done == total {
				report(Progress{Phase: "unpack", Current: done, Total: total, Message: "unpacking layers"})
			}
		}})
		if err != nil {
			return "", 0, err
		}
		layers = append(layers, l)
	}
	report(Progress{Phase: "unpack", Current: 0, Total: total, Message: "unpacking layers"})
	tmp := s.tempPath("rootfs")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return "", 0, fmt.Errorf("unpack: %w", err)
	}
	start := time.Now()
	size, err := unpackLayers(ctx, tmp, layers, s.shift, s.log)
	if err == nil {
		// The tree must be on disk before the index says it is complete.
		err = syncFS(tmp)
	}
	if err != nil {
		if rerr := os.RemoveAll(tmp); rerr != nil {
			s.log.Warn("remove partial image tree", "path", tmp, "error", rerr)
		}
		return "", 0, fmt.Errorf("unpack %s: %w", digest, err)
	}
	s.log.Debug("image unpacked", "digest", digest.String(), "layers", len(layers), "size", size, "duration", time.Since(start))
	return tmp, size, nil
}

// commit records r -> digest in the index, renaming tmp into place as the
// tree of digest unless another writer got there first. It reports
// done=false, changing nothing, when blobs or the tree it needs have been
// removed meanwhile; trash is a replaced tree for the caller to delete.
// Moving r to other content while environments use it (Options.InUse) is
// EConflict and changes nothing.
func (s *Store) commit(ctx context.Context, r reference, source string, digest v1.Hash, cfg paddock.ImageConfig, tmp string, size int64) (e *entry, done bool, trash string, err error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, false, "", err
	}
	defer unlock()
	if !s.hasBlobs(digest) {
		return nil, false, "", nil
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, false, "", err
	}
	// Environments use the content r names now: it must stay theirs.
	old := idx.Images[r.full]
	if old != nil && old.Digest != digest.String() {
		if err := s.checkUnused(ctx, r, "replaced"); err != nil {
			return nil, false, "", err
		}
	}
	tree := s.rootfsPath(digest.String())
	switch _, err := os.Lstat(tree); {
	case err == nil:
		if size < 0 {
			if size, err = s.sizeOf(idx, digest.String()); err != nil {
				return nil, false, "", err
			}
		}
	case errors.Is(err, fs.ErrNotExist):
		if tmp == "" {
			return nil, false, "", nil
		}
		if err := os.Rename(tmp, tree); err != nil {
			return nil, false, "", fmt.Errorf("store image tree: %w", err)
		}
	default:
		return nil, false, "", fmt.Errorf("store image tree: %w", err)
	}

	e = &entry{
		Digest:    digest.String(),
		Source:    source,
		CreatedAt: time.Now().UTC(),
		Size:      size,
		Config:    cfg,
	}
	if old != nil && old.Digest == e.Digest {
		e.CreatedAt = old.CreatedAt
	}
	idx.Images[r.full] = e
	if err := s.writeIndex(idx); err != nil {
		return nil, false, "", err
	}
	if old == nil || old.Digest == e.Digest {
		return e, true, "", nil
	}
	// The name moved to new content: drop the old content unless another
	// name still refers to it.
	for _, other := range idx.Images {
		if other.Digest == old.Digest {
			return e, true, "", nil
		}
	}
	if _, err := os.Lstat(s.rootfsPath(old.Digest)); err == nil {
		trash = s.tempPath("replaced")
		if err := os.Rename(s.rootfsPath(old.Digest), trash); err != nil {
			s.log.Warn("remove replaced image tree", "digest", old.Digest, "error", err)
			trash = ""
		}
	}
	if err := s.collectBlobs(idx, blobsOf(s, old.Digest)); err != nil {
		s.log.Warn("remove replaced image blobs", "digest", old.Digest, "error", err)
	}
	return e, true, trash, nil
}

// sizeOf returns the recorded size of the tree of digest, measuring it if
// no index entry knows it.
func (s *Store) sizeOf(idx *index, digest string) (int64, error) {
	for _, e := range idx.Images {
		if e.Digest == digest {
			return e.Size, nil
		}
	}
	return treeSize(s.rootfsPath(digest))
}

// hasBlobs reports whether every blob of stored manifest digest is present.
func (s *Store) hasBlobs(digest v1.Hash) bool {
	img, err := s.storedImage(digest)
	if err != nil {
		return false
	}
	m, err := img.Manifest()
	if err != nil {
		return false
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if !s.hasBlob(d) {
			return false
		}
	}
	return true
}

// dropBlobs deletes the blobs a failed add wrote, unless an image uses them.
func (s *Store) dropBlobs(hs []v1.Hash) {
	unlock, err := s.lock()
	if err != nil {
		s.log.Warn("remove blobs of failed image", "error", err)
		return
	}
	defer unlock()
	idx, err := s.readIndex()
	if err == nil {
		err = s.collectBlobs(idx, hs)
	}
	if err != nil {
		s.log.Warn("remove blobs of failed image", "error", err)
	}
}

// imageConfig extracts the process defaults from an image config.
func imageConfig(cf *v1.ConfigFile) paddock.ImageConfig {
	return paddock.ImageConfig{
		Env:        cf.Config.Env,
		Entrypoint: cf.Config.Entrypoint,
		Cmd:        cf.Config.Cmd,
		WorkingDir: cf.Config.WorkingDir,
		User:       cf.Config.User,
	}
}
