package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/vishvananda/netns"
	"gopkg.in/yaml.v3"
)

// netHost is an HTTP server on a network namespace of its own, routed from
// the host like any machine next to it: sandboxes reach it only as their
// network policy allows. It listens on two addresses; test templates list
// only allowed's /30 in allowed_egress_cidrs.
type netHost struct {
	allowed, denied netip.Addr

	mu   sync.Mutex
	puts []putRecord
}

// putRecord is a PUT the server received.
type putRecord struct {
	path, query, contentType string
	contentLength            int64
	body                     []byte
}

// netHostBlob is what /blob.bin serves: bytes that are not UTF-8.
var netHostBlob = []byte{0x89, 'P', 'N', 'G', 0xff, 0xfe, 0x00, 0x01, 0x80}

func (h *netHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "GET" && r.URL.Path == "/data.txt":
		fmt.Fprint(w, "hello from the network\n")
	case r.Method == "GET" && r.URL.Path == "/blob.bin":
		w.Write(netHostBlob)
	case r.Method == "PUT" && r.URL.Path == "/upload":
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.puts = append(h.puts, putRecord{r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.ContentLength, b})
		h.mu.Unlock()
	case r.Method == "PUT" && r.URL.Path == "/refuse":
		io.Copy(io.Discard, r.Body)
		http.Error(w, "signature does not match", http.StatusForbidden)
	default:
		http.NotFound(w, r)
	}
}

func (h *netHost) received() []putRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]putRecord(nil), h.puts...)
}

// startNetHost creates the namespace, its veth pair and routes, and serves
// h on port 8000 of both addresses: allowed = 198.18.R.5 (on a /30 with the
// host at .6) and denied = 198.19.R.5, routed through it. The network
// tests use the .0/30 blocks of the same ranges.
func startNetHost(t *testing.T) *netHost {
	t.Helper()
	var b [3]byte
	rand.Read(b[:])
	r := b[0]
	h := &netHost{
		allowed: netip.AddrFrom4([4]byte{198, 18, r, 5}),
		denied:  netip.AddrFrom4([4]byte{198, 19, r, 5}),
	}
	suffix := hex.EncodeToString(b[1:])
	ns, link := "pdksbx-"+suffix, "pdksbx"+suffix
	hostSide := netip.AddrFrom4([4]byte{198, 18, r, 6})
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", link).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
	for _, c := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "addr", "add", hostSide.String() + "/30", "dev", link},
		{"ip", "link", "set", link, "up"},
		{"ip", "-n", ns, "addr", "add", h.allowed.String() + "/30", "dev", "eth0"},
		{"ip", "-n", ns, "addr", "add", h.denied.String() + "/32", "dev", "lo"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", hostSide.String()},
		{"ip", "route", "add", h.denied.String() + "/32", "via", h.allowed.String(), "dev", link},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	ln, err := listenInNetns(ns, "0.0.0.0:8000")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// Both addresses answer the host: what a sandbox cannot reach, its
	// policy refused.
	for _, a := range []netip.Addr{h.allowed, h.denied} {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + a.String() + ":8000/data.txt")
		if err != nil {
			t.Fatalf("the test host at %s: %v", a, err)
		}
		resp.Body.Close()
	}
	return h
}

// listenInNetns opens a TCP listener in the named network namespace: a
// socket belongs to the namespace it was created in, whichever thread
// serves it later.
func listenInNetns(name, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return nil, err
	}
	ln, lerr := net.Listen("tcp4", addr)
	if err := netns.Set(orig); err != nil {
		panic(fmt.Sprintf("cannot return to the original network namespace: %v", err))
	}
	return ln, lerr
}

// sandboxTemplatesYAML is the test server's sandbox templates, as an
// operator writes them under sandbox.templates; %s is the test host's
// allowed /30.
const sandboxTemplatesYAML = `
agents-backend-sandbox:
  image: python:3.11-slim
  resources: {cpu: 500m, memory: 512Mi, storage: 1Gi}
  isolation:
    network_policy: {allow_internet: false, allowed_egress_cidrs: [%s]}
  env: {TEMPLATE_VAR: from-template}
  ports: [8080]
  vscode_port: 9000
  timeout: 1800
default:
  resources: {cpu: 500m, memory: 256Mi, storage: 512Mi}
`

// platformLogin returns an access token from the platform surface's login.
func (s *testServer) platformLogin(t *testing.T, username, password string) string {
	t.Helper()
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/admin/auth/login", body: map[string]string{"username": username, "password": password}})
	return r.m(t)["access_token"].(string)
}

// platformError checks a platform-shaped error: its status, its code and
// that its detail mentions want.
func platformError(t *testing.T, r *response, status int, code, want string) {
	t.Helper()
	var e struct{ Detail, Code string }
	r.json(t, &e)
	if r.status != status || e.Code != code || !strings.Contains(e.Detail, want) {
		t.Errorf("got %d %s, want %d with code %s and a detail mentioning %q", r.status, r.body, status, code, want)
	}
}

