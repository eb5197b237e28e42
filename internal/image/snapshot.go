package image

import (
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
	layer, err := gzipLayerFrom(ctx, rootfs, filepath.Join(work, "layer.tar.gz"))
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
