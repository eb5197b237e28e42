package paddock

import "time"

// File types reported in FileInfo.Type.
const (
	FileTypeFile    = "file"
	FileTypeDir     = "dir"
	FileTypeSymlink = "symlink"
	FileTypeOther   = "other" // device, socket, named pipe
)

// FileInfo describes one file in an environment. Symbolic links are
// described themselves, not their targets.
type FileInfo struct {
	Name       string    `json:"name"`                  // base name
	Path       string    `json:"path"`                  // absolute path inside the environment
	Size       int64     `json:"size"`                  // bytes
	Mode       string    `json:"mode"`                  // as ls shows it: "-rw-r--r--", "drwxr-xr-x"
	Perm       uint32    `json:"perm"`                  // permission bits, with setuid, setgid and sticky: 0o644
	ModTime    time.Time `json:"mtime"`                 // UTC
	Type       string    `json:"type"`                  // FileTypeFile, FileTypeDir, FileTypeSymlink or FileTypeOther
	LinkTarget string    `json:"link_target,omitempty"` // for symlinks: where the link points, unresolved
}
