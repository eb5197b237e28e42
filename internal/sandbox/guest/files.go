package guest

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddockhq/paddock"
)

// listBatch is how many entries one listing frame holds; well under
// maxFrame even with long names and link targets.
const listBatch = 256

// file serves one file operation. Paths are the environment's: see the
// package doc for why they cannot lead out of it.
func (g *guest) file(st net.Conn, req *fileRequest) {
	fw := &frameWriter{w: st}
	p, werr := g.resolvePath(req.Path)
	if werr == nil {
		switch req.Op {
		case opStat:
			werr = g.statFile(fw, p)
		case opRead:
			werr = g.readFile(st, fw, p)
		case opWrite:
			werr = g.writeFile(st, fw, p, req.Mode)
		case opList:
			werr = g.listFiles(fw, p)
		case opMkdir:
			werr = g.mkdir(fw, p, req.Parents)
		case opRemove:
			werr = g.remove(fw, p, req.Recursive)
		case opArchive:
			werr = g.archive(st, fw, p)
		case opExtract:
			werr = g.extract(st, fw, p)
		default:
			werr = &wireError{Code: codeUnsupported, Message: fmt.Sprintf("the guest agent does not support the file operation %q", req.Op)}
		}
	}
	if werr != nil {
		fw.writeJSON(frameError, werr)
	}
}

// resolvePath makes p absolute (relative paths are against the working
// directory) and clean.
func (g *guest) resolvePath(p string) (string, *wireError) {
	if p == "" {
		return "", &wireError{Code: paddock.EInvalid, Message: "path is required"}
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", &wireError{Code: paddock.EInvalid, Message: "path must not contain NUL bytes"}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(g.dir(""), p)
	}
	return filepath.Clean(p), nil
}

// fileError turns a file system error on p into a wire error with a
// message that names p and is safe to show.
func fileError(p string, err error) *wireError {
	var we *wireError
	if errors.As(err, &we) {
		return we
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return &wireError{Code: paddock.EInternal, Message: fmt.Sprintf("%s: %v", p, err)}
	}
	switch errno {
	case unix.ENOENT:
		return &wireError{Code: paddock.ENotFound, Message: "no such file: " + p}
	case unix.EISDIR:
		return &wireError{Code: paddock.EInvalid, Message: p + " is a directory"}
	case unix.ENOTDIR:
		return &wireError{Code: paddock.EInvalid, Message: p + ": not a directory"}
	case unix.EACCES, unix.EPERM:
		return &wireError{Code: paddock.EForbidden, Message: "permission denied: " + p}
	case unix.EROFS:
		return &wireError{Code: paddock.EForbidden, Message: "read-only file system: " + p}
	case unix.EEXIST:
		return &wireError{Code: paddock.EConflict, Message: "file exists: " + p}
	case unix.ENOTEMPTY:
		return &wireError{Code: paddock.EInvalid, Message: "directory not empty: " + p}
	case unix.ENOSPC, unix.EDQUOT:
		return &wireError{Code: paddock.ETooLarge, Message: "no space left in the environment writing " + p}
	case unix.ELOOP:
		return &wireError{Code: paddock.EInvalid, Message: "too many levels of symbolic links: " + p}
	case unix.ENAMETOOLONG:
		return &wireError{Code: paddock.EInvalid, Message: "file name too long: " + p}
	case unix.EBUSY:
		return &wireError{Code: paddock.EConflict, Message: "cannot replace " + p + ": it is in use (a mount point)"}
	}
	return &wireError{Code: paddock.EInternal, Message: fmt.Sprintf("%s: %v", p, err)}
}

// infoOf describes p from its lstat.
func infoOf(p string, fi fs.FileInfo) wireFileInfo {
	wi := wireFileInfo{Name: fi.Name(), Path: p, Size: fi.Size(), ModTimeNS: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		wi.Mode = st.Mode
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		wi.LinkTarget, _ = os.Readlink(p)
	}
	if p == "/" {
		wi.Name = "/"
	}
	return wi
}

