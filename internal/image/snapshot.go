package image

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/paddockhq/paddock"
)

// Snapshot stores, under name, an image of one layer holding the root file
// system in rootfs, a tar stream (an environment's files, as its guest
// archives them: ownership as inside the environment), with the process
// defaults of config. createdBy goes in the image's history.
//
// Ownership inside is not always the container's: gVisor shows the files
// of the image's tree with their owners on the host, shifted (see
// unshift).
func (s *Store) Snapshot(ctx context.Context, name string, rootfs io.Reader, config paddock.ImageConfig, createdBy string, progress func(Progress)) (*paddock.Image, error) {
	r, err := parseRef(name)
	if err != nil {
		return nil, err
	}
	work := s.tempPath("snapshot")
	if err := os.Mkdir(work, 0o700); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer os.RemoveAll(work)
	if progress != nil {
		progress(Progress{Phase: "build", Message: "archiving the environment's files"})
	}
	start := time.Now()
	tarball := unshift(rootfs, s.shift)
	defer tarball.Close() // ends the rewriting when the layer stopped early
	layer, err := gzipLayerFrom(ctx, tarball, filepath.Join(work, "layer.tar.gz"))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", r.familiar, err)
	}
	img, err := buildImage(layer, createdBy, "paddock snapshot", v1.Config{
		Env:        config.Env,
		Entrypoint: config.Entrypoint,
		Cmd:        config.Cmd,
		WorkingDir: config.WorkingDir,
		User:       config.User,
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", r.familiar, err)
	}
	out, err := s.add(ctx, r, "snapshot", img, progress)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", r.familiar, err)
	}
	s.log.Info("image snapshot", "image", r.familiar, "digest", out.Digest, "by", createdBy, "duration", time.Since(start))
	return out, nil
}

// idRange is how many ids an environment's user namespace maps from the
// shift on (the runtime's mapping).
const idRange = 65536

// unshift passes a tar stream through with the owners that are ids of the
// store's shifted trees (shift to shift+idRange) shifted back: the ids
// they stand for inside an environment. Under runc an environment sees
// its files through its user namespace, and such ids do not occur; under
// gVisor the files it did not write show their owners on the host. An
// error reading the stream is the error reading the result.
func unshift(r io.Reader, shift uint32) io.ReadCloser {
	if shift == 0 {
		return io.NopCloser(r)
	}
	pr, pw := io.Pipe()
	back := func(id int) int {
		if id >= int(shift) && id < int(shift)+idRange {
			return id - int(shift)
		}
		return id
	}
	go func() {
		tr, tw := tar.NewReader(r), tar.NewWriter(pw)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			hdr.Uid, hdr.Gid = back(hdr.Uid), back(hdr.Gid)
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}
