package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImagesAPI checks the images routes: pulls through the mirror (admin
// only, with SSE progress), import of a docker save archive, listing, and
// removal refused while an environment uses the image.
func TestImagesAPI(t *testing.T) {
	t.Parallel()
	s := startSandboxServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "imgs")

	// Pull: admin only; with Accept: text/event-stream, progress then the image.
	s.expect(t, 403, req{method: "POST", path: "/api/v1/images", token: user, body: map[string]string{"action": "pull", "name": "python:3.11-slim"}})
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/images", token: admin, body: map[string]string{"action": "pull", "name": "python:3.11-slim"},
		header: map[string]string{"Accept": "text/event-stream"}})
	if body := string(r.body); !strings.Contains(body, "event: progress") || !strings.Contains(body, "event: image") || !strings.Contains(body, `"name":"python:3.11-slim"`) {
		t.Errorf("pull stream:\n%.2000s", body)
	}
	if r := s.expect(t, 201, req{method: "POST", path: "/api/v1/images", token: admin, body: map[string]string{"action": "pull", "name": "python:3.11-slim"}}).m(t); !strings.HasPrefix(r["digest"].(string), "sha256:") {
		t.Errorf("pull: %v", r)
	}
	s.expect(t, 400, req{method: "POST", path: "/api/v1/images", token: admin, body: map[string]string{"action": "steal", "name": "x"}})
	if r := s.do(t, req{method: "POST", path: "/api/v1/images", token: admin, body: map[string]string{"action": "pull", "name": "Not A Ref!"}}); r.status != 400 {
		t.Errorf("bad reference: %d %s", r.status, r.body)
	}

	// Import a docker save archive as any user.
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := tarball.Write(name.MustParseReference("example.com/tools:1"), img, &archive); err != nil {
		t.Fatal(err)
	}
	if r := s.expect(t, 201, req{method: "POST", path: "/api/v1/images/import?name=tools:1", token: user, body: archive.Bytes(), contentType: "application/x-tar"}).m(t); r["name"] != "tools:1" || r["source"] != "import" {
		t.Errorf("import: %v", r)
	}
	s.expect(t, 400, req{method: "POST", path: "/api/v1/images/import?name=junk:1", token: user, body: "not a tar", contentType: "application/x-tar"})
	list := string(s.expect(t, 200, req{method: "GET", path: "/api/v1/images", token: user}).body)
	if !strings.Contains(list, `"python:3.11-slim"`) || !strings.Contains(list, `"tools:1"`) {
		t.Errorf("list: %s", list)
	}

	// Removal: admin only, refused while an environment uses the image.
	id := s.createRunning(t, admin, envSpec)
	s.expect(t, 403, req{method: "DELETE", path: "/api/v1/images/tools:1", token: user})
	r = s.expect(t, 409, req{method: "DELETE", path: "/api/v1/images/python:3.11-slim", token: admin})
	if !strings.Contains(r.message(t), id) {
		t.Errorf("delete in use: %s", r.message(t))
	}
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/images/tools:1", token: admin})
	s.expect(t, 404, req{method: "DELETE", path: "/api/v1/images/tools:1", token: admin})
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/environments/" + id + "?force=true", token: admin})
	s.expect(t, 204, req{method: "DELETE", path: "/api/v1/images/python:3.11-slim", token: admin})
}