// watchHost ends the stream when the host closes its side, so writes
// waiting for window from a host that stopped reading fail instead of
// blocking forever.
func watchHost(st net.Conn) {
	go func() {
		io.Copy(io.Discard, st)
		st.Close()
	}()
}

func (g *guest) statFile(fw *frameWriter, p string) *wireError {
	fi, err := os.Lstat(p)
	if err != nil {
		return fileError(p, err)
	}
	fw.writeJSON(frameOK, infoOf(p, fi))
	return nil
}

// readFile streams a regular file: frameOK with its info, data frames,
// frameDataEOF. A failure midway is a frameError after some data.
func (g *guest) readFile(st net.Conn, fw *frameWriter, p string) *wireError {
	// O_NONBLOCK: opening a named pipe must not hang; it is then refused.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fileError(p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileError(p, err)
	}
	if fi.IsDir() {
		return fileError(p, unix.EISDIR)
	}
	if !fi.Mode().IsRegular() {
		return &wireError{Code: paddock.EInvalid, Message: p + " is not a regular file"}
	}
	if err := fw.writeJSON(frameOK, infoOf(p, fi)); err != nil {
		return nil
	}
	watchHost(st)
	buf := make([]byte, chunkSize)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if fw.write(frameData, buf[:n]) != nil {
				return nil // the host went away
			}
		}
		if err == io.EOF {
			fw.write(frameDataEOF, nil)
			return nil
		}
		if err != nil {
			return fileError(p, err)
		}
	}
}

