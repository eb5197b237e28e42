package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paddockhq/paddock"
)

// The sandbox API of seed 003 (/api/v1/agent/sandboxes) is a thin adapter
// over environments: a sandbox is an environment made from a template of
// the configuration, and its sandbox_id is the environment's id, so the
// environments API sees it too. Commands go through exec, files through
// the Files service, URLs through the port proxy. Fetches from and uploads
// to URLs run inside the sandbox, so its network policy decides what they
// may reach. Slides are HTML files in the sandbox's /workspace/slides,
// ordered by an index file there.

// SandboxTemplate is what POST /api/v1/agent/sandboxes creates for one
// template_id.
type SandboxTemplate struct {
	Image      string
	Resources  paddock.Resources
	Isolation  paddock.Isolation
	Env        map[string]string
	Ports      []int // served by the port proxy from the start
	VSCodePort int   // where a VS Code server in the image listens; 0: none
	Timeout    int   // lifetime in seconds; 0: the server's default
}

// DefaultSandboxTemplate is the template of create requests that name none.
const DefaultSandboxTemplate = "default"

// Labels that record a sandbox's template on its environment, so its
// URLs do not depend on the configuration of the day.
const (
	sandboxTemplateLabel = "sandbox_template"
	sandboxVSCodeLabel   = "sandbox_vscode_port"
)

// Limits of the JSON file routes, which hold a file in memory: bigger
// files go through upload-file or the environments' files routes.
const maxSandboxFileBytes = 32 << 20

// Defaults of the commands run for callers.
const (
	defaultCommandTimeout  = 300
	defaultTransferTimeout = 300
)

type sandboxCreateRequest struct {
	TemplateID string `json:"template_id,omitempty" description:"a template of the server's configuration; default: default"`
}

type sandboxRef struct {
	SandboxID string `json:"sandbox_id" required:"true"`
}

type sandboxResponse struct {
	SandboxID  string `json:"sandbox_id"`
	TemplateID string `json:"template_id,omitempty"`
	Status     string `json:"status" enum:"pending,running,paused,terminating,terminated,failed"`
	Reason     string `json:"reason,omitempty"`
	MCPURL     string `json:"mcp_url" description:"the sandbox as an MCP server (streamable HTTP); send the same Authorization header"`
	VSCodeURL  string `json:"vscode_url,omitempty" description:"the VS Code server of the template, through the authenticated port proxy"`
}

type sandboxInfo struct {
	SandboxID    string              `json:"sandbox_id"`
	TemplateID   string              `json:"template_id,omitempty"`
	Name         string              `json:"name"`
	Image        string              `json:"image"`
	Status       string              `json:"status" enum:"pending,running,paused,terminating,terminated,failed"`
	Reason       string              `json:"reason,omitempty"`
	Resources    paddock.Resources   `json:"resources"`
	RuntimeClass string              `json:"runtime_class,omitempty"`
	Timeout      int                 `json:"timeout" description:"lifetime in seconds"`
	CreatedAt    time.Time           `json:"created_at"`
	StartedAt    *time.Time          `json:"started_at,omitempty"`
	ExpiresAt    *time.Time          `json:"expires_at,omitempty"`
	EndedAt      *time.Time          `json:"ended_at,omitempty"`
	Metrics      *environmentMetrics `json:"metrics,omitempty"`
}

type sandboxURLs struct {
	SandboxID string            `json:"sandbox_id"`
	MCPURL    string            `json:"mcp_url"`
	VSCodeURL string            `json:"vscode_url,omitempty"`
	Ports     map[string]string `json:"ports" description:"port -> its authenticated proxy URL"`
}

type runCommandRequest struct {
	SandboxID string            `json:"sandbox_id" required:"true"`
	Command   string            `json:"command" required:"true" description:"a shell command line, run with sh -c"`
	Timeout   *int              `json:"timeout,omitempty" minimum:"1" description:"seconds (default 300); the command's process group is killed then"`
	Cwd       string            `json:"cwd,omitempty" description:"working directory (default: the image's)"`
	Env       map[string]string `json:"env,omitempty"`
}

