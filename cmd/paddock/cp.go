package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/paddockhq/paddock/client"
)

// envCp copies files and directories between this machine and an
// environment: `paddock env cp SRC DST`, where one side is ID:/path.
func envCp(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "Usage: paddock env cp LOCAL ID:/path | paddock env cp ID:/path LOCAL   (LOCAL - is standard input or output)")
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	srcID, srcPath, srcRemote := remotePath(args[0])
	dstID, dstPath, dstRemote := remotePath(args[1])
	switch {
	case srcRemote && args[1] == "-":
		return downloadTo(ctx, c, srcID, srcPath, stdout)
	case srcRemote && !dstRemote:
		return download(ctx, c, srcID, srcPath, args[1])
	case args[0] == "-" && dstRemote:
		if dstPath == "" || strings.HasSuffix(dstPath, "/") {
			return errors.New("copying standard input needs a file path to write, not a directory: ID:/path/file")
		}
		return c.PutFile(ctx, dstID, dstPath, stdin, 0o644)
	case !srcRemote && dstRemote:
		return upload(ctx, c, args[0], dstID, dstPath)
	}
	return errors.New("one side must be ID:/path in an environment and the other a local path")
}

// remotePath splits "env-abc:/path" into its id and path.
func remotePath(s string) (id, p string, ok bool) {
	id, p, ok = strings.Cut(s, ":")
	if !ok || !strings.HasPrefix(id, "env-") {
		return "", "", false
	}
	return id, p, true
}

func upload(ctx context.Context, c *client.Client, local, id, remote string) error {
	fi, err := os.Stat(local)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		f, err := os.Open(local)
		if err != nil {
			return err
		}
		defer f.Close()
		if strings.HasSuffix(remote, "/") {
			remote = path.Join(remote, filepath.Base(local))
		}
		return c.PutFile(ctx, id, remote, f, uint32(fi.Mode().Perm()))
	}
	// A directory goes over as a tar stream, written while it is sent.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, local, filepath.Base(local))) }()
	return c.PutArchive(ctx, id, remote, pr)
}

// writeTar writes dir as a tar whose entries start with prefix/.
func writeTar(w io.Writer, dir, prefix string) error {
	tw := tar.NewWriter(w)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Name = filepath.ToSlash(filepath.Join(prefix, rel))
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// remoteIsDir reports whether remote, in environment id, is a directory.
func remoteIsDir(ctx context.Context, c *client.Client, id, remote string) (bool, error) {
	fi, err := c.StatFile(ctx, id, remote)
	if err != nil {
		return false, err
	}
	return fi.Type == "dir", nil
}

// downloadTo writes remote to w: a file's content, or a directory as a
// tar stream (as docker cp does).
func downloadTo(ctx context.Context, c *client.Client, id, remote string, w io.Writer) error {
	isDir, err := remoteIsDir(ctx, c, id, remote)
	if err != nil {
		return err
	}
	get := c.GetFile
	if isDir {
		get = c.GetArchive
	}
	rc, err := get(ctx, id, remote)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

func download(ctx context.Context, c *client.Client, id, remote, local string) error {
	base := path.Base(path.Clean(remote))
	isDir, err := remoteIsDir(ctx, c, id, remote)
	if err != nil {
		return err
	}
	if !isDir {
		rc, err := c.GetFile(ctx, id, remote)
		if err != nil {
			return err
		}
		defer rc.Close()
		if st, err := os.Stat(local); err == nil && st.IsDir() {
			local = filepath.Join(local, base)
		}
		f, err := os.Create(local)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, rc); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	// Like docker cp: into an existing directory it lands as DIR/NAME,
	// otherwise it becomes LOCAL.
	if st, err := os.Stat(local); err == nil && st.IsDir() {
		local = filepath.Join(local, base)
	}
	rc, err := c.GetArchive(ctx, id, remote)
	if err != nil {
		return err
	}
	defer rc.Close()
	return extractTar(rc, local)
}

// extractTar writes a tar stream under dir, refusing entries that would
// land outside it.
func extractTar(r io.Reader, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(strings.TrimPrefix(h.Name, "/"))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, os.FileMode(h.Mode)&0o777|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if d := filepath.Dir(name); d != "." {
				if err := root.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil && !os.IsExist(err) {
				return err
			}
		}
	}
}
