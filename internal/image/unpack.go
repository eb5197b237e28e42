package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// unpacker applies layers to a root directory. Every path is resolved
// with openat2(RESOLVE_IN_ROOT), so neither "../" nor a symlink planted by
// an earlier entry can make it touch anything outside the root; the last
// component of each path is never followed.
type unpacker struct {
	rootPath string
	root     int // O_PATH descriptor of rootPath
	shift    uint32
	chown    bool // false when not root: ownership cannot be set
	log      *slog.Logger

	dirTimes   map[string]time.Time // directory mtimes, set once all layers are in
	layerPaths map[string]bool      // paths the current layer wrote, for opaque whiteouts
	buf        []byte
}

// unpackLayers applies layers in order to dst, a new empty directory, and
// returns the unpacked size: the bytes of its regular files, hard links
// counted once. Ownership is set only when running as root.
func unpackLayers(ctx context.Context, dst string, layers []v1.Layer, shift uint32, log *slog.Logger) (int64, error) {
	root, err := unix.Open(dst, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", dst, err)
	}
	defer unix.Close(root)
	u := &unpacker{
		rootPath: dst,
		root:     root,
		shift:    shift,
		chown:    os.Geteuid() == 0,
		log:      log,
		dirTimes: make(map[string]time.Time),
		buf:      make([]byte, 128<<10),
	}
	if !u.chown && shift != 0 {
		log.Warn("not running as root: unpacked files keep the caller's ownership", "uid_shift", shift)
	}
	if u.chown {
		if err := unix.Fchownat(root, "", int(shift), int(shift), unix.AT_EMPTY_PATH); err != nil {
			return 0, fmt.Errorf("chown %s: %w", dst, err)
		}
	}
	for i, l := range layers {
		if err := u.applyLayer(ctx, l); err != nil {
			d, _ := l.Digest()
			return 0, fmt.Errorf("layer %d (%s): %w", i+1, d, err)
		}
	}
	u.setDirTimes()
	return treeSize(dst)
}

func (u *unpacker) applyLayer(ctx context.Context, l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	u.layerPaths = make(map[string]bool)
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := u.apply(hdr, tr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	// Drain trailing padding so that digest verification sees every byte.
	_, err = io.Copy(io.Discard, rc)
	return err
}

// cleanPath turns a tar entry name into a path relative to the root, "."
// for the root itself. Names that climb out of the root are rejected.
func cleanPath(name string) (string, error) {
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == "" || p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("path escapes the root")
	}
	return p, nil
}

// apply applies one tar entry.
func (u *unpacker) apply(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanPath(hdr.Name)
	if err != nil {
		return err
	}
	parent, base := path.Dir(rel), path.Base(rel)
	if strings.HasPrefix(base, whiteoutPrefix) {
		if base == whiteoutOpaque {
			return u.opaque(parent)
		}
		victim := strings.TrimPrefix(base, whiteoutPrefix)
		if victim == "" || victim == "." || victim == ".." {
			return fmt.Errorf("invalid whiteout")
		}
		return u.whiteout(parent, victim)
	}
	for p := rel; ; p = path.Dir(p) {
		u.layerPaths[p] = true
		if p == "." {
			break
		}
	}
	if rel == "." {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("root entry is not a directory")
		}
		fd, err := unix.Openat(u.root, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		u.dirTimes["."] = hdr.ModTime
		return u.setAttrs(fd, hdr)
	}
	dir, err := u.mkdirAll(parent)
	if err != nil {
		return err
	}
	defer unix.Close(dir)

	switch hdr.Typeflag {
	case tar.TypeDir:
		return u.dir(dir, base, rel, hdr)
	case tar.TypeReg:
		return u.file(dir, base, rel, hdr, r)
	case tar.TypeSymlink:
		if err := removeAllAt(dir, base); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, dir, base); err != nil {
			return err
		}
		if err := u.lchown(dir, base, hdr); err != nil {
			return err
		}
		return setTimes(dir, base, hdr)
	case tar.TypeLink:
		return u.hardlink(dir, base, hdr)
	case tar.TypeFifo:
		if err := removeAllAt(dir, base); err != nil {
			return err
		}
		if err := unix.Mknodat(dir, base, unix.S_IFIFO|0o600, 0); err != nil {
			return err
		}
		if err := u.lchown(dir, base, hdr); err != nil {
			return err
		}
		if err := unix.Fchmodat(dir, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return err
		}
		return setTimes(dir, base, hdr)
	case tar.TypeChar, tar.TypeBlock:
		// Device nodes are useless in a user namespace; the runtime
		// provides /dev.
		u.log.Debug("skip device node", "path", rel)
		return nil
	case tar.TypeXGlobalHeader:
		return nil
	default:
		u.log.Debug("skip unsupported tar entry", "path", rel, "type", string(hdr.Typeflag))
		return nil
	}
}

func (u *unpacker) dir(parent int, base, rel string, hdr *tar.Header) error {
	var st unix.Stat_t
	err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		// Merge with the directory of a lower layer.
	case err == nil:
		if err := removeAllAt(parent, base); err != nil {
			return err
		}
		fallthrough
	case errors.Is(err, unix.ENOENT):
		if err := unix.Mkdirat(parent, base, 0o700); err != nil {
			return err
		}
	default:
		return err
	}
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	u.dirTimes[rel] = hdr.ModTime
	return u.setAttrs(fd, hdr)
}