// writeFile receives a file into a temporary file next to p and renames
// it over p once the host sends frameDataEOF, so readers never see half a
// file. The host aborting (the stream ending early) removes the temporary
// file. It is not fsynced: an environment does not survive a host crash.
func (g *guest) writeFile(st net.Conn, fw *frameWriter, p string, mode uint32) *wireError {
	if mode == 0 {
		mode = 0o644
	}
	if mode&^0o7777 != 0 {
		return &wireError{Code: paddock.EInvalid, Message: fmt.Sprintf("mode %#o is not a permission mode", mode)}
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return fileError(p, unix.EISDIR)
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return mkdirError(dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".paddock-upload-*")
	if errors.Is(err, unix.ENOENT) {
		// The directory exists (made above): its file system (/proc,
		// /sys) makes no new files.
		return &wireError{Code: paddock.EForbidden, Message: "cannot create files in " + dir + ": its file system does not allow it"}
	}
	if err != nil {
		return fileError(p, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := fw.writeJSON(frameOK, struct{}{}); err != nil {
		return nil
	}
	n, ok, werr := receive(st, tmp, p)
	if werr != nil || !ok {
		return werr
	}
	// Chmod on the descriptor: exact bits, no umask.
	if err := tmp.Chmod(fs.FileMode(mode & 0o777)); err != nil {
		return fileError(p, err)
	}
	if mode&^0o777 != 0 {
		if err := unix.Fchmod(int(tmp.Fd()), mode); err != nil {
			return fileError(p, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fileError(p, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		done = true
		return fileError(p, err)
	}
	done = true
	fw.writeJSON(frameOK, writeReply{Size: n})
	return nil
}

// receive copies data frames to w until frameDataEOF (ok) or the stream
// ends (the host aborted: !ok, no error to send).
func receive(st net.Conn, w io.Writer, p string) (n int64, ok bool, werr *wireError) {
	var buf []byte
	for {
		typ, payload, nbuf, err := readFrame(st, buf)
		buf = nbuf
		if err != nil {
			return n, false, nil
		}
		switch typ {
		case frameData:
			if _, err := w.Write(payload); err != nil {
				return n, false, fileError(p, err)
			}
			n += int64(len(payload))
		case frameDataEOF:
			return n, true, nil
		}
	}
}

// mkdirError reports a failed MkdirAll of dir: a file in the way is the
// common case and deserves a clear message.
func mkdirError(dir string, err error) *wireError {
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(err, unix.ENOTDIR) {
		return &wireError{Code: paddock.EInvalid, Message: pe.Path + ": not a directory"}
	}
	if errors.As(err, &pe) {
		return fileError(pe.Path, pe.Err)
	}
	return fileError(dir, err)
}

func (g *guest) listFiles(fw *frameWriter, p string) *wireError {
	fi, err := os.Stat(p)
	if err != nil {
		return fileError(p, err)
	}
	if !fi.IsDir() {
		return fileError(p, unix.ENOTDIR)
	}
	d, err := os.Open(p)
	if err != nil {
		return fileError(p, err)
	}
	defer d.Close()
	if err := fw.writeJSON(frameOK, struct{}{}); err != nil {
		return nil
	}
	// Read in batches: a directory may be huge, and neither side should
	// hold all of it in one frame.
	for {
		names, err := d.Readdirnames(listBatch)
		if len(names) > 0 {
			batch := make([]wireFileInfo, 0, len(names))
			for _, name := range names {
				cp := filepath.Join(p, name)
				fi, err := os.Lstat(cp)
				if err != nil {
					continue // removed meanwhile
				}
				batch = append(batch, infoOf(cp, fi))
			}
			if err := fw.writeJSON(frameData, batch); err != nil {
				return nil
			}
		}
		if err == io.EOF {
			fw.write(frameDataEOF, nil)
			return nil
		}
		if err != nil {
			return fileError(p, err)
		}
	}
}

func (g *guest) mkdir(fw *frameWriter, p string, parents bool) *wireError {
	if parents {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return mkdirError(p, err)
		}
	} else if err := os.Mkdir(p, 0o755); err != nil {
		return fileError(p, err)
	}
	fw.writeJSON(frameOK, struct{}{})
	return nil
}

func (g *guest) remove(fw *frameWriter, p string, recursive bool) *wireError {
	if p == "/" {
		return &wireError{Code: paddock.EInvalid, Message: "refusing to remove /"}
	}
	if _, err := os.Lstat(p); err != nil {
		return fileError(p, err)
	}
	var err error
	if recursive {
		err = os.RemoveAll(p) // never follows symlinks
	} else {
		err = os.Remove(p)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fileError(pe.Path, pe.Err)
		}
		return fileError(p, err)
	}
	fw.writeJSON(frameOK, struct{}{})
	return nil
}

// frameDataWriter turns writes into data frames of at most chunkSize.
type frameDataWriter struct{ fw *frameWriter }

func (w frameDataWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), chunkSize)
		if err := w.fw.write(frameData, p[:c]); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}

// archive streams directory p as a tar: directories, regular files and
// symlinks (not followed), with paths relative to p. Like tar
// --one-file-system it does not descend into other mounts (/proc, /sys,
// the guest's own mounts). Sockets, pipes and devices are skipped.
func (g *guest) archive(st net.Conn, fw *frameWriter, p string) *wireError {
	fi, err := os.Stat(p)
	if err != nil {
		return fileError(p, err)
	}
	if !fi.IsDir() {
		return fileError(p, unix.ENOTDIR)
	}
	rootDev := fi.Sys().(*syscall.Stat_t).Dev
	if err := fw.writeJSON(frameOK, struct{}{}); err != nil {
		return nil
	}
	watchHost(st)
	bw := bufio.NewWriterSize(frameDataWriter{fw}, chunkSize)
	tw := tar.NewWriter(bw)
	errHostGone := errors.New("host went away")
	err = filepath.WalkDir(p, func(cp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if cp == p {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		sys, _ := fi.Sys().(*syscall.Stat_t)
		if d.IsDir() && sys != nil && sys.Dev != rootDev {
			return fs.SkipDir
		}
		var link string
		switch {
		case fi.Mode().IsRegular(), fi.IsDir():
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(cp); err != nil {
				return err
			}
		default:
			return nil
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, cp)
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX // long names, large files, sub-second times
		if !fi.Mode().IsRegular() {
			if err := tw.WriteHeader(hdr); err != nil {
				return errHostGone
			}
			return nil
		}
		f, err := os.Open(cp)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(hdr); err != nil {
			return errHostGone
		}
		// A file that changes size while archived keeps its header's
		// size: cut it or pad it with zeros, as tar does.
		n, err := io.CopyN(tw, f, hdr.Size)
		if err != nil && err != io.EOF {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return err
			}
			return errHostGone
		}
		if n < hdr.Size {
			if _, err := io.CopyN(tw, zeroReader{}, hdr.Size-n); err != nil {
				return errHostGone
			}
		}
		return nil
	})
	if err == errHostGone {
		return nil
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fileError(pe.Path, pe.Err)
		}
		return fileError(p, err)
	}
	if tw.Close() != nil || bw.Flush() != nil {
		return nil
	}
	fw.write(frameDataEOF, nil)
	return nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// extract unpacks a tar the host streams into directory p, created if
// needed. Every entry stays inside p: names are relative and may not climb
// out with "..", links may not point out of p, and all file system
// operations go through an os.Root, so even a symlink already in p cannot
// lead a write elsewhere. Entries other than directories, files, symlinks
// and hard links are skipped, and named in the reply. Files belong to the
// environment's user.
func (g *guest) extract(st net.Conn, fw *frameWriter, p string) *wireError {
	if err := os.MkdirAll(p, 0o755); err != nil {
		return mkdirError(p, err)
	}
	root, err := os.OpenRoot(p)
	if err != nil {
		return fileError(p, err)
	}
	defer root.Close()
	if err := fw.writeJSON(frameOK, struct{}{}); err != nil {
		return nil
	}
	pr, pw := io.Pipe()
	var aborted atomic.Bool
	go func() {
		_, ok, _ := receive(st, pw, p)
		if ok {
			pw.Close()
		} else {
			aborted.Store(true)
			pw.CloseWithError(errors.New("upload aborted"))
		}
	}()
	// Unblock the receiver if we stop reading early.
	defer pr.CloseWithError(errors.New("extraction ended"))

	n, skipped, werr := extractTar(root, p, pr)
	if werr != nil {
		if aborted.Load() {
			return nil // nobody to tell
		}
		return werr
	}
	fw.writeJSON(frameOK, writeReply{Size: n, Skipped: skipped})
	return nil
}

// extractTar unpacks r under root (the directory dir) and returns the
// bytes of file content written and the names of the entries it skipped
// (at most maxSkipped).
func extractTar(root *os.Root, dir string, r io.Reader) (total int64, skipped []string, _ *wireError) {
	tr := tar.NewReader(r)
	type dirMode struct {
		name string
		mode fs.FileMode
	}
	var dirs []dirMode
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader) {
				return total, skipped, &wireError{Code: paddock.EInvalid, Message: "not a valid tar archive: " + err.Error()}
			}
			return total, skipped, &wireError{Code: paddock.EInvalid, Message: err.Error()}
		}
		name, werr := entryName(hdr.Name)
		if werr != nil {
			return total, skipped, werr
		}
		full := filepath.Join(dir, name)
		if name == "." {
			continue // the directory itself
		}
		mode := fs.FileMode(hdr.Mode) & fs.ModePerm
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return total, skipped, extractError(full, err)
			}
			// Applied last: a read-only directory must still take its
			// entries.
			dirs = append(dirs, dirMode{name, mode})
		case tar.TypeReg, tar.TypeRegA:
			if err := makeParent(root, name); err != nil {
				return total, skipped, extractError(full, err)
			}
			// Replace whatever is there rather than write through it.
			if err := removeNonDir(root, name); err != nil {
				return total, skipped, extractError(full, err)
			}
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return total, skipped, extractError(full, err)
			}
			n, err := io.Copy(f, tr)
			total += n
			if err == nil {
				err = f.Chmod(mode)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) || errors.As(err, new(syscall.Errno)) {
					return total, skipped, extractError(full, err)
				}
				return total, skipped, &wireError{Code: paddock.EInvalid, Message: "not a valid tar archive: " + err.Error()}
			}
			if !hdr.ModTime.IsZero() {
				root.Chtimes(name, hdr.ModTime, hdr.ModTime)
			}
		case tar.TypeSymlink:
			if linkEscapes(name, hdr.Linkname, dir) {
				return total, skipped, &wireError{Code: paddock.EInvalid, Message: fmt.Sprintf("archive entry %q links to %q, outside %s", hdr.Name, hdr.Linkname, dir)}
			}
			if err := makeParent(root, name); err != nil {
				return total, skipped, extractError(full, err)
			}
			if err := removeNonDir(root, name); err != nil {
				return total, skipped, extractError(full, err)
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return total, skipped, extractError(full, err)
			}
		case tar.TypeLink:
			target, werr := entryName(hdr.Linkname)
			if werr != nil {
				return total, skipped, werr
			}
			if err := makeParent(root, name); err != nil {
				return total, skipped, extractError(full, err)
			}
			if err := removeNonDir(root, name); err != nil {
				return total, skipped, extractError(full, err)
			}
			if err := root.Link(target, name); err != nil {
				return total, skipped, extractError(full, err)
			}
		case tar.TypeXGlobalHeader:
			// PAX global headers carry nothing we use.
		default:
			// Devices and pipes need privileges and serve no agent.
			if len(skipped) < maxSkipped {
				skipped = append(skipped, hdr.Name)
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := root.Chmod(dirs[i].name, dirs[i].mode); err != nil {
			return total, skipped, extractError(filepath.Join(dir, dirs[i].name), err)
		}
	}
	return total, skipped, nil
}

