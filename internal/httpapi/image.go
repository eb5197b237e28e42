package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/paddockhq/paddock"
)

// Images is the local image store.
type Images interface {
	Images(ctx context.Context) ([]*paddock.Image, error)
	Image(ctx context.Context, ref string) (*paddock.Image, error)
	Pull(ctx context.Context, ref string, progress func(paddock.ImageProgress)) (*paddock.Image, error)
	Import(ctx context.Context, name string, r io.Reader, progress func(paddock.ImageProgress)) (*paddock.Image, error)
	Build(ctx context.Context, name string, packages []string, suite string, progress func(paddock.ImageProgress)) (*paddock.Image, error)
	Remove(ctx context.Context, ref string) error
	// Snapshot stores the root file system in rootfs (a tar stream) as an
	// image with config's process defaults.
	Snapshot(ctx context.Context, name string, rootfs io.Reader, config paddock.ImageConfig, createdBy string, progress func(paddock.ImageProgress)) (*paddock.Image, error)
}

type snapshotRequest struct {
	Image string `json:"image" required:"true" description:"the name to store the image under, e.g. \"my-tools:1\""`
}

// handleEnvironmentSnapshot stores a running environment's files as an
// image (admin: images are everyone's). The image has one layer, the
// environment's root file system as it is (other file systems, such as
// /proc, /dev and /tmp when it is a tmpfs, left out), and the process
// defaults of the environment's image; not its env, which may hold
// secrets.
func (s *Server) handleEnvironmentSnapshot(w http.ResponseWriter, r *http.Request) error {
	env, err := s.environment(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	var req snapshotRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Image == "" {
		return paddock.Errorf(paddock.EInvalid, "field \"image\" is required")
	}
	if env.Status != paddock.EnvironmentRunning {
		return paddock.Errorf(paddock.EConflict, "environment %s is %s: only a running environment can be saved as an image", env.ID, env.Status)
	}
	var config paddock.ImageConfig
	if base, err := s.Images.Image(r.Context(), env.Image); err == nil {
		config = base.Config
	} else if paddock.ErrorCode(err) != paddock.ENotFound {
		return err
	}
	return s.runImageJob(w, r, func(ctx context.Context, p func(paddock.ImageProgress)) (*paddock.Image, error) {
		rc, err := s.Files.ArchiveDir(ctx, env.ID, "/")
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return s.Images.Snapshot(ctx, req.Image, rc, config, "paddock snapshot of "+env.ID+" ("+env.Image+")", p)
	})
}

type imageResponse struct {
	Name      string    `json:"name"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Source    string    `json:"source" enum:"pull,import,build,snapshot"`
	CreatedAt time.Time `json:"created_at"`
}

func toImageResponse(i *paddock.Image) imageResponse {
	return imageResponse{Name: i.Name, Digest: i.Digest, Size: i.Size, Source: i.Source, CreatedAt: i.CreatedAt}
}

type imageListResponse struct {
	Images []imageResponse `json:"images"`
}

type imageCreateRequest struct {
	Action   string   `json:"action" required:"true" enum:"pull,build"`
	Name     string   `json:"name" required:"true" description:"reference to pull, or name of the image to build"`
	Packages []string `json:"packages,omitempty" description:"build: Debian packages to install"`
	Suite    string   `json:"suite,omitempty" description:"build: Debian suite (default bookworm)"`
}

type imageImportParams struct {
	Name string `query:"name" description:"name for the image; default: the tag inside the archive"`
}

type imageNameParam struct {
	Name string `path:"name" description:"image reference, e.g. python:3.11-slim"`
}

func (s *Server) handleImageList(w http.ResponseWriter, r *http.Request) error {
	imgs, err := s.Images.Images(r.Context())
	if err != nil {
		return err
	}
	out := imageListResponse{Images: make([]imageResponse, len(imgs))}
	for i, img := range imgs {
		out.Images[i] = toImageResponse(img)
	}
	return writeJSON(w, http.StatusOK, out)
}

// handleImageCreate pulls or builds an image. With Accept:
// text/event-stream it streams "progress" events, then one "image" event
// (or "error"); otherwise it answers when done.
func (s *Server) handleImageCreate(w http.ResponseWriter, r *http.Request) error {
	var req imageCreateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" {
		return paddock.Errorf(paddock.EInvalid, "field \"name\" is required")
	}
	var run func(ctx context.Context, progress func(paddock.ImageProgress)) (*paddock.Image, error)
	switch req.Action {
	case "pull":
		if len(req.Packages) > 0 || req.Suite != "" {
			return paddock.Errorf(paddock.EInvalid, "fields \"packages\" and \"suite\" apply to action build only")
		}
		run = func(ctx context.Context, p func(paddock.ImageProgress)) (*paddock.Image, error) {
			return s.Images.Pull(ctx, req.Name, p)
		}
	case "build":
		run = func(ctx context.Context, p func(paddock.ImageProgress)) (*paddock.Image, error) {
			return s.Images.Build(ctx, req.Name, req.Packages, req.Suite, p)
		}
	default:
		return paddock.Errorf(paddock.EInvalid, "field \"action\" must be pull or build, not %q (import with POST /api/v1/images/import)", req.Action)
	}
	return s.runImageJob(w, r, run)
}

// handleImageImport imports a `docker save` or OCI layout archive sent as
// the request body, streamed (never held in memory). Like pull and build,
// it is for admins: the image it stores under a name is what every later
// environment of that name runs.
func (s *Server) handleImageImport(w http.ResponseWriter, r *http.Request) error {
	body := limitBody(w, r, s.cfg.MaxImportBytes)
	if wantsSSE(r) {
		// Progress events go out while the archive comes in. Without
		// this, net/http reads away (and drops) the rest of an HTTP/1
		// body once the response starts.
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			return fmt.Errorf("import with progress: %w", err)
		}
	}
	return s.runImageJob(w, r, func(ctx context.Context, p func(paddock.ImageProgress)) (*paddock.Image, error) {
		img, err := s.Images.Import(ctx, r.URL.Query().Get("name"), body, p)
		return img, body.failed(err)
	})
}

func (s *Server) runImageJob(w http.ResponseWriter, r *http.Request, run func(context.Context, func(paddock.ImageProgress)) (*paddock.Image, error)) error {
	if !wantsSSE(r) {
		img, err := run(r.Context(), nil)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, toImageResponse(img))
	}
	sse := startSSE(w)
	var mu sync.Mutex // progress may be reported from several goroutines
	last := time.Time{}
	img, err := run(r.Context(), func(p paddock.ImageProgress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Phase == "download" || p.Phase == "unpack" { // at most 10 byte counts a second
			if now := time.Now(); now.Sub(last) < 100*time.Millisecond && p.Current != p.Total {
				return
			} else {
				last = now
			}
		}
		b, _ := json.Marshal(p)
		_ = sse.event("", "progress", string(b))
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		code := paddock.ErrorCode(err)
		if code == paddock.EInternal {
			s.log.ErrorContext(r.Context(), "image job failed", "request_id", requestID(r.Context()), "err", err)
		}
		b, _ := json.Marshal(errorBody(surfaceEnvironments, code, paddock.ErrorMessage(err)))
		return sse.event("", "error", string(b))
	}
	b, _ := json.Marshal(toImageResponse(img))
	return sse.event("", "image", string(b))
}

// handleImageDelete removes an image. Environments share its unpacked tree
// read-only, so the store refuses (EConflict, naming them) to delete a
// tree live environments run on, as it refuses to replace one.
func (s *Server) handleImageDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Images.Remove(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