func (u *unpacker) file(parent int, base, rel string, hdr *tar.Header, r io.Reader) error {
	if err := removeAllAt(parent, base); err != nil {
		return err
	}
	fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), rel)
	if _, err := io.CopyBuffer(f, r, u.buf); err != nil {
		f.Close()
		return err
	}
	if err := u.setAttrs(int(f.Fd()), hdr); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return setTimes(parent, base, hdr)
}

func (u *unpacker) hardlink(parent int, base string, hdr *tar.Header) error {
	target, err := cleanPath(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("link target %q: %w", hdr.Linkname, err)
	}
	if target == "." {
		return fmt.Errorf("link to the root")
	}
	tdir, err := u.openDir(path.Dir(target))
	if err != nil {
		return fmt.Errorf("link target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tdir)
	if err := removeAllAt(parent, base); err != nil {
		return err
	}
	// Flags 0: a symlink target is linked itself, never followed.
	if err := unix.Linkat(tdir, path.Base(target), parent, base, 0); err != nil {
		return fmt.Errorf("link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// whiteout deletes victim from dir, with everything below it.
func (u *unpacker) whiteout(dir, victim string) error {
	fd, err := u.openDir(dir)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return removeAllAt(fd, victim)
}

// opaque empties dir of what lower layers put there, keeping what the
// current layer wrote (whatever the entry order in the tar).
func (u *unpacker) opaque(dir string) error {
	u.layerPaths[dir] = true
	fd, err := u.openDir(dir)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return u.prune(fd, dir)
}

func (u *unpacker) prune(dirfd int, rel string) error {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		child := path.Join(rel, n)
		if !u.layerPaths[child] {
			if err := removeAllAt(fd, n); err != nil {
				return err
			}
			continue
		}
		sub, err := unix.Openat(fd, n, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			continue
		}
		if err != nil {
			return err
		}
		err = u.prune(sub, child)
		unix.Close(sub)
		if err != nil {
			return err
		}
	}
	return nil
}

// openDir opens the directory rel, resolving every component (symlinks
// included) inside the root.
func (u *unpacker) openDir(rel string) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(u.root, rel, how)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue // a concurrent rename; openat2 asks to retry
		}
		return fd, err
	}
}

// mkdirAll opens directory rel, creating what is missing of it (mode
// 0755, owned by the shifted root) like an implicit tar parent.
func (u *unpacker) mkdirAll(rel string) (int, error) {
	fd, err := u.openDir(rel)
	if err == nil || !errors.Is(err, unix.ENOENT) || rel == "." {
		return fd, err
	}
	parent, err := u.mkdirAll(path.Dir(rel))
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	base := path.Base(rel)
	if err := unix.Mkdirat(parent, base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	if u.chown {
		if err := unix.Fchownat(parent, base, int(u.shift), int(u.shift), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return -1, err
		}
	}
	return u.openDir(rel)
}

func (u *unpacker) ids(hdr *tar.Header) (int, int, error) {
	if hdr.Uid < 0 || hdr.Gid < 0 || uint64(hdr.Uid)+uint64(u.shift) > 1<<32-2 || uint64(hdr.Gid)+uint64(u.shift) > 1<<32-2 {
		return 0, 0, fmt.Errorf("owner %d:%d out of range", hdr.Uid, hdr.Gid)
	}
	return hdr.Uid + int(u.shift), hdr.Gid + int(u.shift), nil
}

// setAttrs sets ownership, mode and extended attributes on an open file.
// Ownership goes first: chown clears the setuid and setgid bits.
func (u *unpacker) setAttrs(fd int, hdr *tar.Header) error {
	if u.chown {
		uid, gid, err := u.ids(hdr)
		if err != nil {
			return err
		}
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return err
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if err := unix.Fsetxattr(fd, attr, []byte(v), 0); err != nil {
			// Optional: some file systems or namespaces refuse some
			// attributes; the file is still usable.
			u.log.Debug("skip xattr", "path", hdr.Name, "xattr", attr, "error", err)
		}
	}
	return nil
}

func (u *unpacker) lchown(dir int, base string, hdr *tar.Header) error {
	if !u.chown {
		return nil
	}
	uid, gid, err := u.ids(hdr)
	if err != nil {
		return err
	}
	return unix.Fchownat(dir, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

func setTimes(dir int, base string, hdr *tar.Header) error {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	return unix.UtimesNanoAt(dir, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// setDirTimes gives directories their recorded mtimes, which creating
// their entries has changed.
func (u *unpacker) setDirTimes() {
	for rel, mtime := range u.dirTimes {
		ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
		if rel == "." {
			if err := os.Chtimes(u.rootPath, mtime, mtime); err != nil {
				u.log.Debug("set directory time", "path", rel, "error", err)
			}
			continue
		}
		dir, err := u.openDir(path.Dir(rel))
		if err != nil {
			continue // removed by a later layer
		}
		var st unix.Stat_t
		base := path.Base(rel)
		if err := unix.Fstatat(dir, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := unix.UtimesNanoAt(dir, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				u.log.Debug("set directory time", "path", rel, "error", err)
			}
		}
		unix.Close(dir)
	}
}

// removeAllAt removes name from dirfd and, if it is a directory, all it
// holds, never following symlinks. A missing name is not an error.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, oerr := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if oerr != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, n := range names {
		if err := removeAllAt(fd, n); err != nil {
			f.Close()
			return err
		}
	}
	f.Close()
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// treeSize returns the bytes of the regular files under root, counting
// each hard-linked file once.
func treeSize(root string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := make(map[inode]bool)
	var size int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			k := inode{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		size += fi.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measure %s: %w", root, err)
	}
	return size, nil
}
