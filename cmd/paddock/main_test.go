package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/store"
	"testing"
	"time"
)

// testServer is a real Paddock server on 127.0.0.1:0 with its own data
// directory, driven over HTTP.
type testServer struct {
	*Main
	url string
}

const testAdminPassword = "admin-password-1"

// serverSeq numbers the test servers of this process.
var serverSeq atomic.Int64

// startServer starts Paddock with test defaults; edit adjusts the config.
func startServer(t testing.TB, edit func(*Config)) *testServer {
	t.Helper()
	cfg := defaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	// The environments' unprivileged root must traverse to their rootfs.
	for d := cfg.Data; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	cfg.AdminPassword = testAdminPassword
	cfg.Log.Requests = false
	cfg.RateLimits.Auth = 1000
	cfg.RateLimits.Other = 10000
	cfg.RateLimits.LoginFailures = 1000
	cfg.Sandbox.GuestBinary = guestBin
	// Servers of parallel tests, and of test processes running at the
	// same time, must not share the bridge, table or subnet.
	n, pid := serverSeq.Add(1), os.Getpid()
	cfg.Network.Bridge = fmt.Sprintf("pdk%dx%d", pid%100000, n)
	cfg.Network.Table = fmt.Sprintf("paddock_%d_%d", pid, n)
	cfg.Network.Subnet = fmt.Sprintf("10.%d.%d.0/24", 200+pid%50, n%250) // the CLI tests use 10.148-149
	// Tests never send traffic off this machine: DNS asks a dead local port.
	cfg.Network.DNS = []string{"127.0.0.1:1"}
	cfg.Sandbox.StopGrace = Duration(2 * time.Second)
	if edit != nil {
		edit(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	m := NewMain(cfg, log)
	m.Getenv = func(string) string { return "" } // no real LLM provider, ever
	envs, _ := testGetenv.Load().(map[string]func(string) string)
	if getenv, ok := envs[t.Name()]; ok {
		m.Getenv = getenv
	}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatalf("start server: %v", err)
	}
	s := &testServer{Main: m, url: m.URL()}
	t.Cleanup(func() {
		s.deleteEnvironments(t) // environments outlive the server by design
		if err := m.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
		if m.netw != nil { // the bridge and rules would outlive the test
			if err := m.netw.Destroy(context.Background()); err != nil {
				t.Errorf("remove the test network: %v", err)
			}
		}
	})
	return s
}

// deleteEnvironments force-deletes every environment that has not ended,
// in process: tests may have deleted the admin or spent its rate limits.
func (s *testServer) deleteEnvironments(t testing.TB) {
	if s.Main == nil || s.Main.closed || s.Main.manager == nil {
		return
	}
	envs, _, err := store.NewEnvironmentService(s.db).Environments(context.Background(), paddock.EnvironmentFilter{})
	if err != nil {
		t.Errorf("list environments to delete: %v", err)
		return
	}
	for _, e := range envs {
		if !e.Status.Done() {
			if err := s.manager.Delete(context.Background(), e.ID, true); err != nil {
				t.Errorf("delete environment %s: %v", e.ID, err)
			}
		}
	}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v, failing the test on malformed JSON.
func (r *response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// m decodes the body as a JSON object.
func (r *response) m(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	r.json(t, &v)
	return v
}

// message returns the error message of an error body in any surface's shape.
func (r *response) message(t *testing.T) string {
	t.Helper()
	var v struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	}
	r.json(t, &v)
	switch e := v.Error.(type) {
	case map[string]any:
		msg, _ := e["message"].(string)
		return msg
	}
	if v.Detail != "" {
		return v.Detail
	}
	return v.Message
}

// req is one request to send.
type req struct {
	method, path string
	token        string
	body         any // string or []byte sent as is; anything else as JSON
	contentType  string
	header       map[string]string
}

func (s *testServer) do(t testing.TB, rq req) *response {
	t.Helper()
	var body io.Reader
	ct := rq.contentType
	switch b := rq.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader: // sent chunked: its length is not known ahead
		body = b
	case url.Values:
		body = strings.NewReader(b.Encode())
		if ct == "" {
			ct = "application/x-www-form-urlencoded"
		}
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
		if ct == "" {
			ct = "application/json"
		}
	}
	r, err := http.NewRequest(rq.method, s.url+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if rq.token != "" {
		r.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	// A guard against hangs, not a performance assertion: under -race with
	// every sandbox test pulling its image at once, a pull can take a while.
	c := &http.Client{Timeout: 3 * time.Minute}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// expect sends rq and fails unless the status is want.
func (s *testServer) expect(t testing.TB, want int, rq req) *response {
	t.Helper()
	r := s.do(t, rq)
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", rq.method, rq.path, r.status, want, r.body)
	}
	return r
}

// login returns an access token from the seed 004 login endpoint.
func (s *testServer) login(t testing.TB, username, password string) string {
	t.Helper()
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"username": username, "password": password}})
	return r.m(t)["token"].(string)
}

// createUser makes a user with role "user" (through the admin API) and
// returns a token for it.
func (s *testServer) createUser(t *testing.T, admin, username string) string {
	t.Helper()
	s.expect(t, 201, req{method: "POST", path: "/api/v1/admin/sys/users", token: admin,
		body: map[string]string{"username": username, "password": "password-" + username, "email": username + "@example.com"}})
	return s.login(t, username, "password-"+username)
}

// routes lists the server's routes as "METHOD /path".
func (s *testServer) routes() []string { return s.api.Routes() }

// unzip reads a zip archive: its entries' names in order, and their
// contents by name.
func unzip(t testing.TB, b []byte) ([]string, map[string]string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	var names []string
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("zip entry %s: %v", f.Name, err)
		}
		names = append(names, f.Name)
		files[f.Name] = string(content)
	}
	return names, files
}
