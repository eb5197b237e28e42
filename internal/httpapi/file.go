package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/paddockhq/paddock"
)

// Files reads and writes files inside environments.
type Files interface {
	StatFile(ctx context.Context, id, path string) (paddock.FileInfo, error)
	ReadFile(ctx context.Context, id, path string) (io.ReadCloser, paddock.FileInfo, error)
	WriteFile(ctx context.Context, id, path string, r io.Reader, mode os.FileMode) (int64, error)
	ListFiles(ctx context.Context, id, path string) ([]paddock.FileInfo, error)
	Mkdir(ctx context.Context, id, path string, parents bool) error
	RemoveFile(ctx context.Context, id, path string, recursive bool) error
	ArchiveDir(ctx context.Context, id, path string) (io.ReadCloser, error)
	ExtractArchive(ctx context.Context, id, dir string, r io.Reader) error
}

type fileParams struct {
	ID   string `path:"id"`
	Path string `query:"path" required:"true" description:"path inside the environment; relative paths start at the working directory"`
}

type fileWriteParams struct {
	ID   string `path:"id"`
	Path string `query:"path" required:"true"`
	Mode string `query:"mode" description:"octal permissions of a new file, default 0644"`
}

type fileDeleteParams struct {
	ID        string `path:"id"`
	Path      string `query:"path" required:"true"`
	Recursive bool   `query:"recursive" description:"remove a directory and everything in it"`
}

type fileWriteResponse struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

type fileListResponse struct {
	Path  string             `json:"path"`
	Files []paddock.FileInfo `json:"files"`
}

type mkdirRequest struct {
	Path    string `json:"path" required:"true"`
	Parents *bool  `json:"parents,omitempty" description:"create missing parents (default true)"`
}

// filePath reads the path query parameter.
func filePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", paddock.Errorf(paddock.EInvalid, "query parameter \"path\" is required")
	}
	if strings.ContainsRune(p, 0) {
		return "", paddock.Errorf(paddock.EInvalid, "query parameter \"path\" contains a NUL byte")
	}
	return p, nil
}

// fileEnv loads the environment of a file route and the path; every file
// operation needs write permission (the same as exec, which can do all of
// them anyway).
func (s *Server) fileEnv(r *http.Request) (*paddock.Environment, string, error) {
	p, err := filePath(r)
	if err != nil {
		return nil, "", err
	}
	env, err := s.environment(r, paddock.PermissionWrite)
	return env, p, err
}

// limitUpload caps a streamed upload and turns the cap into ETooLarge.
func (s *Server) limitUpload(w http.ResponseWriter, r *http.Request) io.Reader {
	if r.ContentLength > s.cfg.MaxUploadBytes {
		return errReader{paddock.Errorf(paddock.ETooLarge, "upload of %d bytes exceeds the limit of %d bytes", r.ContentLength, s.cfg.MaxUploadBytes)}
	}
	return http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// uploadError maps a failed upload's body error to the caller's fault.
func (s *Server) uploadError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return paddock.Errorf(paddock.ETooLarge, "upload exceeds the limit of %d bytes", tooBig.Limit)
	}
	return err
}

func (s *Server) handleFileGet(w http.ResponseWriter, r *http.Request) error {
	env, p, err := s.fileEnv(r)
	if err != nil {
		return err
	}
	rc, info, err := s.Files.ReadFile(r.Context(), env.ID, p)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(path.Base(info.Path), `"`, "")+`"`)
	w.Header().Set("Last-Modified", info.ModTime.UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, rc)
	return err
}

func (s *Server) handleFilePut(w http.ResponseWriter, r *http.Request) error {
	env, p, err := s.fileEnv(r)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if v := r.URL.Query().Get("mode"); v != "" {
		m, err := strconv.ParseUint(v, 8, 32)
		if err != nil || m > 0o7777 {
			return paddock.Errorf(paddock.EInvalid, "query parameter \"mode\" must be octal permissions like 0644, not %q", v)
		}
		mode = os.FileMode(m)
	}
	n, err := s.Files.WriteFile(r.Context(), env.ID, p, s.limitUpload(w, r), mode)
	if err != nil {
		return s.uploadError(err)
	}
	info, err := s.Files.StatFile(r.Context(), env.ID, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, fileWriteResponse{Path: info.Path, Size: n})
}

func (s *Server) handleFileDelete(w http.ResponseWriter, r *http.Request) error {
	recursive, err := queryBool(r, "recursive", false)
	if err != nil {
		return err
	}
	env, p, err := s.fileEnv(r)
	if err != nil {
		return err
	}
	if err := s.Files.RemoveFile(r.Context(), env.ID, p, recursive); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleFileList(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("path") == "" {
		q := r.URL.Query()
		q.Set("path", ".")
		r.URL.RawQuery = q.Encode()
	}
	env, p, err := s.fileEnv(r)
	if err != nil {
		return err
	}
	files, err := s.Files.ListFiles(r.Context(), env.ID, p)
	if err != nil {
		return err
	}
	if files == nil {
		files = []paddock.FileInfo{}
	}
	dir := p
	if info, err := s.Files.StatFile(r.Context(), env.ID, p); err == nil {
		dir = info.Path
	}
	return writeJSON(w, http.StatusOK, fileListResponse{Path: dir, Files: files})
}

func (s *Server) handleMkdir(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	var req mkdirRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Path == "" {
		return paddock.Errorf(paddock.EInvalid, "field \"path\" is required")
	}
	parents := req.Parents == nil || *req.Parents
	if err := s.Files.Mkdir(r.Context(), env.ID, req.Path, parents); err != nil {
		return err
	}
	info, err := s.Files.StatFile(r.Context(), env.ID, req.Path)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, info)
}

func (s *Server) handleArchiveGet(w http.ResponseWriter, r *http.Request) error {
	env, p, err := s.fileEnv(r)
	if err != nil {
		return err
	}
	rc, err := s.Files.ArchiveDir(r.Context(), env.ID, p)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(path.Base(path.Clean("/"+p)), `"`, "")+`.tar"`)
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, rc)
	return err
}

func (s *Server) handleArchivePut(w http.ResponseWriter, r *http.Request) error {
	env, p, err := s.fileEnv(r)
	if err != nil {
		return err
	}
	if err := s.Files.ExtractArchive(r.Context(), env.ID, p, s.limitUpload(w, r)); err != nil {
		return s.uploadError(err)
	}
	files, err := s.Files.ListFiles(r.Context(), env.ID, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, fileListResponse{Path: p, Files: files})
}
