package httpapi

import (
	"net/http"
)

// route is one API route: its pattern, surface, rate-limit category, who may
// call it, its handler, and what the OpenAPI document says about it.
type route struct {
	method, path string
	surface      surface
	category     category
	access       access
	handler      handlerFunc
	doc          doc
}

// doc describes a route for the OpenAPI document. params is a struct whose
// fields carry `path:"..."` and `query:"..."` tags; body and resp are the
// JSON request and response types (nil when there is none).
type doc struct {
	tag, summary string
	params       any
	body         any
	form         bool // the body may also be form-encoded
	resp         any
	status       int    // success status; default 200
	contentType  string // response type when not JSON
}

// routeTable holds every route of the server.
func (s *Server) routeTable() []route {
	const (
		env  = surfaceEnvironments
		plat = surfacePlatform
		agt  = surfaceAgents
	)
	return []route{
		// Health, metrics and the API description.
		{"GET", "/health", agt, catOther, public, s.handleHealth, doc{tag: "health", summary: "Service health (seeds 002, 003)", resp: healthResponse{}}},
		{"GET", "/api/v1/health", env, catOther, public, s.handleEnvironmentsHealth, doc{tag: "health", summary: "Health of the API and the sandbox runtime, with capacity (seed 004)", resp: environmentsHealthResponse{}}},
		{"GET", "/metrics", agt, catOther, public, s.handleMetrics, doc{tag: "health", summary: "Prometheus metrics", contentType: "text/plain"}},
		{"GET", "/openapi.json", agt, catOther, public, s.handleOpenAPI, doc{tag: "docs", summary: "This OpenAPI 3.1 document", contentType: "application/json"}},
		{"GET", "/swagger-ui/", agt, catOther, public, s.handleSwaggerUI, doc{tag: "docs", summary: "Swagger UI for this API", contentType: "text/html"}},

		// Identity, environments surface (seed 004).
		{"POST", "/api/v1/auth/login", env, catAuth, public, s.handleLogin, doc{tag: "auth", summary: "Log in with username and password (JSON or form)", body: loginRequest{}, form: true, resp: loginResponse{}}},
		{"GET", "/api/v1/auth/me", env, catOther, authenticated, s.handleMe, doc{tag: "auth", summary: "The current user", resp: userResponse{}}},
		{"GET", "/api/v1/api-keys", env, catOther, authenticated, s.handleAPIKeyList, doc{tag: "api-keys", summary: "List your API keys", resp: apiKeyListResponse{}}},
		{"POST", "/api/v1/api-keys", env, catOther, authenticated, s.handleAPIKeyCreate, doc{tag: "api-keys", summary: "Create an API key; the secret is returned once", body: apiKeyCreateRequest{}, resp: apiKeyCreatedResponse{}, status: http.StatusCreated}},
		{"DELETE", "/api/v1/api-keys/{id}", env, catOther, authenticated, s.handleAPIKeyDelete, doc{tag: "api-keys", summary: "Revoke an API key", params: idParam{}, status: http.StatusNoContent}},

		// Environments (seed 004).
		{"POST", "/api/v1/environments", env, catEnvironmentCreate, authenticated, s.handleEnvironmentCreate, doc{tag: "environments", summary: "Create an environment; it starts in the background (status pending, then running or failed) unless wait=true", params: environmentCreateParams{}, body: environmentCreateRequest{}, resp: environmentResponse{}, status: http.StatusCreated}},
		{"GET", "/api/v1/environments", env, catOther, authenticated, s.handleEnvironmentList, doc{tag: "environments", summary: "List environments, filtered by status and label selector", params: environmentListParams{}, resp: environmentListResponse{}}},
		{"GET", "/api/v1/environments/{id}", env, catOther, authenticated, s.handleEnvironmentGet, doc{tag: "environments", summary: "Get an environment with its CPU and memory use", params: idParam{}, resp: environmentResponse{}}},
		{"DELETE", "/api/v1/environments/{id}", env, catOther, authenticated, s.handleEnvironmentDelete, doc{tag: "environments", summary: "Delete an environment (graceful, or immediate with force=true)", params: environmentDeleteParams{}, status: http.StatusNoContent}},
		{"POST", "/api/v1/environments/{id}/exec", env, catExec, authenticated, s.handleEnvironmentExec, doc{tag: "environments", summary: "Run a command and return its output", params: idParam{}, body: execRequest{}, resp: execResponse{}}},
		{"GET", "/api/v1/environments/{id}/logs", env, catOther, authenticated, s.handleEnvironmentLogs, doc{tag: "environments", summary: "The environment's log; follow=true streams it over SSE", params: logsParams{}, resp: logsResponse{}}},

		// Images in the local store.
		{"GET", "/api/v1/images", env, catOther, authenticated, s.handleImageList, doc{tag: "images", summary: "List images in the local store", resp: imageListResponse{}}},
		{"POST", "/api/v1/images", env, catOther, adminOnly, s.handleImageCreate, doc{tag: "images", summary: "Pull or build an image (admin); Accept: text/event-stream streams progress", body: imageCreateRequest{}, resp: imageResponse{}, status: http.StatusCreated}},
		{"POST", "/api/v1/images/import", env, catOther, authenticated, s.handleImageImport, doc{tag: "images", summary: "Import a docker save or OCI layout archive sent as the body", params: imageImportParams{}, resp: imageResponse{}, status: http.StatusCreated}},
		{"DELETE", "/api/v1/images/{name...}", env, catOther, adminOnly, s.handleImageDelete, doc{tag: "images", summary: "Remove an image no environment uses (admin)", params: imageNameParam{}, status: http.StatusNoContent}},

		// Identity, platform surface (seeds 000, 003).
		{"POST", "/api/v1/admin/auth/login", plat, catAuth, public, s.handleAdminLogin, doc{tag: "admin-auth", summary: "Log in (JSON or form), with a captcha when enabled", body: adminLoginRequest{}, form: true, resp: adminLoginResponse{}}},
		{"POST", "/api/v1/admin/auth/logout", plat, catAuth, authenticated, s.handleAdminLogout, doc{tag: "admin-auth", summary: "Log out: the token stops working at once", resp: messageResponse{}}},
		{"POST", "/api/v1/admin/auth/token/refresh", plat, catAuth, authenticated, s.handleAdminRefresh, doc{tag: "admin-auth", summary: "Exchange the current token for a new one; the old one is revoked", resp: adminLoginResponse{}}},
		{"GET", "/api/v1/admin/auth/captcha", plat, catAuth, public, s.handleCaptcha, doc{tag: "admin-auth", summary: "A new captcha challenge (PNG, base64); ?format=png returns the image itself", params: captchaParams{}, resp: captchaResponse{}}},
		{"GET", "/api/v1/admin/sys/users", plat, catOther, adminOnly, s.handleUserList, doc{tag: "admin-users", summary: "List users (paginated)", params: userListParams{}, resp: userListResponse{}}},
		{"GET", "/api/v1/admin/sys/users/{id}", plat, catOther, adminOnly, s.handleUserGet, doc{tag: "admin-users", summary: "Get a user", params: idParam{}, resp: adminUser{}}},
		{"POST", "/api/v1/admin/sys/users", plat, catOther, adminOnly, s.handleUserCreate, doc{tag: "admin-users", summary: "Create a user", body: userCreateRequest{}, resp: adminUser{}, status: http.StatusCreated}},
		{"PUT", "/api/v1/admin/sys/users/{id}", plat, catOther, adminOnly, s.handleUserUpdate, doc{tag: "admin-users", summary: "Update a user", params: idParam{}, body: userUpdateRequest{}, resp: adminUser{}}},
		{"DELETE", "/api/v1/admin/sys/users/{id}", plat, catOther, adminOnly, s.handleUserDelete, doc{tag: "admin-users", summary: "Delete a user (never the last admin)", params: idParam{}, status: http.StatusNoContent}},
	}
}

// Routes lists every route as "METHOD /path", for tests and tools.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.method + " " + rt.path
	}
	return out
}

// idParam is the {id} path parameter.
type idParam struct {
	ID string `path:"id"`
}

// messageResponse is a plain acknowledgement.
type messageResponse struct {
	Message string `json:"message"`
}
