package oci

import (
	"context"
	"io"
	"os"

	"github.com/paddockhq/paddock"
)

// The file operations run in the guest: see package guest for how paths
// are resolved and confined, and as which user.

// StatFile implements sandbox.Runtime.
func (r *Runtime) StatFile(ctx context.Context, id, path string) (paddock.FileInfo, error) {
	c, err := r.connectedGuest(ctx, id)
	if err != nil {
		return paddock.FileInfo{}, err
	}
	fi, err := c.Stat(ctx, path)
	return fi, guestError(ctx, id, "stat files", err)
}

// ReadFile implements sandbox.Runtime.
func (r *Runtime) ReadFile(ctx context.Context, id, path string) (io.ReadCloser, paddock.FileInfo, error) {
	c, err := r.connectedGuest(ctx, id)
	if err != nil {
		return nil, paddock.FileInfo{}, err
	}
	rc, fi, err := c.ReadFile(ctx, path)
	if err != nil {
		return nil, paddock.FileInfo{}, guestError(ctx, id, "read files", err)
	}
	return rc, fi, nil
}

// WriteFile implements sandbox.Runtime.
func (r *Runtime) WriteFile(ctx context.Context, id, path string, src io.Reader, mode os.FileMode) (int64, error) {
	c, err := r.connectedGuest(ctx, id)
	if err != nil {
		return 0, err
	}
	n, err := c.WriteFile(ctx, path, src, mode)
	return n, guestError(ctx, id, "write files", err)
}

// ListFiles implements sandbox.Runtime.
func (r *Runtime) ListFiles(ctx context.Context, id, path string) ([]paddock.FileInfo, error) {
	c, err := r.connectedGuest(ctx, id)
	if err != nil {
		return nil, err
	}
	infos, err := c.List(ctx, path)
	return infos, guestError(ctx, id, "list files", err)
}

// Mkdir implements sandbox.Runtime.
func (r *Runtime) Mkdir(ctx context.Context, id, path string, parents bool) error {
	c, err := r.connectedGuest(ctx, id)
	if err != nil {
		return err
	}
	return guestError(ctx, id, "create directories", c.Mkdir(ctx, path, parents))
}

// RemoveFile implements sandbox.Runtime.
func (r *Runtime) RemoveFile(ctx context.Context, id, path string, recursive bool) error {
	c, err := r.connectedGuest(ctx, id)
	if err != nil {
		return err
	}
	return guestError(ctx, id, "remove files", c.Remove(ctx, path, recursive))
}

// ArchiveDir implements sandbox.Runtime.
func (r *Runtime) ArchiveDir(ctx context.Context, id, path string) (io.ReadCloser, error) {
	c, err := r.connectedGuest(ctx, id)
	if err != nil {
		return nil, err
	}
	rc, err := c.Archive(ctx, path)
	if err != nil {
		return nil, guestError(ctx, id, "archive directories", err)
	}
	return rc, nil
}

// ExtractArchive implements sandbox.Runtime.
func (r *Runtime) ExtractArchive(ctx context.Context, id, dir string, src io.Reader) ([]string, error) {
	c, err := r.connectedGuest(ctx, id)
	if err != nil {
		return nil, err
	}
	_, skipped, err := c.Extract(ctx, dir, src)
	return skipped, guestError(ctx, id, "extract archives", err)
}