// entryName cleans a tar entry name and refuses names that are absolute
// or climb out of the target directory.
func entryName(name string) (string, *wireError) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", &wireError{Code: paddock.EInvalid, Message: fmt.Sprintf("archive entry %q contains a NUL byte", name)}
	}
	c := path.Clean(name)
	if path.IsAbs(name) || c == ".." || strings.HasPrefix(c, "../") {
		return "", &wireError{Code: paddock.EInvalid, Message: fmt.Sprintf("archive entry %q is outside the target directory", name)}
	}
	return c, nil
}

// linkEscapes reports whether a symlink at name (relative to dir) with
// the given target would point outside dir. Absolute targets are judged
// as paths inside the environment.
func linkEscapes(name, target, dir string) bool {
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return true
	}
	if path.IsAbs(target) {
		rel, err := filepath.Rel(dir, filepath.Clean(target))
		return err != nil || rel == ".." || strings.HasPrefix(rel, "../")
	}
	c := path.Join(path.Dir(name), target)
	return c == ".." || strings.HasPrefix(c, "../")
}

func makeParent(root *os.Root, name string) error {
	if d := path.Dir(name); d != "." {
		return root.MkdirAll(d, 0o755)
	}
	return nil
}

// removeNonDir removes name if it exists and is not a directory.
func removeNonDir(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%w", unix.EISDIR)
	}
	return root.Remove(name)
}

// extractError reports a failed extraction step on full. os.Root refuses
// paths that would escape it with an error of its own.
func extractError(full string, err error) *wireError {
	if strings.Contains(err.Error(), "escapes from parent") {
		return &wireError{Code: paddock.EInvalid, Message: fmt.Sprintf("archive entry %s leads outside the target directory", full)}
	}
	return fileError(full, err)
}

// modTime converts a wire mtime.
func modTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// decodeJSON is json.Unmarshal with a protocol error.
func decodeJSON(p []byte, v any) error {
	if err := json.Unmarshal(p, v); err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return nil
}