type runCommandResponse struct {
	SandboxID  string `json:"sandbox_id"`
	ExitCode   int    `json:"exit_code"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	DurationMS int64  `json:"duration_ms"`
	TimedOut   bool   `json:"timed_out,omitempty"`
	Truncated  bool   `json:"truncated,omitempty"`
	OOMKilled  bool   `json:"oom_killed,omitempty"`
}

type sandboxTimeoutRequest struct {
	Timeout *int `json:"timeout" required:"true" minimum:"1" maximum:"2592000" description:"the new lifetime in seconds, counted from now (at most 30 days)"`
}

type sandboxTimeoutResponse struct {
	SandboxID string     `json:"sandbox_id"`
	Timeout   int        `json:"timeout"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

type sandboxFileRequest struct {
	SandboxID string `json:"sandbox_id" required:"true"`
	Path      string `json:"path" required:"true" description:"path inside the sandbox; relative paths start at its working directory"`
}

type writeFileRequest struct {
	SandboxID string `json:"sandbox_id" required:"true"`
	Path      string `json:"path" required:"true"`
	Content   string `json:"content"`
	Encoding  string `json:"encoding,omitempty" enum:"utf-8,base64" description:"of content; default utf-8"`
}

type sandboxFileResponse struct {
	SandboxID string `json:"sandbox_id"`
	Path      string `json:"path"`
	Size      int64  `json:"size"`
}

type readFileResponse struct {
	SandboxID string `json:"sandbox_id"`
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	Content   string `json:"content"`
	Encoding  string `json:"encoding" enum:"utf-8,base64" description:"utf-8 for text, base64 for anything that is not valid UTF-8"`
}

type sandboxUploadForm struct {
	SandboxID string                `formData:"sandbox_id" required:"true"`
	Path      string                `formData:"path" description:"default: the file's name in the working directory"`
	File      *multipart.FileHeader `formData:"file" required:"true" description:"after sandbox_id and path: it is streamed into the sandbox"`
}

type uploadFromURLRequest struct {
	SandboxID string `json:"sandbox_id" required:"true"`
	URL       string `json:"url" required:"true" description:"http or https; fetched from inside the sandbox"`
	Path      string `json:"path" required:"true"`
	Timeout   *int   `json:"timeout,omitempty" minimum:"1" description:"seconds (default 300)"`
}

type downloadToPresignedRequest struct {
	SandboxID   string `json:"sandbox_id" required:"true"`
	Path        string `json:"path" required:"true"`
	URL         string `json:"url" required:"true" description:"http or https; the file is PUT there from inside the sandbox"`
	ContentType string `json:"content_type,omitempty" description:"default application/octet-stream"`
	Timeout     *int   `json:"timeout,omitempty" minimum:"1" description:"seconds (default 300)"`
}

type sandboxPathRequest struct {
	Path string `json:"path" required:"true"`
}

type sandboxPathResponse struct {
	SandboxID string `json:"sandbox_id"`
	Path      string `json:"path"`
}

// sandboxFor loads the sandbox id the caller may act on with need, with
// the environments API's rules: another user's sandbox, or one a
// restricted API key does not list, is not found.
func (s *Server) sandboxFor(r *http.Request, id string, need paddock.Permission) (*paddock.Environment, error) {
	if strings.TrimSpace(id) == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "field \"sandbox_id\" is required")
	}
	return s.environmentAs(r, id, need, "sandbox")
}

// pathSandbox is sandboxFor the {id} of the route's path.
func (s *Server) pathSandbox(r *http.Request, need paddock.Permission) (*paddock.Environment, error) {
	return s.sandboxFor(r, r.PathValue("id"), need)
}

func requireField(name, v string) error {
	if strings.TrimSpace(v) == "" {
		return paddock.Errorf(paddock.EInvalid, "field %q is required", name)
	}
	if strings.ContainsRune(v, 0) {
		return paddock.Errorf(paddock.EInvalid, "field %q contains a NUL byte", name)
	}
	return nil
}

// secondsField checks an optional timeout field and applies its default.
func secondsField(name string, v *int, def int) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < 1 || *v > maxExecTimeout {
		return 0, paddock.Errorf(paddock.EInvalid, "field %q must be between 1 and %d seconds", name, maxExecTimeout)
	}
	return *v, nil
}

func (s *Server) sandboxResponse(r *http.Request, env *paddock.Environment) sandboxResponse {
	out := sandboxResponse{SandboxID: env.ID, TemplateID: env.Labels[sandboxTemplateLabel], Status: string(env.Status), Reason: env.Reason,
		MCPURL: s.sandboxMCPURL(r, env)}
	if port := vscodePort(env); port > 0 {
		out.VSCodeURL = s.baseURL(r) + portPath(env.ID, port)
	}
	return out
}

// sandboxMCPURL is where env is served as an MCP server.
func (s *Server) sandboxMCPURL(r *http.Request, env *paddock.Environment) string {
	return s.baseURL(r) + "/api/v1/agent/sandboxes/" + env.ID + "/mcp"
}

// vscodePort is the sandbox's VS Code port, when its template has one and
// the port is still exposed.
func vscodePort(env *paddock.Environment) int {
	port, err := strconv.Atoi(env.Labels[sandboxVSCodeLabel])
	if err != nil || !slices.Contains(exposedPorts(env), port) {
		return 0
	}
	return port
}

// template returns the named template, the default one for "".
func (s *Server) template(id string) (string, SandboxTemplate, error) {
	id = cmp.Or(strings.TrimSpace(id), DefaultSandboxTemplate)
	t, ok := s.cfg.SandboxTemplates[id]
	if !ok {
		known := slices.Sorted(maps.Keys(s.cfg.SandboxTemplates))
		if len(known) == 0 {
			return "", t, paddock.Errorf(paddock.EInvalid, "field \"template_id\": unknown template %q; this server has no sandbox templates configured", id)
		}
		return "", t, paddock.Errorf(paddock.EInvalid, "field \"template_id\": unknown template %q; known: %s", id, strings.Join(known, ", "))
	}
	return id, t, nil
}

