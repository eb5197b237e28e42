package main

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// execOK runs a command in an environment and returns its stdout.
func (s *testServer) execOK(t *testing.T, tok, id string, args ...string) string {
	t.Helper()
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/environments/" + id + "/exec", token: tok, body: map[string]any{"command": args}}).m(t)
	if r["exit_code"] != float64(0) {
		t.Fatalf("%v: %v", args, r)
	}
	return r["stdout"].(string)
}

// waitHTTP polls a proxied URL until it answers 200.
func (s *testServer) waitHTTP(t *testing.T, tok, path string) *response {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := s.do(t, req{method: "GET", path: path, token: tok})
		if r.status == 200 {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestPortProxy(t *testing.T) {
	t.Parallel()
	s := startSandboxServer(t, nil)
	tok := s.login(t, "admin", testAdminPassword)
	// No internet and no ingress from the network: the proxy goes through
	// the guest, whatever the policy.
	id := s.createRunning(t, tok, withSpec(map[string]any{"isolation": map[string]any{"network_policy": map[string]any{
		"allow_internet": false, "allowed_ingress_ports": []int{8080}}}}))
	base := "/api/v1/environments/" + id + "/ports/"
	s.execOK(t, tok, id, "sh", "-c", "mkdir -p /srv/site && echo '<h1>hello from the sandbox</h1>' > /srv/site/index.html && cd /srv/site && (python3 -m http.server 8080 --bind 127.0.0.1 >/dev/null 2>&1 &)")

	r := s.waitHTTP(t, tok, base+"8080/index.html")
	if !strings.Contains(string(r.body), "hello from the sandbox") {
		t.Errorf("proxied body %q", r.body)
	}
	if r := s.do(t, req{method: "GET", path: base + "8080/index.html"}); r.status != 401 {
		t.Errorf("without credentials: %d", r.status)
	}
	if r := s.do(t, req{method: "GET", path: base + "8080", token: tok}); r.status != 200 || !strings.Contains(string(r.body), "hello from the sandbox") {
		t.Errorf("the port's root (after the redirect to the trailing slash): %d", r.status)
	}
	if r := s.do(t, req{method: "GET", path: base + "9090/", token: tok}); r.status != 403 {
		t.Errorf("a port that is not exposed: %d %s", r.status, r.body)
	}
	// The environment's endpoint is its address, which the host reaches
	// its allowed ingress ports at.
	var env struct{ Endpoint string }
	s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + id, token: tok}).json(t, &env)
	if addr, err := netip.ParseAddr(env.Endpoint); err != nil || !addr.Is4() {
		t.Fatalf("endpoint %q is not an address", env.Endpoint)
	}
	s.execOK(t, tok, id, "sh", "-c", "cd /srv/site && (python3 -m http.server 8080 --bind "+env.Endpoint+" >/dev/null 2>&1 &)")
	var direct string
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + env.Endpoint + ":8080/index.html"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if direct = string(b); resp.StatusCode == 200 {
				break
			}
		}
	}
	if !strings.Contains(direct, "hello from the sandbox") {
		t.Errorf("http://%s:8080/ from the host: %q", env.Endpoint, direct)
	}

	// Exposing a port later, and the listing.
	s.execOK(t, tok, id, "sh", "-c", "cd /srv/site && (python3 -m http.server 9090 --bind 127.0.0.1 >/dev/null 2>&1 &)")
	if r := s.expect(t, 201, req{method: "POST", path: "/api/v1/environments/" + id + "/ports", token: tok, body: map[string]int{"port": 9090}}).m(t); !strings.HasSuffix(r["url"].(string), base+"9090/") {
		t.Errorf("expose: %v", r)
	}
	s.waitHTTP(t, tok, base+"9090/index.html")
	var ports struct{ Ports []struct{ Port int } }
	s.expect(t, 200, req{method: "GET", path: "/api/v1/environments/" + id + "/ports", token: tok}).json(t, &ports)
	if len(ports.Ports) != 2 {
		t.Errorf("ports %+v", ports)
	}
	s.expect(t, 400, req{method: "POST", path: "/api/v1/environments/" + id + "/ports", token: tok, body: map[string]int{"port": 70000}})
	// A port nothing listens on: a clear 503.
	s.expect(t, 201, req{method: "POST", path: "/api/v1/environments/" + id + "/ports", token: tok, body: map[string]int{"port": 7777}})
	if r := s.do(t, req{method: "GET", path: base + "7777/", token: tok}); r.status != 503 {
		t.Errorf("nothing listening: %d %s", r.status, r.body)
	}

	t.Run("browser ticket and cookie", func(t *testing.T) {
		link := s.expect(t, 201, req{method: "POST", path: base + "8080/ticket", token: tok}).m(t)["url"].(string)
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar}
		resp, err := browser.Get(link) // no Authorization: the ticket signs in, the cookie keeps it
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Request.URL.Query().Get("ticket") != "" {
			t.Fatalf("ticket link: %d at %s", resp.StatusCode, resp.Request.URL)
		}
		resp, err = browser.Get(s.url + base + "8080/index.html")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("with the cookie: %d", resp.StatusCode)
		}
		if resp, _ := (&http.Client{}).Get(link); resp != nil && resp.StatusCode != 401 {
			t.Errorf("a used ticket: %d", resp.StatusCode)
		}
	})

	t.Run("websocket", func(t *testing.T) {
		script, err := os.ReadFile("testdata/wsecho.py")
		if err != nil {
			t.Fatal(err)
		}
		s.expect(t, 201, req{method: "PUT", path: "/api/v1/environments/" + id + "/files?path=/srv/wsecho.py", token: tok, body: script, contentType: "application/octet-stream"})
		s.execOK(t, tok, id, "sh", "-c", "(python3 /srv/wsecho.py 8765 >/dev/null 2>&1 &) ; true")
		s.expect(t, 201, req{method: "POST", path: "/api/v1/environments/" + id + "/ports", token: tok, body: map[string]int{"port": 8765}})
		wsURL := "ws" + strings.TrimPrefix(s.url, "http") + base + "8765/socket"
		var conn *websocket.Conn
		deadline := time.Now().Add(20 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
			cancel()
			if err == nil {
				conn = c
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("websocket through the proxy: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		defer conn.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := conn.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		_, b, err := conn.Read(ctx)
		if err != nil || string(b) != "echo:ping" {
			t.Errorf("echo %q, %v", b, err)
		}
	})
}

// counterServer is a Python program whose counter lives only in memory,
// served on 127.0.0.1:8000.
const counterServer = `import http.server, threading, time
n = 0
def tick():
    global n
    while True:
        n += 1
        time.sleep(0.01)
threading.Thread(target=tick, daemon=True).start()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(str(n).encode())
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", 8000), H).serve_forever()
`

func TestPauseResume(t *testing.T) {
	t.Parallel()
	s := startSandboxServer(t, nil)
	tok := s.login(t, "admin", testAdminPassword)
	id := s.createRunning(t, tok, envSpec)
	base := "/api/v1/environments/" + id
	s.expect(t, 201, req{method: "PUT", path: base + "/files?path=/srv.py", token: tok, body: counterServer, contentType: "application/octet-stream"})
	s.execOK(t, tok, id, "sh", "-c", "(python3 /srv.py >/dev/null 2>&1 &) ; true")
	s.expect(t, 201, req{method: "POST", path: base + "/ports", token: tok, body: map[string]int{"port": 8000}})
	counter := func() int {
		r := s.waitHTTP(t, tok, base+"/ports/8000/")
		n, _ := strconv.Atoi(string(r.body))
		return n
	}
	before := counter()
	e := s.expect(t, 200, req{method: "POST", path: base + "/pause", token: tok, body: map[string]string{"mode": "freeze"}}).m(t)
	if e["status"] != "paused" {
		t.Fatalf("after pause: %v", e)
	}
	r := s.expect(t, 409, req{method: "POST", path: base + "/exec", token: tok, body: map[string]any{"command": []string{"true"}}})
	if !strings.Contains(r.message(t), "paused") {
		t.Errorf("exec while paused: %s", r.message(t))
	}
	s.expect(t, 409, req{method: "POST", path: base + "/pause", token: tok})
	s.expect(t, 400, req{method: "POST", path: base + "/pause", token: tok, body: map[string]string{"mode": "nap"}})
	time.Sleep(300 * time.Millisecond) // frozen: the counter must not move meanwhile
	e = s.expect(t, 200, req{method: "POST", path: base + "/resume", token: tok}).m(t)
	if e["status"] != "running" {
		t.Fatalf("after resume: %v", e)
	}
	after := counter()
	if after < before {
		t.Errorf("the counter went from %d to %d: the process restarted", before, after)
	}
	if after-before > 150 {
		t.Errorf("the counter moved by %d across a frozen pause: it was not frozen", after-before)
	}
	s.expect(t, 409, req{method: "POST", path: base + "/resume", token: tok})

	// Extending the lifetime from now.
	e = s.expect(t, 200, req{method: "PATCH", path: base, token: tok, body: map[string]int{"timeout": 7200}}).m(t)
	exp, err := time.Parse(time.RFC3339Nano, e["expires_at"].(string))
	if err != nil || time.Until(exp) < 7100*time.Second || time.Until(exp) > 7300*time.Second {
		t.Errorf("expires_at after PATCH: %v (%v)", e["expires_at"], err)
	}
	s.expect(t, 400, req{method: "PATCH", path: base, token: tok, body: map[string]int{"timeout": 0}})
	s.expect(t, 400, req{method: "PATCH", path: base, token: tok, body: map[string]any{}})
	// A lifetime that would overflow is refused, naming the limit; the
	// longest, 30 days, ends 30 days from now.
	for _, huge := range []int64{10000000000, math.MaxInt64} {
		r := s.expect(t, 400, req{method: "PATCH", path: base, token: tok, body: map[string]int64{"timeout": huge}})
		if !strings.Contains(r.message(t), `field "timeout" must be between 1 and 2592000 seconds (30 days)`) {
			t.Errorf("PATCH timeout %d: %s", huge, r.message(t))
		}
	}
	e = s.expect(t, 200, req{method: "PATCH", path: base, token: tok, body: map[string]int{"timeout": 2592000}}).m(t)
	exp, err = time.Parse(time.RFC3339Nano, e["expires_at"].(string))
	if err != nil || time.Until(exp) < 30*24*time.Hour-time.Minute || time.Until(exp) > 30*24*time.Hour+time.Minute {
		t.Errorf("expires_at after PATCH of 30 days: %v (%v)", e["expires_at"], err)
	}
	if e := s.expect(t, 200, req{method: "GET", path: base, token: tok}).m(t); e["status"] != "running" {
		t.Errorf("after PATCH of 30 days: %v", e)
	}
	s.expect(t, 400, req{method: "POST", path: base + "/pause", token: tok, body: map[string]string{"mode": "hibernate"}}) // runc cannot hibernate
}
