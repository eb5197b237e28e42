package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Image is an image in the server's local store.
type Image struct {
	Name      string    `json:"name"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
}

// ImageProgress reports how a pull, import or build is going.
type ImageProgress struct {
	Phase   string `json:"phase"`
	Current int64  `json:"current"`
	Total   int64  `json:"total"`
	Message string `json:"message"`
}

// Images lists the images in the store.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	var v struct {
		Images []Image `json:"images"`
	}
	return v.Images, c.do(ctx, "GET", "/api/v1/images", nil, &v)
}

// PullImage pulls ref into the server's store, reporting progress.
func (c *Client) PullImage(ctx context.Context, ref string, progress func(ImageProgress)) (*Image, error) {
	return c.imageJob(ctx, "/api/v1/images", map[string]any{"action": "pull", "name": ref}, progress)
}

// BuildImage builds a Debian image with packages.
func (c *Client) BuildImage(ctx context.Context, name string, packages []string, suite string, progress func(ImageProgress)) (*Image, error) {
	return c.imageJob(ctx, "/api/v1/images", map[string]any{"action": "build", "name": name, "packages": packages, "suite": suite}, progress)
}

// ImportImage uploads a docker save or OCI layout archive.
func (c *Client) ImportImage(ctx context.Context, name string, archive io.Reader, progress func(ImageProgress)) (*Image, error) {
	return c.imageJob(ctx, "/api/v1/images/import"+query("name", name), archive, progress)
}

// SnapshotEnvironment saves a running environment's files as image name
// (admin).
func (c *Client) SnapshotEnvironment(ctx context.Context, id, name string, progress func(ImageProgress)) (*Image, error) {
	return c.imageJob(ctx, "/api/v1/environments/"+url.PathEscape(id)+"/snapshot", map[string]string{"image": name}, progress)
}

func (c *Client) imageJob(ctx context.Context, path string, in any, progress func(ImageProgress)) (*Image, error) {
	resp, err := c.send(ctx, "POST", path, in, http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var img *Image
	err = readEvents(resp.Body, func(ev Event) error {
		switch ev.Name {
		case "progress":
			var p ImageProgress
			if json.Unmarshal([]byte(ev.Data), &p) == nil && progress != nil {
				progress(p)
			}
		case "image":
			img = &Image{}
			return json.Unmarshal([]byte(ev.Data), img)
		case "error":
			return eventError(ev, resp)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, fmt.Errorf("the server closed the stream without a result")
	}
	return img, nil
}

// RemoveImage removes an image from the store.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	return c.do(ctx, "DELETE", "/api/v1/images/"+(&url.URL{Path: ref}).EscapedPath(), nil, nil)
}