// environmentOf makes the environment a template describes, with copies
// of everything shared between requests.
func environmentOf(id string, t SandboxTemplate, owner int64) *paddock.Environment {
	env := &paddock.Environment{
		Name: "sandbox-" + id, OwnerID: owner, Image: t.Image, Resources: t.Resources, Timeout: t.Timeout,
		Env: maps.Clone(t.Env), Labels: map[string]string{sandboxTemplateLabel: id}, Isolation: t.Isolation,
	}
	policy := paddock.NetworkPolicy{}
	if p := t.Isolation.NetworkPolicy; p != nil {
		policy = *p
		policy.AllowedEgressCIDRs = slices.Clone(p.AllowedEgressCIDRs)
		policy.AllowedDomains = slices.Clone(p.AllowedDomains)
		if p.AllowInternet != nil {
			v := *p.AllowInternet
			policy.AllowInternet = &v
		}
	}
	policy.AllowedIngressPorts = slices.Concat(policy.AllowedIngressPorts, t.Ports)
	if t.VSCodePort > 0 {
		policy.AllowedIngressPorts = append(policy.AllowedIngressPorts, t.VSCodePort)
		env.Labels[sandboxVSCodeLabel] = strconv.Itoa(t.VSCodePort)
	}
	slices.Sort(policy.AllowedIngressPorts)
	policy.AllowedIngressPorts = slices.Compact(policy.AllowedIngressPorts)
	if t.Isolation.NetworkPolicy != nil || len(policy.AllowedIngressPorts) > 0 {
		env.Isolation.NetworkPolicy = &policy
	}
	if sc := t.Isolation.SecurityContext; sc != nil {
		c := *sc
		env.Isolation.SecurityContext = &c
	}
	return env
}