// multipartBody encodes fields, then the file part, in order.
func multipartBody(t *testing.T, fields [][2]string, fileName string, content []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		mw.WriteField(f[0], f[1])
	}
	if fileName != "" {
		fw, err := mw.CreateFormFile("file", fileName)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(content)
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

func TestSandboxAPITemplatesConfig(t *testing.T) {
	t.Parallel()
	c := defaultConfig()
	got := c.sandboxTemplates()
	for _, name := range []string{"default", "agents-backend-sandbox"} {
		tp, ok := got[name]
		if !ok || tp.Image != "python:3.11-slim" || tp.Resources.CPU != "1" || tp.Resources.Memory != "1Gi" || tp.Resources.Storage != "2Gi" {
			t.Errorf("built-in template %s: %+v (present %v)", name, tp, ok)
		}
	}
	if len(got) != 2 {
		t.Errorf("built-in templates: %v", got)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "paddock.yaml")
	os.WriteFile(file, []byte("agents: {default_image: 'tools:1'}\nsandbox:\n  templates:\n"+indent(fmt.Sprintf(sandboxTemplatesYAML, "198.18.0.4/30"), "    ")), 0o600)
	c, err := loadConfig(quietFlags(), []string{"--config", file}, registerServeFlags)
	if err != nil {
		t.Fatal(err)
	}
	got = c.sandboxTemplates()
	a, d := got["agents-backend-sandbox"], got["default"]
	if len(got) != 2 || a.Image != "python:3.11-slim" || a.VSCodePort != 9000 || a.Timeout != 1800 || a.Env["TEMPLATE_VAR"] != "from-template" ||
		a.Isolation.NetworkPolicy == nil || *a.Isolation.NetworkPolicy.AllowInternet || a.Isolation.NetworkPolicy.AllowedEgressCIDRs[0] != "198.18.0.4/30" {
		t.Errorf("configured agents-backend-sandbox: %+v", a)
	}
	if d.Image != "tools:1" || d.Resources.Memory != "256Mi" || d.Resources.CPU != "500m" {
		t.Errorf("configured default (image from agents.default_image): %+v", d)
	}

	for bad, want := range map[string]string{
		"x: {ports: [70000]}":                                              "not a TCP port",
		"x: {isolation: {runtime_class: kata}}":                            "runc or gvisor",
		"x: {isolation: {network_policy: {allowed_egress_cidrs: [nope]}}}": "not a CIDR",
		"x: {imagee: python}":                                              "imagee",
	} {
		os.WriteFile(file, []byte("sandbox:\n  templates:\n"+indent(bad, "    ")), 0o600)
		if _, err := loadConfig(quietFlags(), []string{"--config", file}, registerServeFlags); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: %v, want an error mentioning %q", bad, err, want)
		}
	}
}

func quietFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimPrefix(s, "\n"), "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestSandboxAPI drives every route of seed 003's sandbox and slides API
// against real runc sandboxes: one made of agents-backend-sandbox for
// almost everything, and one of another user for ownership.
func TestSandboxAPI(t *testing.T) {
	t.Parallel()
	requireSandbox(t, "ip")
	host := startNetHost(t)
	allowedCIDR := netip.PrefixFrom(host.allowed, 30).Masked().String()
	s := startSandboxServer(t, func(c *Config) {
		c.MaxUploadBytes = 2 << 20
		dec := yaml.NewDecoder(strings.NewReader(fmt.Sprintf(sandboxTemplatesYAML, allowedCIDR)))
		dec.KnownFields(true)
		if err := dec.Decode(&c.Sandbox.Templates); err != nil {
			t.Fatal(err)
		}
	})
	admin := s.platformLogin(t, "admin", testAdminPassword)
	const base = "/api/v1/agent/sandboxes"

	// Seed 003's "Create Sandbox" example, verbatim.
	created := s.expect(t, 201, req{method: "POST", path: "/api/v1/agent/sandboxes", token: admin, body: `{"template_id": "agents-backend-sandbox"}`, contentType: "application/json"}).m(t)
	id, _ := created["sandbox_id"].(string)
	if !strings.HasPrefix(id, "env-") || created["status"] != "running" || created["template_id"] != "agents-backend-sandbox" ||
		created["vscode_url"] != s.url+"/api/v1/environments/"+id+"/ports/9000/" || created["mcp_url"] != s.url+"/api/v1/agent/sandboxes/"+id+"/mcp" {
		t.Fatalf("created %v", created)
	}
	sb := base + "/" + id

	t.Run("run-command", func(t *testing.T) {
		// Seed 003's "Run Command" example, verbatim: there is no npm in
		// this image, and the shell says so.
		r := s.expect(t, 200, req{method: "POST", path: base + "/run-command", token: admin, contentType: "application/json",
			body: fmt.Sprintf(`{
  "sandbox_id": %q,
  "command": "npm install"
}`, id)}).m(t)
		if r["sandbox_id"] != id || r["exit_code"] != float64(127) || !strings.Contains(r["stderr"].(string), "npm") {
			t.Errorf("npm install: %v", r)
		}
		r = s.expect(t, 200, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{
			"sandbox_id": id, "command": `echo "$TEMPLATE_VAR $GREETING" && pwd && python3 -c 'print(6*7)' && echo oops >&2; exit 3`,
			"cwd": "/tmp", "env": map[string]string{"GREETING": "hi"}, "timeout": 30,
		}}).m(t)
		if r["stdout"] != "from-template hi\n/tmp\n42\n" || r["stderr"] != "oops\n" || r["exit_code"] != float64(3) {
			t.Errorf("run-command: %v", r)
		}
		r = s.expect(t, 200, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{"sandbox_id": id, "command": "sleep 30", "timeout": 1}}).m(t)
		if r["timed_out"] != true {
			t.Errorf("timeout: %v", r)
		}
		platformError(t, s.do(t, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{"sandbox_id": id}}), 400, "BAD_REQUEST", `"command"`)
		platformError(t, s.do(t, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{"command": "true"}}), 400, "BAD_REQUEST", `"sandbox_id"`)
		platformError(t, s.do(t, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{"sandbox_id": "env-nope", "command": "true"}}), 404, "NOT_FOUND", "env-nope")
		platformError(t, s.do(t, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{"sandbox_id": id, "command": "true", "timeout": 0}}), 400, "BAD_REQUEST", `"timeout"`)
		platformError(t, s.do(t, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{"sandbox_id": id, "command": "true", "env": map[string]string{"A=B": "x"}}}), 400, "BAD_REQUEST", `invalid variable name "A=B"`)
	})

	t.Run("mcp", func(t *testing.T) {
		// An MCP client given mcp_url and the Authorization header
		// lists the sandbox's tools and runs them.
		ctx := context.Background()
		connect := func(token, url string) (*mcp.ClientSession, error) {
			tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearerTransport(token)}}
			return mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, tr, nil)
		}
		cs, err := connect(admin, created["mcp_url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		tools, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range tools.Tools {
			names = append(names, tool.Name)
		}
		if strings.Join(names, ",") != "list_files,read_file,run_command,write_file" {
			t.Errorf("tools %v", names)
		}
		call := func(name string, args map[string]any) *mcp.CallToolResult {
			t.Helper()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return res
		}
		text := func(res *mcp.CallToolResult) string {
			if len(res.Content) == 0 {
				return ""
			}
			tc, _ := res.Content[0].(*mcp.TextContent)
			return tc.Text
		}
		if res := call("write_file", map[string]any{"path": "/tmp/mcp/hello.py", "content": "print(6*7)\n"}); res.IsError || !strings.Contains(text(res), "/tmp/mcp/hello.py") {
			t.Errorf("write_file: %+v", res)
		}
		res := call("run_command", map[string]any{"command": "python3 hello.py; echo err >&2", "cwd": "/tmp/mcp"})
		out, _ := res.StructuredContent.(map[string]any)
		if res.IsError || text(res) != "42\n\n[stderr]\nerr\n\n[exit code 0]" || out["stdout"] != "42\n" || out["exit_code"] != 0.0 || out["sandbox_id"] != id {
			t.Errorf("run_command: %q %v", text(res), res.StructuredContent)
		}
		if res := call("run_command", map[string]any{"command": "exit 4"}); !res.IsError || !strings.Contains(text(res), "[exit code 4]") {
			t.Errorf("a failing command: %q", text(res))
		}
		if res := call("read_file", map[string]any{"path": "/tmp/mcp/hello.py"}); res.IsError || text(res) != "print(6*7)\n" {
			t.Errorf("read_file: %q", text(res))
		}
		if res := call("list_files", map[string]any{"path": "/tmp/mcp"}); res.IsError || !strings.Contains(text(res), "hello.py") {
			t.Errorf("list_files: %q", text(res))
		}
		for name, args := range map[string]map[string]any{
			"read_file":   {"path": "/tmp/mcp/nope"},
			"run_command": {"command": " "},
			"write_file":  {"path": "/tmp/x", "content": "!", "encoding": "rot13"},
		} {
			if res := call(name, args); !res.IsError || text(res) == "" || strings.Contains(text(res), "internal") {
				t.Errorf("%s %v: %+v", name, args, res)
			}
		}
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "rm_rf", Arguments: map[string]any{}}); err == nil {
			t.Error("an unknown tool was called")
		}
		// A client that gives up on a command stops it: its result has
		// nowhere to go.
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = cs.CallTool(short, &mcp.CallToolParams{Name: "run_command", Arguments: map[string]any{"command": "echo $$ > /tmp/mcp/pid; exec sleep 60"}})
		cancel()
		if err == nil {
			t.Fatal("a 60 s command returned within 2 s")
		}
		pid := strings.TrimSpace(s.execOK(t, admin, id, "cat", "/tmp/mcp/pid"))
		for deadline := time.Now().Add(10 * time.Second); ; {
			if s.execOK(t, admin, id, "sh", "-c", "kill -0 "+pid+" 2>/dev/null && echo alive || echo gone") == "gone\n" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the command of a client that hung up still runs 10 s later")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Not another user's sandbox, nor with a read-only key; the
		// environments surface serves it too.
		bob := s.createUser(t, admin, "mcpbob")
		if _, err := connect(bob, created["mcp_url"].(string)); err == nil {
			t.Error("another user connected")
		}
		readKey := s.expect(t, 201, req{method: "POST", path: "/api/v1/api-keys", token: admin, body: map[string]any{
			"permissions": []map[string]string{{"environment_id": id, "permission": "read"}}}}).m(t)["key"].(string)
		r := s.do(t, req{method: "POST", path: sb + "/mcp", token: readKey, contentType: "application/json", body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			header: map[string]string{"Accept": "application/json, text/event-stream"}})
		if r.status != 403 || !strings.Contains(string(r.body), "write") {
			t.Errorf("a read-only key: %d %s", r.status, r.body)
		}
		s.expect(t, 405, req{method: "GET", path: sb + "/mcp", token: admin})
		cs2, err := connect(admin, s.url+"/api/v1/environments/"+id+"/mcp")
		if err != nil {
			t.Fatal(err)
		}
		cs2.Close()
	})

	t.Run("wrong methods on actions", func(t *testing.T) {
		// The {id} routes take GET and DELETE: an action's name there is
		// the wrong method on the action, not an unknown sandbox.
		for _, action := range []string{"run-command", "read-file", "write-file", "upload-file", "upload-from-url", "download-to-presigned", "connect"} {
			for _, method := range []string{"GET", "DELETE"} {
				for _, path := range []string{base + "/" + action, "/agent/sandboxes/" + action} {
					r := s.do(t, req{method: method, path: path, token: admin})
					platformError(t, r, 405, "METHOD_NOT_ALLOWED", method+" is not allowed on /api/v1/agent/sandboxes/"+action+"; allowed: POST")
					if r.header.Get("Allow") != "POST" {
						t.Errorf("%s %s: Allow %q", method, path, r.header.Get("Allow"))
					}
				}
			}
		}
		// Sandbox ids still reach their routes.
		platformError(t, s.do(t, req{method: "GET", path: base + "/env-nope", token: admin}), 404, "NOT_FOUND", "env-nope")
		platformError(t, s.do(t, req{method: "DELETE", path: base + "/env-nope", token: admin}), 404, "NOT_FOUND", "env-nope")
	})

	t.Run("status, info and urls", func(t *testing.T) {
		g := s.expect(t, 200, req{method: "GET", path: sb, token: admin}).m(t)
		if g["sandbox_id"] != id || g["status"] != "running" || g["template_id"] != "agents-backend-sandbox" {
			t.Errorf("status %v", g)
		}
		info := s.expect(t, 200, req{method: "GET", path: sb + "/info", token: admin}).m(t)
		res, _ := info["resources"].(map[string]any)
		metrics, _ := info["metrics"].(map[string]any)
		if info["image"] != "python:3.11-slim" || info["template_id"] != "agents-backend-sandbox" || res["memory"] != "512Mi" ||
			info["timeout"] != float64(1800) || info["created_at"] == nil || info["expires_at"] == nil || metrics["memory_usage"] == nil {
			t.Errorf("info %v", info)
		}
		s.expect(t, 404, req{method: "GET", path: base + "/env-nope/info", token: admin})

		// The template's port 8080 is served by the port proxy at once.
		s.expect(t, 200, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{"sandbox_id": id,
			"command": "mkdir -p /srv && echo proxied > /srv/index.html && cd /srv && (python3 -m http.server 8080 --bind 127.0.0.1 >/dev/null 2>&1 &)"}})
		exposed := s.expect(t, 200, req{method: "POST", path: sb + "/expose-port", token: admin, body: map[string]int{"port": 8081}}).m(t)
		if exposed["port"] != float64(8081) || exposed["url"] != s.url+"/api/v1/environments/"+id+"/ports/8081/" {
			t.Errorf("expose-port %v", exposed)
		}
		s.expect(t, 400, req{method: "POST", path: sb + "/expose-port", token: admin, body: map[string]int{"port": 0}})
		var urls struct {
			SandboxID string            `json:"sandbox_id"`
			VSCodeURL string            `json:"vscode_url"`
			Ports     map[string]string `json:"ports"`
		}
		s.expect(t, 200, req{method: "GET", path: sb + "/urls", token: admin}).json(t, &urls)
		if urls.VSCodeURL != s.url+"/api/v1/environments/"+id+"/ports/9000/" || len(urls.Ports) != 3 || urls.Ports["8081"] == "" {
			t.Errorf("urls %+v", urls)
		}
		r := s.waitHTTP(t, admin, strings.TrimPrefix(urls.Ports["8080"], s.url)+"index.html")
		if string(r.body) != "proxied\n" {
			t.Errorf("through the proxy URL: %q", r.body)
		}
		if r := s.do(t, req{method: "GET", path: strings.TrimPrefix(urls.Ports["8080"], s.url) + "index.html"}); r.status != 401 {
			t.Errorf("the proxy URL without credentials: %d", r.status)
		}
	})

	t.Run("files", func(t *testing.T) {
		w := s.expect(t, 200, req{method: "POST", path: base + "/write-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/app/hello.py", "content": "print('héllo')\n"}}).m(t)
		if w["path"] != "/workspace/app/hello.py" || w["size"] != float64(len("print('héllo')\n")) {
			t.Errorf("write-file %v", w)
		}
		r := s.expect(t, 200, req{method: "POST", path: base + "/read-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/app/hello.py"}}).m(t)
		if r["content"] != "print('héllo')\n" || r["encoding"] != "utf-8" {
			t.Errorf("read-file %v", r)
		}
		s.expect(t, 200, req{method: "POST", path: base + "/write-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/blob.bin", "content": base64.StdEncoding.EncodeToString(netHostBlob), "encoding": "base64"}})
		r = s.expect(t, 200, req{method: "POST", path: base + "/read-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/blob.bin"}}).m(t)
		if r["encoding"] != "base64" || r["content"] != base64.StdEncoding.EncodeToString(netHostBlob) {
			t.Errorf("read-file of binary %v", r)
		}
		platformError(t, s.do(t, req{method: "POST", path: base + "/write-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "/x", "content": "%%%", "encoding": "base64"}}), 400, "BAD_REQUEST", `"content"`)
		platformError(t, s.do(t, req{method: "POST", path: base + "/write-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "/x", "content": "x", "encoding": "latin1"}}), 400, "BAD_REQUEST", `"encoding"`)
		platformError(t, s.do(t, req{method: "POST", path: base + "/read-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "/nope.txt"}}), 404, "NOT_FOUND", "/nope.txt")
		platformError(t, s.do(t, req{method: "POST", path: base + "/read-file", token: admin, body: map[string]any{"sandbox_id": id}}), 400, "BAD_REQUEST", `"path"`)

		m := s.expect(t, 200, req{method: "POST", path: sb + "/mkdir", token: admin, body: map[string]string{"path": "/workspace/a/b/c"}}).m(t)
		if m["path"] != "/workspace/a/b/c" {
			t.Errorf("mkdir %v", m)
		}
		if out := s.execOK(t, admin, id, "sh", "-c", "test -d /workspace/a/b/c && echo dir"); out != "dir\n" {
			t.Errorf("after mkdir: %q", out)
		}

		content := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, more than a JSON body may hold
		body, ct := multipartBody(t, [][2]string{{"sandbox_id", id}, {"path", "/workspace/up/big.txt"}}, "big.txt", content)
		u := s.expect(t, 200, req{method: "POST", path: base + "/upload-file", token: admin, body: body, contentType: ct}).m(t)
		if u["path"] != "/workspace/up/big.txt" || u["size"] != float64(len(content)) {
			t.Errorf("upload-file %v", u)
		}
		if out := s.execOK(t, admin, id, "sh", "-c", "sha256sum /workspace/up/big.txt | cut -c1-16"); out == "" {
			t.Errorf("uploaded file missing")
		}
		body, ct = multipartBody(t, [][2]string{{"sandbox_id", id}, {"path", "/workspace/up/huge.bin"}}, "huge.bin", make([]byte, 3<<20))
		platformError(t, s.do(t, req{method: "POST", path: base + "/upload-file", token: admin, body: body, contentType: ct}), 413, "PAYLOAD_TOO_LARGE", "limit")
		body, ct = multipartBody(t, [][2]string{{"sandbox_id", id}}, "named.txt", []byte("by name"))
		if u := s.expect(t, 200, req{method: "POST", path: base + "/upload-file", token: admin, body: body, contentType: ct}).m(t); !strings.HasSuffix(u["path"].(string), "/named.txt") {
			t.Errorf("upload-file without path: %v", u)
		}
		body, ct = multipartBody(t, [][2]string{{"path", "/x"}}, "x", []byte("x"))
		platformError(t, s.do(t, req{method: "POST", path: base + "/upload-file", token: admin, body: body, contentType: ct}), 400, "BAD_REQUEST", `"sandbox_id"`)
		body, ct = multipartBody(t, [][2]string{{"sandbox_id", id}}, "", nil)
		platformError(t, s.do(t, req{method: "POST", path: base + "/upload-file", token: admin, body: body, contentType: ct}), 400, "BAD_REQUEST", `"file"`)
		platformError(t, s.do(t, req{method: "POST", path: base + "/upload-file", token: admin, body: map[string]string{"sandbox_id": id}}), 415, "UNSUPPORTED_MEDIA_TYPE", "multipart/form-data")

		// A body cut mid-file is the client's fault, and writes nothing:
		// the connection ends early, or the multipart framing does.
		body, ct = multipartBody(t, [][2]string{{"sandbox_id", id}, {"path", "/workspace/up/cut.bin"}}, "cut.bin", bytes.Repeat([]byte("x"), 64<<10))
		head := "POST " + base + "/upload-file HTTP/1.1\r\nAuthorization: Bearer " + admin + "\r\nContent-Type: " + ct + "\r\n"
		for _, tc := range []struct{ framing, body string }{
			{fmt.Sprintf("Content-Length: %d", len(body)), string(body[:len(body)/2])},
			{fmt.Sprintf("Content-Length: %d", len(body)/2), string(body[:len(body)/2])},
			{"Transfer-Encoding: chunked", fmt.Sprintf("%x\r\n%s\r\nZZ\r\n", len(body)/2, body[:len(body)/2])},
		} {
			platformError(t, s.rawRequest(t, head+tc.framing, tc.body), 400, "BAD_REQUEST", "reading the request body")
		}
		s.expect(t, 404, req{method: "POST", path: base + "/read-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/up/cut.bin"}})
	})

	t.Run("upload-from-url", func(t *testing.T) {
		allowed := "http://" + host.allowed.String() + ":8000"
		u := s.expect(t, 200, req{method: "POST", path: base + "/upload-from-url", token: admin, body: map[string]any{"sandbox_id": id, "url": allowed + "/data.txt", "path": "/workspace/dl/data.txt"}}).m(t)
		if u["path"] != "/workspace/dl/data.txt" || u["size"] != float64(len("hello from the network\n")) {
			t.Errorf("upload-from-url %v", u)
		}
		r := s.expect(t, 200, req{method: "POST", path: base + "/read-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/dl/data.txt"}}).m(t)
		if r["content"] != "hello from the network\n" {
			t.Errorf("fetched content %v", r)
		}
		s.expect(t, 200, req{method: "POST", path: base + "/upload-from-url", token: admin, body: map[string]any{"sandbox_id": id, "url": allowed + "/blob.bin", "path": "blob2.bin"}})
		r = s.expect(t, 200, req{method: "POST", path: base + "/read-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "blob2.bin"}}).m(t)
		if r["content"] != base64.StdEncoding.EncodeToString(netHostBlob) {
			t.Errorf("fetched binary %v", r)
		}
		// The server answers 404: the caller hears it.
		platformError(t, s.do(t, req{method: "POST", path: base + "/upload-from-url", token: admin, body: map[string]any{"sandbox_id": id, "url": allowed + "/missing", "path": "/workspace/dl/missing"}}), 400, "BAD_REQUEST", "HTTP 404")
		// The same server on an address the template does not list: the
		// policy drops the connection, the fetch times out, nothing is written.
		denied := "http://" + host.denied.String() + ":8000/data.txt"
		platformError(t, s.do(t, req{method: "POST", path: base + "/upload-from-url", token: admin, body: map[string]any{"sandbox_id": id, "url": denied, "path": "/workspace/dl/denied.txt", "timeout": 3}}),
			400, "BAD_REQUEST", "could not fetch "+denied+" from inside sandbox "+id+" (its network policy decides what it may reach): timed out")
		s.expect(t, 404, req{method: "POST", path: base + "/read-file", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/dl/denied.txt"}})
		if out := s.execOK(t, admin, id, "ls", "/workspace/dl"); out != "data.txt\n" {
			t.Errorf("left in /workspace/dl: %q", out)
		}
		platformError(t, s.do(t, req{method: "POST", path: base + "/upload-from-url", token: admin, body: map[string]any{"sandbox_id": id, "url": "file:///etc/passwd", "path": "/x"}}), 400, "BAD_REQUEST", `"url"`)
	})

	t.Run("download-to-presigned", func(t *testing.T) {
		allowed := "http://" + host.allowed.String() + ":8000"
		presigned := allowed + "/upload?X-Amz-Signature=s3cr3t&X-Amz-Expires=600"
		d := s.expect(t, 200, req{method: "POST", path: base + "/download-to-presigned", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/up/big.txt", "url": presigned}}).m(t)
		if d["path"] != "/workspace/up/big.txt" || d["size"] != float64(1<<20) {
			t.Errorf("download-to-presigned %v", d)
		}
		puts := host.received()
		if len(puts) != 1 || puts[0].query != "X-Amz-Signature=s3cr3t&X-Amz-Expires=600" || puts[0].contentType != "application/octet-stream" ||
			puts[0].contentLength != 1<<20 || !bytes.Equal(puts[0].body, bytes.Repeat([]byte("0123456789abcdef"), 64<<10)) {
			t.Errorf("received %d PUTs; first: query %q type %q length %d", len(puts), puts[0].query, puts[0].contentType, puts[0].contentLength)
		}
		s.expect(t, 200, req{method: "POST", path: base + "/download-to-presigned", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/app/hello.py", "url": presigned, "content_type": "text/x-python"}})
		if puts = host.received(); len(puts) != 2 || puts[1].contentType != "text/x-python" || string(puts[1].body) != "print('héllo')\n" {
			t.Errorf("second PUT %+v", puts)
		}
		// A refused PUT is reported, without the URL's secret query.
		r := s.do(t, req{method: "POST", path: base + "/download-to-presigned", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/app/hello.py", "url": allowed + "/refuse?X-Amz-Signature=s3cr3t"}})
		platformError(t, r, 400, "BAD_REQUEST", "HTTP 403")
		if strings.Contains(string(r.body), "s3cr3t") {
			t.Errorf("the error shows the presigned URL's secret: %s", r.body)
		}
		platformError(t, s.do(t, req{method: "POST", path: base + "/download-to-presigned", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/nope", "url": presigned}}), 404, "NOT_FOUND", "/workspace/nope")
		platformError(t, s.do(t, req{method: "POST", path: base + "/download-to-presigned", token: admin, body: map[string]any{"sandbox_id": id, "path": "/workspace/app/hello.py", "url": "http://" + host.denied.String() + ":8000/upload", "timeout": 2}}), 400, "BAD_REQUEST", "timed out")
	})

	t.Run("slides", func(t *testing.T) {
		sl := sb + "/slides"
		if l := s.expect(t, 200, req{method: "GET", path: sl, token: admin}).m(t); len(l["slides"].([]any)) != 0 {
			t.Errorf("slides of a new sandbox: %v", l)
		}
		create := func(title, html string, pos int) map[string]any {
			body := map[string]any{"title": title, "html": html}
			if pos > 0 {
				body["position"] = pos
			}
			return s.expect(t, 201, req{method: "POST", path: sl, token: admin, body: body}).m(t)
		}
		intro := create("Intro", "<h1>Intro</h1>", 0)
		end := create("End", "<h1>End</h1>", 0)
		mid := create("Middle", "<h1>Middle</h1>", 2)
		if intro["position"] != float64(1) || mid["position"] != float64(2) || !strings.HasPrefix(intro["id"].(string), "sld_") ||
			intro["path"] != "/workspace/slides/"+intro["id"].(string)+".html" {
			t.Errorf("created %v %v", intro, mid)
		}
		order := func() string {
			var l struct{ Slides []struct{ Title string } }
			s.expect(t, 200, req{method: "GET", path: sl, token: admin}).json(t, &l)
			var titles []string
			for _, x := range l.Slides {
				titles = append(titles, x.Title)
			}
			return strings.Join(titles, ",")
		}
		if got := order(); got != "Intro,Middle,End" {
			t.Errorf("order %s", got)
		}
		g := s.expect(t, 200, req{method: "GET", path: sl + "/" + mid["id"].(string), token: admin}).m(t)
		if g["html"] != "<h1>Middle</h1>" || g["title"] != "Middle" || g["position"] != float64(2) {
			t.Errorf("get %v", g)
		}
		// The slides are files of the sandbox: the agent sees them.
		if out := s.execOK(t, admin, id, "cat", "/workspace/slides/"+end["id"].(string)+".html"); out != "<h1>End</h1>" {
			t.Errorf("slide file %q", out)
		}
		if out := s.execOK(t, admin, id, "python3", "-c", "import json; print([s['title'] for s in json.load(open('/workspace/slides/index.json'))['slides']])"); out != "['Intro', 'Middle', 'End']\n" {
			t.Errorf("index %q", out)
		}
		u := s.expect(t, 200, req{method: "PUT", path: sl + "/" + end["id"].(string), token: admin, body: map[string]any{"title": "The end", "html": "<h1>Bye</h1>", "position": 1}}).m(t)
		if u["id"] != end["id"] || u["position"] != float64(1) || u["html"] != "<h1>Bye</h1>" {
			t.Errorf("update %v", u)
		}
		if got := order(); got != "The end,Intro,Middle" {
			t.Errorf("order after the move %s", got)
		}
		u = s.expect(t, 200, req{method: "PUT", path: sl + "/" + intro["id"].(string), token: admin, body: map[string]any{"title": "Hello"}}).m(t)
		if u["html"] != "<h1>Intro</h1>" || u["position"] != float64(2) {
			t.Errorf("title-only update %v", u)
		}
		s.expect(t, 204, req{method: "DELETE", path: sl + "/" + mid["id"].(string), token: admin})
		if got := order(); got != "The end,Hello" {
			t.Errorf("order after delete %s", got)
		}
		s.expect(t, 404, req{method: "GET", path: sl + "/" + mid["id"].(string), token: admin})
		s.expect(t, 404, req{method: "DELETE", path: sl + "/" + mid["id"].(string), token: admin})
		s.expect(t, 404, req{method: "GET", path: sl + "/BAD.ID", token: admin})
		if out := s.execOK(t, admin, id, "ls", "/workspace/slides"); strings.Contains(out, mid["id"].(string)) {
			t.Errorf("the deleted slide's file remains: %q", out)
		}
		platformError(t, s.do(t, req{method: "POST", path: sl, token: admin, body: map[string]any{"title": "x"}}), 400, "BAD_REQUEST", `"html"`)
		platformError(t, s.do(t, req{method: "POST", path: sl, token: admin, body: map[string]any{"html": "x", "position": 9}}), 400, "BAD_REQUEST", `"position"`)
		platformError(t, s.do(t, req{method: "PUT", path: sl + "/" + end["id"].(string), token: admin, body: map[string]any{}}), 400, "BAD_REQUEST", "nothing to change")

		// Slides are files: a key that may only read the sandbox reads
		// neither them nor other files.
		readKey := s.expect(t, 201, req{method: "POST", path: "/api/v1/api-keys", token: admin, body: map[string]any{
			"permissions": []map[string]string{{"environment_id": id, "permission": "read"}}}}).m(t)["key"].(string)
		s.expect(t, 200, req{method: "GET", path: sb, token: readKey})
		for _, rq := range []req{
			{method: "GET", path: sl},
			{method: "GET", path: sl + "/" + end["id"].(string)},
			{method: "POST", path: base + "/read-file", body: map[string]any{"sandbox_id": id, "path": "/workspace/slides/index.json"}},
		} {
			rq.token = readKey
			platformError(t, s.do(t, rq), 403, "FORBIDDEN", "read permission on sandbox "+id+"; write is needed")
		}
	})

	t.Run("timeout", func(t *testing.T) {
		r := s.expect(t, 200, req{method: "POST", path: sb + "/timeout", token: admin, body: map[string]int{"timeout": 7200}}).m(t)
		exp, err := time.Parse(time.RFC3339Nano, r["expires_at"].(string))
		if err != nil || r["timeout"] != float64(7200) || time.Until(exp) < 7100*time.Second || time.Until(exp) > 7300*time.Second {
			t.Errorf("timeout %v", r)
		}
		platformError(t, s.do(t, req{method: "POST", path: sb + "/timeout", token: admin, body: map[string]int{"timeout": 0}}), 400, "BAD_REQUEST", `"timeout"`)
		for _, huge := range []int64{10000000000, math.MaxInt64} {
			platformError(t, s.do(t, req{method: "POST", path: sb + "/timeout", token: admin, body: map[string]int64{"timeout": huge}}), 400, "BAD_REQUEST", `field "timeout" must be between 1 and 2592000 seconds (30 days)`)
		}
		if g := s.expect(t, 200, req{method: "GET", path: sb + "/info", token: admin}).m(t); g["status"] != "running" || g["timeout"] != float64(7200) {
			t.Errorf("after refused timeouts: %v", g)
		}
	})

	t.Run("templates", func(t *testing.T) {
		platformError(t, s.do(t, req{method: "POST", path: base, token: admin, body: map[string]string{"template_id": "gpu-xl"}}), 400, "BAD_REQUEST", `unknown template "gpu-xl"; known: agents-backend-sandbox, default`)
		platformError(t, s.do(t, req{method: "POST", path: base, token: admin, body: map[string]any{"template_id": 7}}), 400, "BAD_REQUEST", `"template_id"`)
	})

	t.Run("owners", func(t *testing.T) {
		alice := s.createUser(t, admin, "alice")
		bob := s.createUser(t, admin, "bob")
		// No template_id: the default template.
		b := s.expect(t, 201, req{method: "POST", path: base, token: bob}).m(t)
		bid := b["sandbox_id"].(string)
		if b["template_id"] != "default" || b["status"] != "running" || b["vscode_url"] != nil {
			t.Errorf("bob's sandbox %v", b)
		}
		for _, rq := range []req{
			{method: "GET", path: base + "/" + bid},
			{method: "GET", path: base + "/" + bid + "/info"},
			{method: "GET", path: base + "/" + bid + "/urls"},
			{method: "GET", path: base + "/" + bid + "/slides"},
			{method: "POST", path: base + "/" + bid + "/pause"},
			{method: "DELETE", path: base + "/" + bid},
			{method: "POST", path: base + "/run-command", body: map[string]any{"sandbox_id": bid, "command": "id"}},
			{method: "POST", path: base + "/read-file", body: map[string]any{"sandbox_id": bid, "path": "/etc/hostname"}},
			{method: "POST", path: base + "/connect", body: map[string]any{"sandbox_id": bid}},
			{method: "GET", path: sb}, // the admin's
		} {
			rq.token = alice
			platformError(t, s.do(t, rq), 404, "NOT_FOUND", "not found")
		}
		// Admins see everyone's.
		if g := s.expect(t, 200, req{method: "GET", path: base + "/" + bid, token: admin}).m(t); g["status"] != "running" {
			t.Errorf("bob's sandbox seen by the admin: %v", g)
		}
		s.expect(t, 204, req{method: "DELETE", path: base + "/" + bid + "?force=true", token: bob})
		if g := s.expect(t, 200, req{method: "GET", path: base + "/" + bid, token: bob}).m(t); g["status"] != "terminated" {
			t.Errorf("after delete: %v", g)
		}
		platformError(t, s.do(t, req{method: "POST", path: base + "/connect", token: bob, body: map[string]any{"sandbox_id": bid}}), 409, "CONFLICT", "terminated")
	})

	t.Run("pause and connect", func(t *testing.T) {
		p := s.expect(t, 200, req{method: "POST", path: sb + "/pause", token: admin}).m(t)
		if p["status"] != "paused" {
			t.Fatalf("pause %v", p)
		}
		platformError(t, s.do(t, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{"sandbox_id": id, "command": "true"}}), 409, "CONFLICT", "paused")
		c := s.expect(t, 200, req{method: "POST", path: base + "/connect", token: admin, body: map[string]any{"sandbox_id": id}}).m(t)
		if c["status"] != "running" || c["sandbox_id"] != id || c["template_id"] != "agents-backend-sandbox" || c["vscode_url"] == nil {
			t.Errorf("connect %v", c)
		}
		r := s.expect(t, 200, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{"sandbox_id": id, "command": "cat /workspace/dl/data.txt"}}).m(t)
		if r["stdout"] != "hello from the network\n" {
			t.Errorf("after connect: %v", r)
		}
		// Connecting to a running sandbox changes nothing.
		s.expect(t, 200, req{method: "POST", path: base + "/connect", token: admin, body: map[string]any{"sandbox_id": id}})
	})

	s.expect(t, 204, req{method: "DELETE", path: sb + "?force=true", token: admin})
	if g := s.expect(t, 200, req{method: "GET", path: sb, token: admin}).m(t); g["status"] != "terminated" {
		t.Errorf("after delete: %v", g)
	}
	platformError(t, s.do(t, req{method: "POST", path: base + "/run-command", token: admin, body: map[string]any{"sandbox_id": id, "command": "true"}}), 409, "CONFLICT", "terminated")
}

// bearerTransport sends every request with Authorization: Bearer token.
type bearerTransport string

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}
