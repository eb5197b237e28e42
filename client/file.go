package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// FileInfo describes a file in an environment.
type FileInfo struct {
	Name       string    `json:"name"`
	Path       string    `json:"path"`
	Size       int64     `json:"size"`
	Mode       string    `json:"mode"`
	Perm       uint32    `json:"perm"`
	ModTime    time.Time `json:"mtime"`
	Type       string    `json:"type"`
	LinkTarget string    `json:"link_target,omitempty"`
}

func filesPath(id, suffix, path string, kv ...string) string {
	return "/api/v1/environments/" + url.PathEscape(id) + "/files" + suffix + query(append([]string{"path", path}, kv...)...)
}

// ListFiles lists a directory in an environment.
func (c *Client) ListFiles(ctx context.Context, id, path string) ([]FileInfo, error) {
	var v struct {
		Files []FileInfo `json:"files"`
	}
	return v.Files, c.do(ctx, "GET", filesPath(id, "/list", path), nil, &v)
}

// StatFile describes the file at path; a symlink is described, not
// followed.
func (c *Client) StatFile(ctx context.Context, id, path string) (*FileInfo, error) {
	var fi FileInfo
	if err := c.do(ctx, "GET", filesPath(id, "/stat", path), nil, &fi); err != nil {
		return nil, err
	}
	return &fi, nil
}

// PutFile uploads r as the file at path, streamed.
func (c *Client) PutFile(ctx context.Context, id, path string, r io.Reader, mode uint32) error {
	return c.do(ctx, "PUT", filesPath(id, "", path, "mode", "0"+strconv.FormatUint(uint64(mode&0o7777), 8)), r, nil)
}

// GetFile downloads the file at path; the caller closes it.
func (c *Client) GetFile(ctx context.Context, id, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", filesPath(id, "", path), nil, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// PutArchive extracts a tar stream into the directory at path.
func (c *Client) PutArchive(ctx context.Context, id, path string, tar io.Reader) error {
	return c.do(ctx, "PUT", filesPath(id, "/archive", path), tar, nil)
}

// GetArchive returns a tar stream of the directory at path.
func (c *Client) GetArchive(ctx context.Context, id, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", filesPath(id, "/archive", path), nil, http.Header{"Accept": {"application/x-tar"}})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