func (s *Server) handleSandboxCreate(w http.ResponseWriter, r *http.Request) error {
	p := principal(r) // not a key limited to some environments: wrap refuses those here
	var req sandboxCreateRequest
	if r.ContentLength != 0 {
		if err := s.decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	id, t, err := s.template(req.TemplateID)
	if err != nil {
		return err
	}
	env := environmentOf(id, t, p.User.ID)
	if err := s.Environments.Create(r.Context(), env); err != nil {
		return err
	}
	// Commands work as soon as the answer arrives.
	started, err := s.Environments.WaitStarted(r.Context(), env.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, s.sandboxResponse(r, started))
}

// handleSandboxConnect re-attaches to a sandbox: it waits for one that is
// starting and resumes a paused one.
func (s *Server) handleSandboxConnect(w http.ResponseWriter, r *http.Request) error {
	var req sandboxRef
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	env, err := s.sandboxFor(r, req.SandboxID, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	switch env.Status {
	case paddock.EnvironmentPending:
		if env, err = s.Environments.WaitStarted(r.Context(), env.ID); err != nil {
			return err
		}
	case paddock.EnvironmentPaused:
		if err := s.Suspender.Resume(r.Context(), env.ID); err != nil {
			return err
		}
		if env, err = s.EnvironmentStore.Environment(r.Context(), env.ID); err != nil {
			return err
		}
	}
	if env.Status.Done() || env.Status == paddock.EnvironmentTerminating {
		return paddock.Errorf(paddock.EConflict, "sandbox %s is %s and cannot be connected to; create a new one", env.ID, env.Status)
	}
	return writeJSON(w, http.StatusOK, s.sandboxResponse(r, env))
}

func (s *Server) handleSandboxRunCommand(w http.ResponseWriter, r *http.Request) error {
	var req runCommandRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := requireField("command", req.Command); err != nil {
		return err
	}
	timeout, err := secondsField("timeout", req.Timeout, defaultCommandTimeout)
	if err != nil {
		return err
	}
	if err := paddock.CheckEnv(req.Env); err != nil {
		return err
	}
	env, err := s.sandboxFor(r, req.SandboxID, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	res, err := s.Environments.ExecIn(r.Context(), env, &paddock.ExecRequest{
		Command: []string{"sh", "-c", req.Command}, Env: req.Env, Dir: req.Cwd, Timeout: time.Duration(timeout) * time.Second,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, runCommandOf(env.ID, res))
}

// runCommandOf is the answer of a command run in sandbox id.
func runCommandOf(id string, res *paddock.ExecResult) runCommandResponse {
	return runCommandResponse{SandboxID: id, ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr, DurationMS: res.Duration.Milliseconds(),
		TimedOut: res.TimedOut, Truncated: res.Truncated, OOMKilled: res.OOMKilled}
}

// notSandboxAction answers a request ServeMux gave the
// /api/v1/agent/sandboxes/{id} routes (GET, DELETE) whose {id} is an
// action's name (run-command, read-file, connect, ...): it is the wrong
// method on that action, 405 with the methods the action takes, not an
// unknown sandbox. Sandbox ids never look like action names.
func (s *Server) notSandboxAction(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, rt := range s.routes {
		if rt.method != "" && rt.path == "/api/v1/agent/sandboxes/"+r.PathValue("id") {
			allow = append(allow, rt.method)
		}
	}
	if len(allow) == 0 {
		return nil
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	return &paddock.Error{Code: codeMethodNotAllowed, Message: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + strings.Join(allow, ", ")}
}

func (s *Server) handleSandboxGet(w http.ResponseWriter, r *http.Request) error {
	if err := s.notSandboxAction(w, r); err != nil {
		return err
	}
	env, err := s.pathSandbox(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.sandboxResponse(r, env))
}

func (s *Server) handleSandboxInfo(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	out := sandboxInfo{
		SandboxID: env.ID, TemplateID: env.Labels[sandboxTemplateLabel], Name: env.Name, Image: env.Image,
		Status: string(env.Status), Reason: env.Reason, Resources: env.Resources, RuntimeClass: env.Isolation.RuntimeClass,
		Timeout: env.Timeout, CreatedAt: env.CreatedAt, StartedAt: env.StartedAt, ExpiresAt: env.ExpiresAt, EndedAt: env.EndedAt,
	}
	if env.Status == paddock.EnvironmentRunning {
		if cpu, mem, err := s.Environments.Metrics(r.Context(), env.ID); err == nil {
			out.Metrics = &environmentMetrics{CPUUsage: cpu, MemoryUsage: mem}
		} else if paddock.ErrorCode(err) != paddock.EConflict {
			s.log.WarnContext(r.Context(), "sandbox metrics", "env_id", env.ID, "err", err)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleSandboxURLs(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, paddock.PermissionRead)
	if err != nil {
		return err
	}
	out := sandboxURLs{SandboxID: env.ID, MCPURL: s.sandboxMCPURL(r, env), Ports: map[string]string{}}
	for _, p := range exposedPorts(env) {
		out.Ports[strconv.Itoa(p)] = s.baseURL(r) + portPath(env.ID, p)
	}
	if port := vscodePort(env); port > 0 {
		out.VSCodeURL = s.baseURL(r) + portPath(env.ID, port)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleSandboxTimeout(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	var req sandboxTimeoutRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Timeout == nil {
		return paddock.Errorf(paddock.EInvalid, "field \"timeout\" is required: the new lifetime in seconds from now, at least 1")
	}
	if err := lifetimeField(*req.Timeout); err != nil {
		return err
	}
	env, err = s.Suspender.Extend(r.Context(), env.ID, *req.Timeout)
	if err != nil {
		return err
	}
	out := sandboxTimeoutResponse{SandboxID: env.ID, Timeout: env.Timeout}
	if env.ExpiresAt != nil && !env.ExpiresAt.IsZero() {
		out.ExpiresAt = env.ExpiresAt
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleSandboxPause(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	if err := s.Suspender.Pause(r.Context(), env.ID, "freeze"); err != nil {
		return err
	}
	if env, err = s.EnvironmentStore.Environment(r.Context(), env.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.sandboxResponse(r, env))
}

func (s *Server) handleSandboxDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.notSandboxAction(w, r); err != nil {
		return err
	}
	return s.deleteEnvironment(w, r, s.pathSandbox)
}

func (s *Server) handleSandboxExposePort(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	info, err := s.exposePort(w, r, env)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info)
}

// fileBodyLimit caps the JSON bodies that carry a file's content.
func (s *Server) fileBodyLimit() int64 {
	return max(s.cfg.MaxBodyBytes, min(s.cfg.MaxUploadBytes, maxSandboxFileBytes)*4/3+4096)
}

// writtenFile answers a write with the file's resolved path.
func (s *Server) writtenFile(w http.ResponseWriter, r *http.Request, envID, p string, size int64) error {
	info, err := s.Files.StatFile(r.Context(), envID, p)
	if err != nil {
		return err
	}
	if size < 0 {
		size = info.Size
	}
	return writeJSON(w, http.StatusOK, sandboxFileResponse{SandboxID: envID, Path: info.Path, Size: size})
}

// fileContent decodes the content of a file to write: encoding utf-8
// (also "") or base64.
func fileContent(content, encoding string) ([]byte, error) {
	switch encoding {
	case "", "utf-8", "utf8":
		return []byte(content), nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, paddock.Errorf(paddock.EInvalid, "field \"content\" is not valid base64: %v", err)
		}
		return b, nil
	}
	return nil, paddock.Errorf(paddock.EInvalid, "field \"encoding\" must be utf-8 or base64, not %q", encoding)
}

func (s *Server) handleSandboxWriteFile(w http.ResponseWriter, r *http.Request) error {
	var req writeFileRequest
	if err := s.decodeJSONLimit(w, r, &req, s.fileBodyLimit()); err != nil {
		return err
	}
	if err := requireField("path", req.Path); err != nil {
		return err
	}
	content, err := fileContent(req.Content, req.Encoding)
	if err != nil {
		return err
	}
	env, err := s.sandboxFor(r, req.SandboxID, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	n, err := s.Files.WriteFile(r.Context(), env.ID, req.Path, bytes.NewReader(content), 0o644)
	if err != nil {
		return err
	}
	return s.writtenFile(w, r, env.ID, req.Path, n)
}

// readWhole reads a file of environment id whole: at most
// maxSandboxFileBytes; a larger one is ETooLarge, saying what to do
// instead (instead).
func (s *Server) readWhole(ctx context.Context, id, p, instead string) (paddock.FileInfo, []byte, error) {
	rc, info, err := s.Files.ReadFile(ctx, id, p)
	if err != nil {
		return info, nil, err
	}
	defer rc.Close()
	if info.Size > maxSandboxFileBytes {
		return info, nil, paddock.Errorf(paddock.ETooLarge, "%s is %d bytes; at most %d are read at once: %s", info.Path, info.Size, maxSandboxFileBytes, instead)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxSandboxFileBytes+1))
	if err != nil {
		return info, nil, err
	}
	if len(b) > maxSandboxFileBytes {
		return info, nil, paddock.Errorf(paddock.ETooLarge, "%s grew past %d bytes while it was read", info.Path, maxSandboxFileBytes)
	}
	return info, b, nil
}

func (s *Server) handleSandboxReadFile(w http.ResponseWriter, r *http.Request) error {
	var req sandboxFileRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := requireField("path", req.Path); err != nil {
		return err
	}
	env, err := s.sandboxFor(r, req.SandboxID, filePermission)
	if err != nil {
		return err
	}
	info, b, err := s.readWhole(r.Context(), env.ID, req.Path, "download it with GET /api/v1/environments/"+env.ID+"/files?path=")
	if err != nil {
		return err
	}
	out := readFileResponse{SandboxID: env.ID, Path: info.Path, Size: int64(len(b)), Content: string(b), Encoding: "utf-8"}
	if !jsonText(b, maxSandboxFileBytes) {
		out.Content, out.Encoding = base64.StdEncoding.EncodeToString(b), "base64"
	}
	return writeJSON(w, http.StatusOK, out)
}

// handleSandboxUpload streams the file part of a multipart form into the
// sandbox; the fields sandbox_id and path must come before it.
func (s *Server) handleSandboxUpload(w http.ResponseWriter, r *http.Request) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return paddock.Errorf(paddock.EUnsupported, "send multipart/form-data with the fields sandbox_id, path and file (in that order)")
	}
	body := s.limitUpload(w, r)
	mr := multipart.NewReader(body, params["boundary"])
	var id, p string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return paddock.Errorf(paddock.EInvalid, "field \"file\" is required")
		} else if err != nil {
			if err := body.failed(err); err != nil && paddock.ErrorCode(err) != paddock.EInternal {
				return err // the body itself could not be read
			}
			return paddock.Errorf(paddock.EInvalid, "malformed multipart body: %v", err)
		}
		switch name := part.FormName(); name {
		case "sandbox_id", "path":
			b, err := io.ReadAll(io.LimitReader(part, 4097))
			if err != nil {
				return bodyError(err)
			}
			if len(b) > 4096 {
				return paddock.Errorf(paddock.EInvalid, "field %q is longer than 4096 bytes", name)
			}
			if name == "sandbox_id" {
				id = strings.TrimSpace(string(b))
			} else {
				p = string(b)
			}
		case "file":
			if id == "" {
				return paddock.Errorf(paddock.EInvalid, "field \"sandbox_id\" is required before the file in the form")
			}
			if p == "" {
				p = path.Base(part.FileName())
				if p == "." || p == "/" {
					return paddock.Errorf(paddock.EInvalid, "field \"path\" is required (the file part has no file name)")
				}
			}
			if err := requireField("path", p); err != nil {
				return err
			}
			env, err := s.sandboxFor(r, id, paddock.PermissionWrite)
			if err != nil {
				return err
			}
			// The part's reads fail both when the body does and when
			// its multipart framing is broken: either is the client's.
			file := &uploadBody{r: part}
			n, err := s.Files.WriteFile(r.Context(), env.ID, p, file, 0o644)
			if err != nil {
				return file.failed(err)
			}
			return s.writtenFile(w, r, env.ID, p, n)
		default:
			return paddock.Errorf(paddock.EInvalid, "unknown form field %q: send sandbox_id, path and file", name)
		}
	}
}

// transferURL checks a URL the sandbox fetches from or sends to.
func transferURL(field, raw string) (*url.URL, error) {
	if err := requireField(field, raw); err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "field %q must be an http or https URL", field)
	}
	return u, nil
}

// redacted is a URL without its query and credentials, which in presigned
// URLs are secrets.
func redacted(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// The transfers run inside the sandbox with the first of python3, curl and
// wget it has, so its network policy applies to them. Arguments arrive as
// positional parameters, never spliced into the script.
const (
	// fetchScript URL DEST TIMEOUT PYTHON: DEST is written only once the
	// whole body arrived.
	fetchScript = `url=$1 dest=$2 t=$3 part="$2.paddock-part"
dir=${dest%/*}
if [ "$dir" != "$dest" ] && [ -n "$dir" ]; then mkdir -p -- "$dir" || exit 1; fi
if command -v python3 >/dev/null 2>&1; then python3 -c "$4" "$url" "$part" "$t"
elif command -v curl >/dev/null 2>&1; then curl -fsSL --connect-timeout "$t" -o "$part" "$url"
elif command -v wget >/dev/null 2>&1; then wget -q -T "$t" -O "$part" "$url" || { echo "wget could not fetch the URL" >&2; false; }
else echo "the sandbox has none of python3, curl or wget to fetch with" >&2; exit 127
fi
rc=$?
if [ $rc -ne 0 ]; then rm -f -- "$part"; exit $rc; fi
mv -f -- "$part" "$dest"`
	fetchPython = `import shutil, sys, urllib.error, urllib.request
url, dest, t = sys.argv[1], sys.argv[2], float(sys.argv[3])
try:
    with urllib.request.urlopen(url, timeout=t) as r, open(dest, "wb") as f:
        shutil.copyfileobj(r, f, 1 << 20)
except urllib.error.HTTPError as e:
    sys.exit("HTTP %d %s" % (e.code, e.reason))
except Exception as e:
    sys.exit(str(getattr(e, "reason", None) or e))
`
	// putScript FILE URL TIMEOUT CONTENT_TYPE PYTHON
	putScript = `f=$1 url=$2 t=$3 ct=$4
if command -v python3 >/dev/null 2>&1; then exec python3 -c "$5" "$f" "$url" "$t" "$ct"
elif command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null --connect-timeout "$t" -H "Content-Type: $ct" -T "$f" "$url"
elif command -v wget >/dev/null 2>&1; then wget -q -T "$t" --method=PUT --body-file="$f" --header="Content-Type: $ct" -O /dev/null "$url" || { echo "wget could not PUT to the URL" >&2; exit 1; }
else echo "the sandbox has none of python3, curl or wget to send with" >&2; exit 127
fi`
	putPython = `import os, sys, urllib.error, urllib.request
path, url, t, ct = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
try:
    with open(path, "rb") as f:
        req = urllib.request.Request(url, data=f, method="PUT",
            headers={"Content-Length": str(os.fstat(f.fileno()).st_size), "Content-Type": ct})
        with urllib.request.urlopen(req, timeout=t) as r:
            r.read()
except urllib.error.HTTPError as e:
    sys.exit("HTTP %d %s" % (e.code, e.reason))
except Exception as e:
    sys.exit(str(getattr(e, "reason", None) or e))
`
)

// transfer runs a transfer script in the sandbox; a failure is the
// caller's (an unreachable or refusing URL) and says why.
func (s *Server) transfer(r *http.Request, envID, what string, timeout int, argv ...string) error {
	res, err := s.Environments.Exec(r.Context(), envID, &paddock.ExecRequest{
		Command: argv, Timeout: time.Duration(timeout+10) * time.Second, MaxOutput: 64 << 10,
	})
	if err != nil {
		return err
	}
	if res.TimedOut {
		return paddock.Errorf(paddock.EInvalid, "%s from inside sandbox %s: timed out after %d s", what, envID, timeout)
	}
	if res.ExitCode != 0 {
		why := strings.TrimSpace(res.Stderr)
		if i := strings.LastIndexByte(why, '\n'); i >= 0 {
			why = why[i+1:]
		}
		if len(why) > 500 {
			why = why[:500] + "..."
		}
		return paddock.Errorf(paddock.EInvalid, "%s from inside sandbox %s (its network policy decides what it may reach): %s", what, envID, cmp.Or(why, "exit code "+strconv.Itoa(res.ExitCode)))
	}
	return nil
}

func (s *Server) handleSandboxUploadFromURL(w http.ResponseWriter, r *http.Request) error {
	var req uploadFromURLRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := transferURL("url", req.URL)
	if err != nil {
		return err
	}
	if err := requireField("path", req.Path); err != nil {
		return err
	}
	timeout, err := secondsField("timeout", req.Timeout, defaultTransferTimeout)
	if err != nil {
		return err
	}
	env, err := s.sandboxFor(r, req.SandboxID, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("could not fetch %s", redacted(u))
	if err := s.transfer(r, env.ID, what, timeout, "sh", "-c", fetchScript, "sh", req.URL, req.Path, strconv.Itoa(timeout), fetchPython); err != nil {
		return err
	}
	return s.writtenFile(w, r, env.ID, req.Path, -1)
}

func (s *Server) handleSandboxDownloadToPresigned(w http.ResponseWriter, r *http.Request) error {
	var req downloadToPresignedRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := requireField("path", req.Path); err != nil {
		return err
	}
	u, err := transferURL("url", req.URL)
	if err != nil {
		return err
	}
	timeout, err := secondsField("timeout", req.Timeout, defaultTransferTimeout)
	if err != nil {
		return err
	}
	ct := cmp.Or(req.ContentType, "application/octet-stream")
	if strings.ContainsAny(ct, "\r\n\x00") {
		return paddock.Errorf(paddock.EInvalid, "field \"content_type\" must be one line")
	}
	env, err := s.sandboxFor(r, req.SandboxID, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	info, err := s.Files.StatFile(r.Context(), env.ID, req.Path)
	if err != nil {
		return err
	}
	if info.Type == paddock.FileTypeDir {
		return paddock.Errorf(paddock.EInvalid, "%s is a directory, not a file", info.Path)
	}
	what := fmt.Sprintf("could not PUT %s to %s", info.Path, redacted(u))
	if err := s.transfer(r, env.ID, what, timeout, "sh", "-c", putScript, "sh", info.Path, req.URL, strconv.Itoa(timeout), ct, putPython); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sandboxFileResponse{SandboxID: env.ID, Path: info.Path, Size: info.Size})
}

func (s *Server) handleSandboxMkdir(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	var req sandboxPathRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := requireField("path", req.Path); err != nil {
		return err
	}
	if err := s.Files.Mkdir(r.Context(), env.ID, req.Path, true); err != nil {
		return err
	}
	info, err := s.Files.StatFile(r.Context(), env.ID, req.Path)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sandboxPathResponse{SandboxID: env.ID, Path: info.Path})
}

// Slides: HTML files in slidesDir, one per slide, and an index there that
// holds their order, ids and titles. Edits of one sandbox's slides are
// serialized in this process.

const (
	slidesDir   = "/workspace/slides"
	slidesIndex = slidesDir + "/index.json"
)

type slideEntry struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type slideIndexFile struct {
	Slides []slideEntry `json:"slides"`
}

type slideParams struct {
	ID      string `path:"id"`
	SlideID string `path:"slide_id"`
}

type slideCreateRequest struct {
	Title    string `json:"title,omitempty" maxLength:"500"`
	HTML     string `json:"html" required:"true"`
	Position *int   `json:"position,omitempty" minimum:"1" description:"1 is the first slide; default: after the last"`
}

type slideUpdateRequest struct {
	Title    *string `json:"title,omitempty" maxLength:"500"`
	HTML     *string `json:"html,omitempty"`
	Position *int    `json:"position,omitempty" minimum:"1" description:"move the slide there; 1 is the first"`
}

type slideResponse struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Position  int       `json:"position" description:"1 is the first slide"`
	Path      string    `json:"path" description:"the slide's HTML file in the sandbox"`
	HTML      string    `json:"html,omitempty" description:"in answers about one slide"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type slideListResponse struct {
	SandboxID string          `json:"sandbox_id"`
	Slides    []slideResponse `json:"slides"`
}

func slidePath(id string) string { return slidesDir + "/" + id + ".html" }

func toSlide(e slideEntry, i int, html string) slideResponse {
	return slideResponse{ID: e.ID, Title: e.Title, Position: i + 1, Path: slidePath(e.ID), HTML: html, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

func newSlideID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return "sld_" + string(b)
}

const idChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// validSlideID keeps ids to what newSlideID makes, so an id never names
// a path outside slidesDir.
func validSlideID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (s *Server) readSlides(r *http.Request, envID string) (*slideIndexFile, error) {
	rc, _, err := s.Files.ReadFile(r.Context(), envID, slidesIndex)
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return &slideIndexFile{}, nil
	} else if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 8<<20))
	if err != nil {
		return nil, err
	}
	var idx slideIndexFile
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, paddock.Errorf(paddock.EConflict, "the slide index %s of sandbox %s is not valid JSON (%v); fix or delete it", slidesIndex, envID, err)
	}
	return &idx, nil
}

func (s *Server) writeSlides(r *http.Request, envID string, idx *slideIndexFile) error {
	if idx.Slides == nil {
		idx.Slides = []slideEntry{}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	_, err = s.Files.WriteFile(r.Context(), envID, slidesIndex, bytes.NewReader(b), 0o644)
	return err
}

// findSlide returns the position of the slide of the route's path.
func findSlide(r *http.Request, envID string, idx *slideIndexFile) (int, error) {
	id := r.PathValue("slide_id")
	if validSlideID(id) {
		for i, e := range idx.Slides {
			if e.ID == id {
				return i, nil
			}
		}
	}
	return 0, paddock.Errorf(paddock.ENotFound, "slide %q not found in sandbox %s", id, envID)
}

func (s *Server) readSlideHTML(r *http.Request, envID, id string) (string, error) {
	rc, _, err := s.Files.ReadFile(r.Context(), envID, slidePath(id))
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return "", paddock.Errorf(paddock.ENotFound, "the file of slide %s (%s) is missing from sandbox %s", id, slidePath(id), envID)
	} else if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSandboxFileBytes))
	return string(b), err
}

func validSlideTitle(t string) error {
	if len(t) > 500 {
		return paddock.Errorf(paddock.EInvalid, "field \"title\" is longer than 500 characters")
	}
	return nil
}

// slideLocks serializes the edits of each sandbox's slide index.
type slideLocks struct {
	mu    sync.Mutex
	locks map[string]*slideLock
}

type slideLock struct {
	sync.Mutex
	refs int
}

func (l *slideLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*slideLock{}
	}
	k := l.locks[id]
	if k == nil {
		k = &slideLock{}
		l.locks[id] = k
	}
	k.refs++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.locks, id)
		}
		l.mu.Unlock()
	}
}

// handleSlideList lists a sandbox's slides. Slides are files in the
// sandbox: reading them takes filePermission, as reading files does.
func (s *Server) handleSlideList(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, filePermission)
	if err != nil {
		return err
	}
	idx, err := s.readSlides(r, env.ID)
	if err != nil {
		return err
	}
	out := slideListResponse{SandboxID: env.ID, Slides: make([]slideResponse, len(idx.Slides))}
	for i, e := range idx.Slides {
		out.Slides[i] = toSlide(e, i, "")
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleSlideGet(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, filePermission)
	if err != nil {
		return err
	}
	idx, err := s.readSlides(r, env.ID)
	if err != nil {
		return err
	}
	i, err := findSlide(r, env.ID, idx)
	if err != nil {
		return err
	}
	html, err := s.readSlideHTML(r, env.ID, idx.Slides[i].ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toSlide(idx.Slides[i], i, html))
}

func (s *Server) handleSlideCreate(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	var req slideCreateRequest
	if err := s.decodeJSONLimit(w, r, &req, s.fileBodyLimit()); err != nil {
		return err
	}
	if err := requireField("html", req.HTML); err != nil {
		return err
	}
	if err := validSlideTitle(req.Title); err != nil {
		return err
	}
	defer s.slideLocks.lock(env.ID)()
	idx, err := s.readSlides(r, env.ID)
	if err != nil {
		return err
	}
	pos := len(idx.Slides)
	if req.Position != nil {
		if *req.Position < 1 || *req.Position > len(idx.Slides)+1 {
			return paddock.Errorf(paddock.EInvalid, "field \"position\" must be between 1 and %d", len(idx.Slides)+1)
		}
		pos = *req.Position - 1
	}
	now := s.now().UTC()
	e := slideEntry{ID: newSlideID(), Title: req.Title, CreatedAt: now, UpdatedAt: now}
	if _, err := s.Files.WriteFile(r.Context(), env.ID, slidePath(e.ID), strings.NewReader(req.HTML), 0o644); err != nil {
		return err
	}
	idx.Slides = slices.Insert(idx.Slides, pos, e)
	if err := s.writeSlides(r, env.ID, idx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toSlide(e, pos, req.HTML))
}

func (s *Server) handleSlideUpdate(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	var req slideUpdateRequest
	if err := s.decodeJSONLimit(w, r, &req, s.fileBodyLimit()); err != nil {
		return err
	}
	if req.Title == nil && req.HTML == nil && req.Position == nil {
		return paddock.Errorf(paddock.EInvalid, "nothing to change: send title, html or position")
	}
	if req.HTML != nil {
		if err := requireField("html", *req.HTML); err != nil {
			return err
		}
	}
	if req.Title != nil {
		if err := validSlideTitle(*req.Title); err != nil {
			return err
		}
	}
	defer s.slideLocks.lock(env.ID)()
	idx, err := s.readSlides(r, env.ID)
	if err != nil {
		return err
	}
	i, err := findSlide(r, env.ID, idx)
	if err != nil {
		return err
	}
	if req.Position != nil && (*req.Position < 1 || *req.Position > len(idx.Slides)) {
		return paddock.Errorf(paddock.EInvalid, "field \"position\" must be between 1 and %d", len(idx.Slides))
	}
	e := idx.Slides[i]
	html := ""
	if req.HTML != nil {
		html = *req.HTML
		if _, err := s.Files.WriteFile(r.Context(), env.ID, slidePath(e.ID), strings.NewReader(html), 0o644); err != nil {
			return err
		}
	} else if html, err = s.readSlideHTML(r, env.ID, e.ID); err != nil {
		return err
	}
	if req.Title != nil {
		e.Title = *req.Title
	}
	e.UpdatedAt = s.now().UTC()
	pos := i
	if req.Position != nil {
		pos = *req.Position - 1
	}
	idx.Slides = slices.Insert(slices.Delete(idx.Slides, i, i+1), pos, e)
	if err := s.writeSlides(r, env.ID, idx); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toSlide(e, pos, html))
}

func (s *Server) handleSlideDelete(w http.ResponseWriter, r *http.Request) error {
	env, err := s.pathSandbox(r, paddock.PermissionWrite)
	if err != nil {
		return err
	}
	defer s.slideLocks.lock(env.ID)()
	idx, err := s.readSlides(r, env.ID)
	if err != nil {
		return err
	}
	i, err := findSlide(r, env.ID, idx)
	if err != nil {
		return err
	}
	id := idx.Slides[i].ID
	idx.Slides = slices.Delete(idx.Slides, i, i+1)
	if err := s.writeSlides(r, env.ID, idx); err != nil {
		return err
	}
	if err := s.Files.RemoveFile(r.Context(), env.ID, slidePath(id), false); err != nil && paddock.ErrorCode(err) != paddock.ENotFound {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
