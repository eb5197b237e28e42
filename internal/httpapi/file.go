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
	"sync"

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
	ExtractArchive(ctx context.Context, id, dir string, r io.Reader) (skipped []string, err error)
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

type archiveExtractResponse struct {
	Path    string             `json:"path"`
	Files   []paddock.FileInfo `json:"files" description:"the directory's entries after the extraction"`
	Skipped []string           `json:"skipped" description:"entries of the archive not extracted: devices, FIFOs and other special files (the first 100)"`
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

// filePermission is what every operation on an environment's files needs,
// reads included, on every route that reaches them (files, archives,
// read-file, slides): write, the same as exec, which can do all of them
// anyway.
const filePermission = paddock.PermissionWrite

// fileEnv loads the environment of a file route and the path.
func (s *Server) fileEnv(r *http.Request) (*paddock.Environment, string, error) {
	p, err := filePath(r)
	if err != nil {
		return nil, "", err
	}
	env, err := s.environment(r, filePermission)
	return env, p, err
}

// limitUpload is the request body of a streamed upload, capped at
// MaxUploadBytes.
func (s *Server) limitUpload(w http.ResponseWriter, r *http.Request) *uploadBody {
	return limitBody(w, r, s.cfg.MaxUploadBytes)
}

// limitBody is r's body as an uploadBody capped at limit bytes.
func limitBody(w http.ResponseWriter, r *http.Request, limit int64) *uploadBody {
	if r.ContentLength > limit {
		return &uploadBody{r: errReader{paddock.Errorf(paddock.ETooLarge, "the request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit)}}
	}
	return &uploadBody{r: http.MaxBytesReader(w, r.Body, limit)}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// uploadBody is a request body (or a part of one) streamed into an
// operation: a file, an archive, an image. It remembers why reading it
// failed, because the operation's error, wrapped or passed through the
// guest, no longer says: a body cut short, broken chunking or multipart
// framing, or one over the limit is the client's fault, not an internal
// error. Reads may come from another goroutine than failed's.
type uploadBody struct {
	r   io.Reader
	mu  sync.Mutex
	err error // the first read error other than io.EOF
}

func (b *uploadBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

// failed returns what to answer for the operation's error err (nil for
// nil): bodyError's error when reading the body failed (if err is the
// request's cancellation, reading what is left of the body may tell),
// else err itself. The operation must be done reading.
func (b *uploadBody) failed(err error) error {
	if err == nil {
		return nil
	}
	berr := b.readErr()
	if berr == nil && errors.Is(err, context.Canceled) {
		// The request's context ends when the client closes its side of
		// the connection, which a client may do right after sending a
		// body that is cut short or framed wrongly: the operation can
		// then stop on the cancellation before it reads the failure.
		// What is left of the body has arrived or never will: read some
		// of it to find out.
		_, _ = io.CopyN(io.Discard, b, drainLimit)
		berr = b.readErr()
	}
	if berr == nil {
		return err
	}
	return bodyError(berr)
}

// drainLimit bounds what failed reads of a body after the request's
// context ended.
const drainLimit = 1 << 20

func (b *uploadBody) readErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// bodyError is the client's error for a failure to read the request body:
// ETooLarge past the limit, else EInvalid "reading the request body: ...".
func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return paddock.Errorf(paddock.ETooLarge, "the request body exceeds the limit of %d bytes", tooBig.Limit)
	case paddock.ErrorCode(err) != paddock.EInternal:
		return err // already says what is wrong (errReader's)
	}
	return paddock.Errorf(paddock.EInvalid, "reading the request body: %v", err)
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
	if knownLength(info) {
		w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(path.Base(info.Path), `"`, "")+`"`)
	w.Header().Set("Last-Modified", info.ModTime.UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, rc)
	return err
}

// knownLength reports whether a file's size says how much reading it
// gives. Files of /proc and /sys are made as they are read: their size
// is 0 (or a page) whatever they hold, so they are sent chunked, read to
// their end.
func knownLength(info paddock.FileInfo) bool {
	p := path.Clean(info.Path)
	return info.Size > 0 && !strings.HasPrefix(p, "/proc/") && !strings.HasPrefix(p, "/sys/")
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
	body := s.limitUpload(w, r)
	n, err := s.Files.WriteFile(r.Context(), env.ID, p, body, mode)
	if err != nil {
		return body.failed(err)
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

func (s *Server) handleFileStat(w http.ResponseWriter, r *http.Request) error {
	env, p, err := s.fileEnv(r)
	if err != nil {
		return err
	}
	info, err := s.Files.StatFile(r.Context(), env.ID, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info)
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
	body := s.limitUpload(w, r)
	skipped, err := s.Files.ExtractArchive(r.Context(), env.ID, p, body)
	if err != nil {
		return body.failed(err)
	}
	files, err := s.Files.ListFiles(r.Context(), env.ID, p)
	if err != nil {
		return err
	}
	out := archiveExtractResponse{Path: p, Files: files, Skipped: skipped}
	if out.Files == nil {
		out.Files = []paddock.FileInfo{}
	}
	if out.Skipped == nil {
		out.Skipped = []string{}
	}
	return writeJSON(w, http.StatusOK, out)
}
