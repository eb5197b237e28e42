package sandbox

import (
	"context"
	"io"
	"os"

	"github.com/paddockhq/paddock"
)

// The file operations act inside a running environment (a pending, paused
// or ended one is EConflict) with the environment user's permissions;
// relative paths are against the environment's working directory. Missing
// paths are ENotFound ("no such file: /x"), a directory where a file is
// needed or the reverse EInvalid, permission errors EForbidden, a full
// disk ETooLarge.

func checkPath(path string) error {
	if path == "" {
		return paddock.Errorf(paddock.EInvalid, "path is required")
	}
	for i := 0; i < len(path); i++ {
		if path[i] == 0 {
			return paddock.Errorf(paddock.EInvalid, "path must not contain NUL bytes")
		}
	}
	return nil
}

// filesReady checks path and that environment id is running.
func (m *Manager) filesReady(ctx context.Context, id, path string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	_, err := m.running(ctx, id)
	return err
}

// StatFile describes path, not following a final symlink.
func (m *Manager) StatFile(ctx context.Context, id, path string) (paddock.FileInfo, error) {
	if err := m.filesReady(ctx, id, path); err != nil {
		return paddock.FileInfo{}, err
	}
	return m.rt.StatFile(ctx, id, path)
}

// ReadFile streams a regular file (following symlinks). Neither side
// holds the whole file in memory. Cancelling ctx ends the stream; the
// caller must Close it. A failure midway is an error from Read.
func (m *Manager) ReadFile(ctx context.Context, id, path string) (io.ReadCloser, paddock.FileInfo, error) {
	if err := m.filesReady(ctx, id, path); err != nil {
		return nil, paddock.FileInfo{}, err
	}
	return m.rt.ReadFile(ctx, id, path)
}

// WriteFile streams r into path and returns the bytes written. Parent
// directories are created; the file is written to a temporary file and
// renamed over path once r is at EOF, so readers never see half of it.
// mode 0 means 0644. The file belongs to the environment's user. If r
// fails (a size limit, say) or ctx is cancelled, nothing is written and
// r's (or ctx's) error is returned.
func (m *Manager) WriteFile(ctx context.Context, id, path string, r io.Reader, mode os.FileMode) (int64, error) {
	if err := m.filesReady(ctx, id, path); err != nil {
		return 0, err
	}
	if mode&^(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
		return 0, paddock.Errorf(paddock.EInvalid, "mode %v is not a permission mode", mode)
	}
	return m.rt.WriteFile(ctx, id, path, r, mode)
}

// ListFiles describes the entries of directory path, sorted by name;
// symlinks are described, not followed.
func (m *Manager) ListFiles(ctx context.Context, id, path string) ([]paddock.FileInfo, error) {
	if err := m.filesReady(ctx, id, path); err != nil {
		return nil, err
	}
	return m.rt.ListFiles(ctx, id, path)
}

// Mkdir creates directory path (0755). With parents, missing parents are
// created too and an existing directory is not an error; without, an
// existing path is EConflict.
func (m *Manager) Mkdir(ctx context.Context, id, path string, parents bool) error {
	if err := m.filesReady(ctx, id, path); err != nil {
		return err
	}
	return m.rt.Mkdir(ctx, id, path, parents)
}

// RemoveFile removes path: a file, a symlink (not its target) or an empty
// directory; with recursive, a directory with everything under it. "/" is
// refused.
func (m *Manager) RemoveFile(ctx context.Context, id, path string, recursive bool) error {
	if err := m.filesReady(ctx, id, path); err != nil {
		return err
	}
	return m.rt.RemoveFile(ctx, id, path, recursive)
}

// ArchiveDir streams directory path as a tar archive (entries relative
// to path; symlinks kept as links; other mounts, sockets, pipes and
// devices left out). The caller must Close it.
func (m *Manager) ArchiveDir(ctx context.Context, id, path string) (io.ReadCloser, error) {
	if err := m.filesReady(ctx, id, path); err != nil {
		return nil, err
	}
	return m.rt.ArchiveDir(ctx, id, path)
}

// ExtractArchive unpacks the tar stream r into directory dir, created if
// needed. Entries with absolute names, names climbing out with "..",
// symlinks pointing out of dir and writes through symlinks out of dir are
// refused with EInvalid; entries extracted before a refusal stay. Files
// belong to the environment's user; devices and pipes are skipped, and
// their names returned (the first 100).
func (m *Manager) ExtractArchive(ctx context.Context, id, dir string, r io.Reader) (skipped []string, err error) {
	if err := m.filesReady(ctx, id, dir); err != nil {
		return nil, err
	}
	return m.rt.ExtractArchive(ctx, id, dir, r)
}
