package httpapi

import (
	"net/http"
	"strings"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/pptx"
	"github.com/paddockhq/paddock/internal/webui"
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
	upload       any  // the body may also be this multipart/form-data form
	resp         any
	status       int    // success status; default 200
	contentType  string // response type when not JSON (with resp: another the route may send)
}

// routeTable holds every route of the server.
func (s *Server) routeTable() []route {
	const (
		env  = surfaceEnvironments
		plat = surfacePlatform
		agt  = surfaceAgents
		ast  = surfaceAssistants
	)
	return []route{
		// Health, metrics and the API description.
		{"GET", "/health", agt, catOther, public, s.handleHealth, doc{tag: "health", summary: "Service health (seeds 002, 003)", resp: healthResponse{}}},
		{"GET", "/api/v1/health", env, catOther, public, s.handleEnvironmentsHealth, doc{tag: "health", summary: "Health of the API and the sandbox runtime, with capacity (seed 004)", resp: environmentsHealthResponse{}}},
		{"GET", "/metrics", agt, catOther, public, s.handleMetrics, doc{tag: "health", summary: "Prometheus metrics", contentType: "text/plain"}},
		{"GET", "/openapi.json", agt, catOther, public, s.handleOpenAPI, doc{tag: "docs", summary: "This OpenAPI 3.1 document", contentType: "application/json"}},
		{"GET", "/swagger-ui/", agt, catOther, public, s.handleSwaggerUI, doc{tag: "docs", summary: "Swagger UI for this API", contentType: "text/html"}},
		{"GET", "/{$}", agt, catOther, public, handleRoot, doc{tag: "ui", summary: "Redirects to the web UI", status: http.StatusFound}},
		{"GET", webui.Prefix, agt, catOther, public, handleUI, doc{tag: "ui", summary: "The web UI: environments, agents and their sessions, images and API keys", contentType: "text/html"}},

		// Agents, sessions and messages (seed 002).
		{"POST", "/v1/agents", agt, catOther, authenticated, s.handleAgentCreate, doc{tag: "agents", summary: "Create an agent", body: agentRequest{}, resp: agentResponse{}, status: http.StatusCreated}},
		{"GET", "/v1/agents", agt, catOther, authenticated, s.handleAgentList, doc{tag: "agents", summary: "List agents", params: pageParams{}, resp: agentListResponse{}}},
		{"GET", "/v1/agents/{id}", agt, catOther, authenticated, s.handleAgentGet, doc{tag: "agents", summary: "Get an agent", params: idParam{}, resp: agentResponse{}}},
		{"PATCH", "/v1/agents/{id}", agt, catOther, authenticated, s.handleAgentPatch, doc{tag: "agents", summary: "Update an agent", params: idParam{}, body: agentPatchRequest{}, resp: agentResponse{}}},
		{"DELETE", "/v1/agents/{id}", agt, catOther, authenticated, s.handleAgentDelete, doc{tag: "agents", summary: "Archive an agent: it takes no new sessions", params: idParam{}, status: http.StatusNoContent}},
		{"POST", "/v1/agents/{id}/sessions", agt, catOther, authenticated, s.handleSessionCreate, doc{tag: "sessions", summary: "Create a session", params: idParam{}, body: sessionRequest{}, resp: sessionResponse{}, status: http.StatusCreated}},
		{"GET", "/v1/agents/{id}/sessions", agt, catOther, authenticated, s.handleSessionList, doc{tag: "sessions", summary: "List an agent's sessions", params: idParam{}, resp: sessionListResponse{}}},
		{"GET", "/v1/agents/{id}/sessions/{sid}", agt, catOther, authenticated, s.handleSessionGet, doc{tag: "sessions", summary: "Get a session: status pending (idle), running or failed", params: sessionParams{}, resp: sessionResponse{}}},
		{"DELETE", "/v1/agents/{id}/sessions/{sid}", agt, catOther, authenticated, s.handleSessionDelete, doc{tag: "sessions", summary: "Delete a session and its environment", params: sessionParams{}, status: http.StatusNoContent}},
		{"POST", "/v1/agents/{id}/sessions/{sid}/cancel", agt, catOther, authenticated, s.handleSessionCancel, doc{tag: "sessions", summary: "Cancel the active run: the model call is aborted, tool processes are killed", params: sessionParams{}}},
		{"POST", "/v1/agents/{id}/sessions/{sid}/messages", agt, catOther, authenticated, s.handleMessageCreate, doc{tag: "sessions", summary: "Post a user message: starts a run (or queues it behind the active one) and returns at once; Idempotency-Key makes retries safe", params: sessionParams{}, body: messageRequest{}, resp: paddock.Message{}, status: http.StatusCreated}},
		{"GET", "/v1/agents/{id}/sessions/{sid}/messages", agt, catOther, authenticated, s.handleMessageList, doc{tag: "sessions", summary: "List the session's messages", params: sessionParams{}, resp: messageListResponse{}}},
		{"GET", "/v1/agents/{id}/sessions/{sid}/events", agt, catOther, authenticated, s.handleSessionEvents, doc{tag: "sessions", summary: "The session's events over SSE (id = sequence; Last-Event-ID or ?since= replays), or a list with ?format=json", params: eventsParams{}, resp: eventListResponse{}}},
		// Users' own provider keys (DESIGN: keys stored encrypted per user).
		{"GET", "/v1/provider-keys", agt, catOther, authenticated, s.handleProviderKeyList, doc{tag: "provider-keys", summary: "Your own LLM provider keys (hints only): your agents' model calls use them instead of the server's", resp: providerKeyList{}}},
		{"PUT", "/v1/provider-keys/{provider}", agt, catOther, authenticated, s.handleProviderKeyPut, doc{tag: "provider-keys", summary: "Set or replace your key for a provider (stored encrypted)", params: providerParam{}, body: providerKeyRequest{}, resp: providerKeyResponse{}}},
		{"DELETE", "/v1/provider-keys/{provider}", agt, catOther, authenticated, s.handleProviderKeyDelete, doc{tag: "provider-keys", summary: "Remove your key for a provider: your agents use the server's again", params: providerParam{}, status: http.StatusNoContent}},

		{"GET", "/v1/usage", agt, catOther, authenticated, s.handleUsage, doc{tag: "usage", summary: "Model usage and cost: your own (admins: everyone's, or user_id's), by agent, session and time range", params: usageParams{}, resp: usageResponse{}}},

		// Assistants (seed 001): agents seen as assistants.
		{"GET", "/api/assistants", ast, catOther, authenticated, s.handleAssistantList, doc{tag: "assistants", summary: "List assistants", params: pageParams{}, resp: assistantListResponse{}}},
		{"POST", "/api/assistants", ast, catOther, authenticated, s.handleAssistantCreate, doc{tag: "assistants", summary: "Create an assistant (an agent)", body: assistantRequest{}, resp: assistantResponse{}, status: http.StatusCreated}},
		{"GET", "/api/assistants/{id}", ast, catOther, authenticated, s.handleAssistantGet, doc{tag: "assistants", summary: "Get an assistant by id or name", params: assistantRefParam{}, resp: assistantResponse{}}},
		{"PATCH", "/api/assistants/{id}", ast, catOther, authenticated, s.handleAssistantPatch, doc{tag: "assistants", summary: "Update an assistant: llmPrompt, name, description, llmProvider, llmModel", params: assistantRefParam{}, body: assistantPatchRequest{}, resp: assistantResponse{}}},
		{"DELETE", "/api/assistants/{id}", ast, catOther, authenticated, s.handleAssistantDelete, doc{tag: "assistants", summary: "Archive an assistant: it takes no new sessions or executions", params: assistantRefParam{}, status: http.StatusNoContent}},
		{"POST", "/api/assistants/{id}/execute", ast, catOther, authenticated, s.handleAssistantExecute, doc{tag: "assistants", summary: "Stateless execution: nothing is stored; tools get a temporary environment. Accept: text/event-stream streams token frames, then done", params: assistantRefParam{}, body: executeRequest{}, resp: assistantMessage{}}},
		{"POST", "/api/assistants/{id}/user-input", ast, catOther, authenticated, s.handleAssistantUserInput, doc{tag: "assistants", summary: "Session execution: appends to the session (a new one without sessionId; its id is in session_id and X-Session-Id) and answers with the full reply; Accept: text/event-stream streams it", params: assistantRefParam{}, body: userInputRequest{}, resp: assistantMessage{}}},
		{"POST", "/api/sessions", ast, catOther, authenticated, s.handleAssistantSessionCreate, doc{tag: "assistants", summary: "Create a session of an assistant", body: assistantSessionRequest{}, resp: assistantSession{}, status: http.StatusCreated}},
		{"GET", "/api/sessions", ast, catOther, authenticated, s.handleAssistantSessionList, doc{tag: "assistants", summary: "List your sessions, of one assistant with assistantId", params: assistantSessionListParams{}, resp: assistantSessionList{}}},
		{"GET", "/api/sessions/{id}", ast, catOther, authenticated, s.handleAssistantSessionGet, doc{tag: "assistants", summary: "Get a session", params: assistantSessionParam{}, resp: assistantSession{}}},
		{"DELETE", "/api/sessions/{id}", ast, catOther, authenticated, s.handleAssistantSessionDelete, doc{tag: "assistants", summary: "Delete a session, its history and its environment", params: assistantSessionParam{}, status: http.StatusNoContent}},
		{"GET", "/api/sessions/{id}/messages", ast, catOther, authenticated, s.handleAssistantSessionMessages, doc{tag: "assistants", summary: "The session's history, oldest first, with usage on assistant messages", params: assistantMessagesParams{}, resp: assistantMessageList{}}},

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
		{"POST", "/api/v1/environments/{id}/exec", env, catExec, authenticated, s.handleEnvironmentExec, doc{tag: "environments", summary: "Run a command and return its output; Accept: text/event-stream streams stdout and stderr events ({\"data\"}) as it runs, then exit (or error)", params: idParam{}, body: execRequest{}, resp: execResponse{}}},
		{"POST", "/api/v1/environments/{id}/mcp", env, catExec, authenticated, s.handleEnvironmentMCP, doc{tag: "environments", summary: "The environment as an MCP server (streamable HTTP, stateless): tools run_command, read_file, write_file, list_files; needs write permission", params: idParam{}, body: mcpRPC{}, resp: mcpRPC{}}},
		{"GET", "/api/v1/environments/{id}/logs", env, catOther, authenticated, s.handleEnvironmentLogs, doc{tag: "environments", summary: "The environment's log; follow=true streams it over SSE", params: logsParams{}, resp: logsResponse{}}},

		{"PATCH", "/api/v1/environments/{id}", env, catOther, authenticated, s.handleEnvironmentPatch, doc{tag: "environments", summary: "Extend the lifetime: timeout seconds from now", params: idParam{}, body: environmentPatchRequest{}, resp: environmentResponse{}}},
		{"POST", "/api/v1/environments/{id}/pause", env, catOther, authenticated, s.handleEnvironmentPause, doc{tag: "environments", summary: "Pause: freeze the processes (memory kept), or hibernate them to disk (gVisor)", params: idParam{}, body: pauseRequest{}, resp: environmentResponse{}}},
		{"POST", "/api/v1/environments/{id}/resume", env, catOther, authenticated, s.handleEnvironmentResume, doc{tag: "environments", summary: "Resume a paused environment as it was", params: idParam{}, resp: environmentResponse{}}},

		// Interactive use of environments.
		{"GET", "/api/v1/environments/{id}/processes", env, catOther, authenticated, s.handleProcessList, doc{tag: "environments", summary: "Background processes (exec with background: true), newest first, kept until the environment ends (the last 32)", params: idParam{}, resp: processList{}}},
		{"GET", "/api/v1/environments/{id}/processes/{pid}", env, catOther, authenticated, s.handleProcessGet, doc{tag: "environments", summary: "A background process: status running, exited, killed or failed, exit_code once exited", params: processParams{}, resp: paddock.Process{}}},
		{"GET", "/api/v1/environments/{id}/processes/{pid}/output", env, catOther, authenticated, s.handleProcessOutput, doc{tag: "environments", summary: "A background process's output from ?since= (its last 256 KiB are kept); follow=true or Accept: text/event-stream follows it: stdout/stderr events, then exit", params: processOutputParams{}, resp: processOutput{}}},
		{"POST", "/api/v1/environments/{id}/processes/{pid}/kill", env, catOther, authenticated, s.handleProcessKill, doc{tag: "environments", summary: "Kill a background process and its process group", params: processParams{}, resp: paddock.Process{}}},
		{"POST", "/api/v1/environments/{id}/attach-ticket", env, catOther, authenticated, s.handleAttachTicket, doc{tag: "environments", summary: "A single-use ticket (30 s) to attach from a browser, which cannot send headers on WebSockets", params: idParam{}, resp: ticketResponse{}, status: http.StatusCreated}},
		{"GET", "/api/v1/environments/{id}/attach", env, catExec, public, s.handleAttach, doc{tag: "environments", summary: "WebSocket: an interactive shell (or ?command=) on a PTY; JSON messages stdin/resize in, stdout/stderr/exit out. Credentials: Authorization header, subprotocol bearer.<token>, or ?ticket=", params: attachParams{}, status: http.StatusSwitchingProtocols}},
		{"GET", "/api/v1/environments/{id}/files", env, catOther, authenticated, s.handleFileGet, doc{tag: "files", summary: "Download a file (streamed)", params: fileParams{}, contentType: "application/octet-stream"}},
		{"PUT", "/api/v1/environments/{id}/files", env, catOther, authenticated, s.handleFilePut, doc{tag: "files", summary: "Upload a file (streamed, parents created, written atomically)", params: fileWriteParams{}, resp: fileWriteResponse{}, status: http.StatusCreated}},
		{"DELETE", "/api/v1/environments/{id}/files", env, catOther, authenticated, s.handleFileDelete, doc{tag: "files", summary: "Delete a file, or a directory with recursive=true", params: fileDeleteParams{}, status: http.StatusNoContent}},
		{"GET", "/api/v1/environments/{id}/files/stat", env, catOther, authenticated, s.handleFileStat, doc{tag: "files", summary: "Describe a file: name, path, size, mode, mtime, type; a symlink is described, not followed", params: fileParams{}, resp: paddock.FileInfo{}}},
		{"GET", "/api/v1/environments/{id}/files/list", env, catOther, authenticated, s.handleFileList, doc{tag: "files", summary: "List a directory: name, size, mode, mtime, type", params: fileParams{}, resp: fileListResponse{}}},
		{"POST", "/api/v1/environments/{id}/files/mkdir", env, catOther, authenticated, s.handleMkdir, doc{tag: "files", summary: "Create a directory (with parents by default)", params: idParam{}, body: mkdirRequest{}, resp: paddock.FileInfo{}, status: http.StatusCreated}},
		{"GET", "/api/v1/environments/{id}/files/archive", env, catOther, authenticated, s.handleArchiveGet, doc{tag: "files", summary: "A tar of a directory (streamed)", params: fileParams{}, contentType: "application/x-tar"}},
		{"PUT", "/api/v1/environments/{id}/files/archive", env, catOther, authenticated, s.handleArchivePut, doc{tag: "files", summary: "Extract a tar into a directory; entries may not lead outside it", params: fileParams{}, resp: archiveExtractResponse{}}},

		{"GET", "/api/v1/environments/{id}/ports", env, catOther, authenticated, s.handlePortList, doc{tag: "ports", summary: "Ports the proxy serves, with their URLs", params: idParam{}, resp: portListResponse{}}},
		{"POST", "/api/v1/environments/{id}/ports", env, catOther, authenticated, s.handlePortExpose, doc{tag: "ports", summary: "Expose a port through the authenticated proxy", params: idParam{}, body: portRequest{}, resp: portInfo{}, status: http.StatusCreated}},
		{"POST", "/api/v1/environments/{id}/ports/{port}/ticket", env, catOther, authenticated, s.handlePortTicket, doc{tag: "ports", summary: "A URL that signs a browser in to one port (single use, 30 s; the session cookie lasts 12 h)", params: portOnlyParams{}, resp: portTicketResponse{}, status: http.StatusCreated}},
		{"", "/api/v1/environments/{id}/ports/{port}/{path...}", env, catProxy, public, s.handlePortProxy, doc{tag: "ports", summary: "Reverse proxy (HTTP and WebSocket, any method) to the port inside the environment; needs write permission", params: portParams{}, contentType: "*/*"}},

		// Images in the local store.
		{"GET", "/api/v1/images", env, catOther, authenticated, s.handleImageList, doc{tag: "images", summary: "List images in the local store", resp: imageListResponse{}}},
		{"POST", "/api/v1/images", env, catOther, adminOnly, s.handleImageCreate, doc{tag: "images", summary: "Pull or build an image (admin); Accept: text/event-stream streams progress", body: imageCreateRequest{}, resp: imageResponse{}, status: http.StatusCreated}},
		{"POST", "/api/v1/images/import", env, catOther, adminOnly, s.handleImageImport, doc{tag: "images", summary: "Import a docker save or OCI layout archive sent as the body (admin); replacing an image environments run on is refused", params: imageImportParams{}, resp: imageResponse{}, status: http.StatusCreated}},
		{"POST", "/api/v1/environments/{id}/snapshot", env, catOther, adminOnly, s.handleEnvironmentSnapshot, doc{tag: "images", summary: "Save a running environment's files as an image (admin); Accept: text/event-stream streams progress", params: idParam{}, body: snapshotRequest{}, resp: imageResponse{}, status: http.StatusCreated}},
		{"DELETE", "/api/v1/images/{name...}", env, catOther, adminOnly, s.handleImageDelete, doc{tag: "images", summary: "Remove an image no environment uses (admin)", params: imageNameParam{}, status: http.StatusNoContent}},

		// Agent stream (seeds 000, 003).
		{"POST", "/api/v1/agent/agent/stream", plat, catOther, authenticated, s.handleAgentStream, doc{tag: "agent", summary: "Run the agent (default coder) in the session named by session_id, with its sandbox created on first need and reused; SSE events status, message, tool, error", body: agentStreamRequest{}, contentType: "text/event-stream"}},
		{"POST", "/agent/agent/stream", plat, catOther, authenticated, s.handleAgentStream, doc{tag: "agent", summary: "The agent stream at the path seed 000 uses", body: agentStreamRequest{}, contentType: "text/event-stream"}},
		{"POST", "/api/v1/agent/chat/stream", plat, catOther, authenticated, s.handleChatStream, doc{tag: "agent", summary: "Chat in a thread (thread_id) without a sandbox; web search and deeper thinking on request; SSE events status, message, tool, error", body: chatStreamRequest{}, contentType: "text/event-stream"}},
		{"POST", "/agent/chat/stream", plat, catOther, authenticated, s.handleChatStream, doc{tag: "agent", summary: "The chat stream at the path seed 000 uses", body: chatStreamRequest{}, contentType: "text/event-stream"}},

		// Text generation (seed 003).
		{"POST", "/api/v1/agent/generation/prose", plat, catOther, authenticated, s.handleProse, doc{tag: "generation", summary: "Continue, improve, fix, shorten or lengthen a text, or follow a command on it (zap); Accept: text/event-stream streams it", body: proseRequest{}, resp: generationResponse{}}},
		{"POST", "/api/v1/agent/generation/podcast", plat, catOther, authenticated, s.handlePodcast, doc{tag: "generation", summary: "A podcast (MP3) of a text: a model writes a two-host script, spoken in two voices", body: podcastRequest{}, contentType: "audio/mpeg"}},
		{"POST", "/api/v1/agent/generation/ppt", plat, catOther, authenticated, s.handlePPT, doc{tag: "generation", summary: "A PowerPoint file (.pptx) of a text: a model writes a title slide and slides of bullet points with speaker notes", body: pptRequest{}, contentType: pptx.ContentType}},
		{"POST", "/api/v1/agent/tts/synthesize", plat, catOther, authenticated, s.handleTTS, doc{tag: "tts", summary: "Text to speech (MP3)", body: ttsRequest{}, contentType: "audio/mpeg"}},
		{"POST", "/api/v1/agent/generation/enhance-prompt", plat, catOther, authenticated, s.handleEnhancePrompt, doc{tag: "generation", summary: "Rewrite a prompt so that a model answers it better; Accept: text/event-stream streams it", body: enhancePromptRequest{}, resp: generationResponse{}}},
		// MCP servers (seed 003): shared ones (admins add them) and users' own.
		{"GET", "/api/v1/agent/mcp/servers", plat, catOther, authenticated, s.handleMCPServerList, doc{tag: "mcp", summary: "The MCP servers you may name: the shared ones and your own", resp: mcpServerList{}}},
		{"POST", "/api/v1/agent/mcp/servers", plat, catOther, adminOnly, s.handleMCPServerCreate, doc{tag: "mcp", summary: "Add a shared MCP server (admin); its tools are listed first, so a server that cannot be used is refused", body: mcpServerRequest{}, resp: mcpServerResponse{}, status: http.StatusCreated}},
		{"DELETE", "/api/v1/agent/mcp/servers/{name}", plat, catOther, adminOnly, s.handleMCPServerDelete, doc{tag: "mcp", summary: "Remove a shared MCP server (admin)", params: mcpServerNameParam{}, status: http.StatusNoContent}},
		// Knowledge-base resources (seed 003's RAG).
		{"GET", "/api/v1/agent/rag/resources", plat, catOther, authenticated, s.handleResourceList, doc{tag: "rag", summary: "The resources you may name in a chat: your own and the shared ones, newest first", params: resourceListParams{}, resp: resourceList{}}},
		{"POST", "/api/v1/agent/rag/resources", plat, catOther, authenticated, s.handleResourceCreate, doc{tag: "rag", summary: "Add a resource: JSON text, or a file as multipart/form-data (text files and PDF); its text is split into passages and indexed for search", body: resourceRequest{}, upload: resourceForm{}, resp: resourceResponse{}, status: http.StatusCreated}},
		{"GET", "/api/v1/agent/rag/resources/{id}", plat, catOther, authenticated, s.handleResourceGet, doc{tag: "rag", summary: "One resource", params: resourceIDParam{}, resp: resourceResponse{}}},
		{"DELETE", "/api/v1/agent/rag/resources/{id}", plat, catOther, authenticated, s.handleResourceDelete, doc{tag: "rag", summary: "Remove a resource and its passages (shared ones: admins)", params: resourceIDParam{}, status: http.StatusNoContent}},
		{"POST", "/api/v1/agent/rag/search", plat, catOther, authenticated, s.handleResourceSearch, doc{tag: "rag", summary: "Search resources' passages as the search_resources tool does", body: resourceSearchRequest{}, resp: resourceSearchResponse{}}},
		{"GET", "/api/v1/agent/user-settings/mcp", plat, catOther, authenticated, s.handleUserMCPList, doc{tag: "mcp", summary: "Your own MCP servers", resp: mcpServerList{}}},
		{"GET", "/api/v1/agent/user-settings/mcp/codex", plat, catOther, authenticated, s.handleCodexGet, doc{tag: "mcp", summary: "Your Codex settings (the key shown as a hint); 404 until you configure it", resp: codexResponse{}}},
		{"POST", "/api/v1/agent/user-settings/mcp/codex", plat, catOther, authenticated, s.handleCodexSet, doc{tag: "mcp", summary: "Configure OpenAI's Codex CLI with your OpenAI key: agents that name codex among their MCP servers get a tool that runs it in their session's environment", body: codexRequest{}, resp: codexResponse{}, status: http.StatusCreated}},
		{"GET", "/api/v1/agent/user-settings/mcp/claude-code", plat, catOther, authenticated, s.handleClaudeCodeGet, doc{tag: "mcp", summary: "Your Claude Code sign-in (never its tokens); 404 until you configure it", resp: claudeCodeResponse{}}},
		{"POST", "/api/v1/agent/user-settings/mcp/claude-code", plat, catOther, authenticated, s.handleClaudeCodeSet, doc{tag: "mcp", summary: "Sign Claude Code in to your Claude account (OAuth: the code#verifier Claude's sign-in page shows): agents that name claude-code among their MCP servers get a tool that runs it in their session's environment", body: claudeCodeRequest{}, resp: claudeCodeResponse{}, status: http.StatusCreated}},
		{"POST", "/api/v1/agent/user-settings/mcp/custom", plat, catOther, authenticated, s.handleUserMCPCreate, doc{tag: "mcp", summary: "Add an MCP server of your own; its tools are listed first, so a server that cannot be used is refused", body: mcpServerRequest{}, resp: mcpServerResponse{}, status: http.StatusCreated}},
		{"DELETE", "/api/v1/agent/user-settings/mcp/{tool_type}", plat, catOther, authenticated, s.handleUserMCPDelete, doc{tag: "mcp", summary: "Remove one of your MCP servers", params: mcpSettingParam{}, status: http.StatusNoContent}},
		{"PATCH", "/api/v1/agent/user-settings/mcp/{tool_type}/toggle", plat, catOther, authenticated, s.handleUserMCPToggle, doc{tag: "mcp", summary: "Enable or disable one of your MCP servers (a disabled one gives no tools)", params: mcpSettingParam{}, body: mcpToggleRequest{}, resp: mcpServerResponse{}}},
		{"GET", "/api/v1/agent/config", plat, catOther, authenticated, s.handleAgentConfig, doc{tag: "agent", summary: "What this server offers: providers and models (with prices and context windows), features, sandbox templates", resp: agentConfigResponse{}}},

		// Credits (seed 003).
		{"GET", "/api/v1/agent/credits/balance", plat, catOther, authenticated, s.handleCreditBalance, doc{tag: "credits", summary: "Your credit balance (USD): grants less the cost of your model calls", params: creditBalanceParams{}, resp: creditBalanceResponse{}}},
		{"GET", "/api/v1/agent/credits/usage", plat, catOther, authenticated, s.handleCreditUsage, doc{tag: "credits", summary: "Your model calls and their cost, newest first (admins: everyone's, or user_id's)", params: creditUsageParams{}, resp: creditUsageResponse{}}},
		{"POST", "/api/v1/agent/credits/add", plat, catOther, requires("credits:add"), s.handleCreditAdd, doc{tag: "credits", summary: "Add credits to a user; a negative amount takes them away", body: creditAddRequest{}, resp: creditBalanceResponse{}, status: http.StatusCreated}},

		// Sandboxes and slides (seed 003).
		{"POST", "/api/v1/agent/sandboxes", plat, catEnvironmentCreate, authenticated, s.handleSandboxCreate, doc{tag: "sandboxes", summary: "Create a sandbox (an environment) from a configured template (default: default) and answer once it runs", body: sandboxCreateRequest{}, resp: sandboxResponse{}, status: http.StatusCreated}},
		{"POST", "/api/v1/agent/sandboxes/connect", plat, catOther, authenticated, s.handleSandboxConnect, doc{tag: "sandboxes", summary: "Connect to a sandbox: waits for one that is starting, resumes a paused one", body: sandboxRef{}, resp: sandboxResponse{}}},
		{"POST", "/api/v1/agent/sandboxes/run-command", plat, catExec, authenticated, s.handleSandboxRunCommand, doc{tag: "sandboxes", summary: "Run a shell command line (sh -c) and return its exit code and output", body: runCommandRequest{}, resp: runCommandResponse{}}},
		{"GET", "/api/v1/agent/sandboxes/{id}", plat, catOther, authenticated, s.handleSandboxGet, doc{tag: "sandboxes", summary: "A sandbox's status", params: idParam{}, resp: sandboxResponse{}}},
		{"GET", "/api/v1/agent/sandboxes/{id}/info", plat, catOther, authenticated, s.handleSandboxInfo, doc{tag: "sandboxes", summary: "A sandbox's template, image, resources, times and CPU and memory use", params: idParam{}, resp: sandboxInfo{}}},
		{"GET", "/api/v1/agent/sandboxes/{id}/urls", plat, catOther, authenticated, s.handleSandboxURLs, doc{tag: "sandboxes", summary: "The authenticated proxy URLs of the sandbox's exposed ports and of its VS Code server", params: idParam{}, resp: sandboxURLs{}}},
		{"POST", "/api/v1/agent/sandboxes/{id}/timeout", plat, catOther, authenticated, s.handleSandboxTimeout, doc{tag: "sandboxes", summary: "Set the sandbox's lifetime to timeout seconds from now", params: idParam{}, body: sandboxTimeoutRequest{}, resp: sandboxTimeoutResponse{}}},
		{"POST", "/api/v1/agent/sandboxes/{id}/pause", plat, catOther, authenticated, s.handleSandboxPause, doc{tag: "sandboxes", summary: "Pause (freeze) the sandbox; connect resumes it", params: idParam{}, resp: sandboxResponse{}}},
		{"DELETE", "/api/v1/agent/sandboxes/{id}", plat, catOther, authenticated, s.handleSandboxDelete, doc{tag: "sandboxes", summary: "Delete the sandbox (graceful, or immediate with force=true)", params: environmentDeleteParams{}, status: http.StatusNoContent}},
		{"POST", "/api/v1/agent/sandboxes/{id}/mcp", plat, catExec, authenticated, s.handleEnvironmentMCP, doc{tag: "sandboxes", summary: "The sandbox as an MCP server (its mcp_url): tools run_command, read_file, write_file, list_files", params: idParam{}, body: mcpRPC{}, resp: mcpRPC{}}},
		{"POST", "/api/v1/agent/sandboxes/{id}/expose-port", plat, catOther, authenticated, s.handleSandboxExposePort, doc{tag: "sandboxes", summary: "Expose a port through the authenticated port proxy", params: idParam{}, body: portRequest{}, resp: portInfo{}}},
		{"POST", "/api/v1/agent/sandboxes/write-file", plat, catOther, authenticated, s.handleSandboxWriteFile, doc{tag: "sandboxes", summary: "Write a file (content as UTF-8 text or base64; parents created)", body: writeFileRequest{}, resp: sandboxFileResponse{}}},
		{"POST", "/api/v1/agent/sandboxes/read-file", plat, catOther, authenticated, s.handleSandboxReadFile, doc{tag: "sandboxes", summary: "Read a file: UTF-8 text, or base64 when it is not valid UTF-8", body: sandboxFileRequest{}, resp: readFileResponse{}}},
		{"POST", "/api/v1/agent/sandboxes/upload-file", plat, catOther, authenticated, s.handleSandboxUpload, doc{tag: "sandboxes", summary: "Upload a file (multipart/form-data: sandbox_id, path, then file; streamed)", body: sandboxUploadForm{}, resp: sandboxFileResponse{}}},
		{"POST", "/api/v1/agent/sandboxes/upload-from-url", plat, catExec, authenticated, s.handleSandboxUploadFromURL, doc{tag: "sandboxes", summary: "Fetch a URL into a file, from inside the sandbox (its network policy applies)", body: uploadFromURLRequest{}, resp: sandboxFileResponse{}}},
		{"POST", "/api/v1/agent/sandboxes/download-to-presigned", plat, catExec, authenticated, s.handleSandboxDownloadToPresigned, doc{tag: "sandboxes", summary: "PUT a file of the sandbox to a (presigned) URL, from inside the sandbox", body: downloadToPresignedRequest{}, resp: sandboxFileResponse{}}},
		{"POST", "/api/v1/agent/sandboxes/{id}/mkdir", plat, catOther, authenticated, s.handleSandboxMkdir, doc{tag: "sandboxes", summary: "Create a directory and its parents", params: idParam{}, body: sandboxPathRequest{}, resp: sandboxPathResponse{}}},
		{"GET", "/api/v1/agent/sandboxes/{id}/slides", plat, catOther, authenticated, s.handleSlideList, doc{tag: "slides", summary: "List the sandbox's slides in order", params: idParam{}, resp: slideListResponse{}}},
		{"POST", "/api/v1/agent/sandboxes/{id}/slides", plat, catOther, authenticated, s.handleSlideCreate, doc{tag: "slides", summary: "Add an HTML slide, at position or last", params: idParam{}, body: slideCreateRequest{}, resp: slideResponse{}, status: http.StatusCreated}},
		{"GET", "/api/v1/agent/sandboxes/{id}/slides/{slide_id}", plat, catOther, authenticated, s.handleSlideGet, doc{tag: "slides", summary: "Get a slide with its HTML", params: slideParams{}, resp: slideResponse{}}},
		{"PUT", "/api/v1/agent/sandboxes/{id}/slides/{slide_id}", plat, catOther, authenticated, s.handleSlideUpdate, doc{tag: "slides", summary: "Change a slide's title, HTML or position", params: slideParams{}, body: slideUpdateRequest{}, resp: slideResponse{}}},
		{"DELETE", "/api/v1/agent/sandboxes/{id}/slides/{slide_id}", plat, catOther, authenticated, s.handleSlideDelete, doc{tag: "slides", summary: "Delete a slide", params: slideParams{}, status: http.StatusNoContent}},

		// Scheduled tasks (seed 003).
		{"GET", "/api/v1/task/schedulers", plat, catOther, authenticated, s.handleScheduleList, doc{tag: "tasks", summary: "List scheduled tasks", params: schedulePageParams{}, resp: scheduleListResponse{}}},
		{"POST", "/api/v1/task/schedulers", plat, catOther, authenticated, s.handleScheduleCreate, doc{tag: "tasks", summary: "Create a scheduled task: a cron expression in a time zone that posts a prompt to an agent", body: scheduleRequest{}, resp: scheduleResponse{}, status: http.StatusCreated}},
		{"GET", "/api/v1/task/schedulers/{id}", plat, catOther, authenticated, s.handleScheduleGet, doc{tag: "tasks", summary: "Get a scheduled task", params: idParam{}, resp: scheduleResponse{}}},
		{"PUT", "/api/v1/task/schedulers/{id}", plat, catOther, authenticated, s.handleScheduleUpdate, doc{tag: "tasks", summary: "Update a scheduled task (fields left out are kept)", params: idParam{}, body: scheduleRequest{}, resp: scheduleResponse{}}},
		{"DELETE", "/api/v1/task/schedulers/{id}", plat, catOther, authenticated, s.handleScheduleDelete, doc{tag: "tasks", summary: "Delete a scheduled task and its run records", params: idParam{}, status: http.StatusNoContent}},
		{"POST", "/api/v1/task/schedulers/{id}/run", plat, catOther, authenticated, s.handleScheduleRun, doc{tag: "tasks", summary: "Run a task now", params: idParam{}, resp: scheduleRunResponse{}, status: http.StatusCreated}},
		{"GET", "/api/v1/task/schedulers/{id}/runs", plat, catOther, authenticated, s.handleScheduleRuns, doc{tag: "tasks", summary: "A task's runs, newest first: trigger, status, session, run, error", params: scheduleRunsParams{}, resp: scheduleRunListResponse{}}},

		// Logs and monitor (seed 003).
		{"GET", "/api/v1/admin/log/login-logs", plat, catOther, requires("log:login:list"), s.handleLoginLogs, doc{tag: "admin-logs", summary: "Login attempts, newest first: user, address, user agent, success, reason", params: loginLogParams{}, resp: loginLogList{}}},
		{"DELETE", "/api/v1/admin/log/login-logs/{id}", plat, catOther, requires("log:login:del"), s.handleLoginLogDelete, doc{tag: "admin-logs", summary: "Delete a login log entry", params: int64IDParam{}, status: http.StatusNoContent}},
		{"GET", "/api/v1/admin/log/opera-logs", plat, catOther, requires("log:opera:list"), s.handleOperationLogs, doc{tag: "admin-logs", summary: "Mutating requests, newest first: user, method, path, status, duration, address, body with secrets redacted", params: operationLogParams{}, resp: operationLogList{}}},
		{"DELETE", "/api/v1/admin/log/opera-logs/{id}", plat, catOther, requires("log:opera:del"), s.handleOperationLogDelete, doc{tag: "admin-logs", summary: "Delete an operation log entry", params: int64IDParam{}, status: http.StatusNoContent}},
		{"GET", "/api/v1/admin/monitor/server", plat, catOther, requires("monitor:server"), s.handleServerMonitor, doc{tag: "admin-monitor", summary: "CPU, memory, disk, load, uptime, Go runtime and environment counts", resp: serverMonitor{}}},
		{"GET", "/api/v1/admin/monitor/redis", plat, catOther, requires("monitor:redis"), s.handleRedisMonitor, doc{tag: "admin-monitor", summary: "Redis INFO when Paddock uses Redis; 404 otherwise"}},

		// Identity, platform surface (seeds 000, 003).
		{"GET", "/api/v1/admin/oauth2/{provider}/authorize", plat, catAuth, public, s.handleOAuthAuthorize, doc{tag: "admin-auth", summary: "Sign in with GitHub or Google: redirects the browser to the provider", params: oauthParam{}, status: http.StatusFound}},
		{"GET", "/api/v1/admin/oauth2/{provider}/callback", plat, catAuth, public, s.handleOAuthCallback, doc{tag: "admin-auth", summary: "Where the provider sends the browser back: answers as the admin login (or redirects to auth.oauth2.success_url with the token)", params: oauthCallbackParams{}, resp: adminLoginResponse{}}},
		{"POST", "/api/v1/admin/auth/login", plat, catAuth, public, s.handleAdminLogin, doc{tag: "admin-auth", summary: "Log in (JSON or form), with a captcha when enabled", body: adminLoginRequest{}, form: true, resp: adminLoginResponse{}}},
		{"POST", "/api/v1/admin/auth/logout", plat, catAuth, authenticated, s.handleAdminLogout, doc{tag: "admin-auth", summary: "Log out: the token stops working at once", resp: messageResponse{}}},
		{"POST", "/api/v1/admin/auth/token/refresh", plat, catAuth, authenticated, s.handleAdminRefresh, doc{tag: "admin-auth", summary: "Exchange the current token for a new one; the old one is revoked", resp: adminLoginResponse{}}},
		{"GET", "/api/v1/admin/auth/captcha", plat, catAuth, public, s.handleCaptcha, doc{tag: "admin-auth", summary: "A new captcha challenge (PNG, base64); ?format=png returns the image itself", params: captchaParams{}, resp: captchaResponse{}}},
		{"GET", "/api/v1/admin/gen/business", plat, catOther, requires("gen:business:list"), s.handleGenBusinessList, doc{tag: "admin-codegen", summary: "Code generator configurations (paginated): a table, its columns, the names of the Go module generated for it", params: genBusinessListParams{}, resp: genBusinessList{}}},
		{"GET", "/api/v1/admin/gen/business/{id}", plat, catOther, requires("gen:business:list"), s.handleGenBusinessGet, doc{tag: "admin-codegen", summary: "Get a code generator configuration", params: int64IDParam{}, resp: genBusinessItem{}}},
		{"POST", "/api/v1/admin/gen/business", plat, catOther, requires("gen:business:add"), s.handleGenBusinessCreate, doc{tag: "admin-codegen", summary: "Create a code generator configuration: app_name, table_name (unique) and columns; id, created_at and updated_at are added to every table", body: genBusinessRequest{}, resp: genBusinessItem{}, status: http.StatusCreated}},
		{"PUT", "/api/v1/admin/gen/business/{id}", plat, catOther, requires("gen:business:edit"), s.handleGenBusinessUpdate, doc{tag: "admin-codegen", summary: "Replace a code generator configuration", params: int64IDParam{}, body: genBusinessRequest{}, resp: genBusinessItem{}}},
		{"DELETE", "/api/v1/admin/gen/business/{id}", plat, catOther, requires("gen:business:del"), s.handleGenBusinessDelete, doc{tag: "admin-codegen", summary: "Delete a code generator configuration", params: int64IDParam{}, status: http.StatusNoContent}},
		{"POST", "/api/v1/admin/gen/business/{id}/generate", plat, catOther, requires("gen:business:generate"), s.handleGenBusinessGenerate, doc{tag: "admin-codegen", summary: "Generate the Go module of a configuration: SQL for SQLite and PostgreSQL, model, database/sql store, JSON HTTP handler; a zip, or its files as JSON", params: genGenerateParams{}, resp: genPreview{}, contentType: "application/zip"}},
		{"GET", "/api/v1/admin/sys/users", plat, catOther, requires("sys:user:list"), s.handleUserList, doc{tag: "admin-users", summary: "List users (paginated)", params: userListParams{}, resp: userListResponse{}}},
		{"GET", "/api/v1/admin/sys/users/{id}", plat, catOther, requires("sys:user:list"), s.handleUserGet, doc{tag: "admin-users", summary: "Get a user", params: idParam{}, resp: adminUser{}}},
		{"POST", "/api/v1/admin/sys/users", plat, catOther, requires("sys:user:add"), s.handleUserCreate, doc{tag: "admin-users", summary: "Create a user", body: userCreateRequest{}, resp: adminUser{}, status: http.StatusCreated}},
		{"PUT", "/api/v1/admin/sys/users/{id}", plat, catOther, requires("sys:user:edit"), s.handleUserUpdate, doc{tag: "admin-users", summary: "Update a user", params: idParam{}, body: userUpdateRequest{}, resp: adminUser{}}},
		{"DELETE", "/api/v1/admin/sys/users/{id}", plat, catOther, requires("sys:user:del"), s.handleUserDelete, doc{tag: "admin-users", summary: "Delete a user (never the last admin)", params: idParam{}, status: http.StatusNoContent}},

		// Roles, departments and menus (seed 003); permissions in the README.
		{"GET", "/api/v1/admin/sys/roles", plat, catOther, requires("sys:role:list"), s.handleRoleList, doc{tag: "admin-roles", summary: "List roles (paginated)", params: roleListParams{}, resp: roleListResponse{}}},
		{"GET", "/api/v1/admin/sys/roles/{id}", plat, catOther, requires("sys:role:list"), s.handleRoleGet, doc{tag: "admin-roles", summary: "Get a role", params: idParam{}, resp: roleItem{}}},
		{"POST", "/api/v1/admin/sys/roles", plat, catOther, requires("sys:role:add"), s.handleRoleCreate, doc{tag: "admin-roles", summary: "Create a role: a unique name and code; status 1 (enabled) or 0", body: roleCreateRequest{}, resp: roleItem{}, status: http.StatusCreated}},
		{"PUT", "/api/v1/admin/sys/roles/{id}", plat, catOther, requires("sys:role:edit"), s.handleRoleUpdate, doc{tag: "admin-roles", summary: "Update a role (fields left out are kept); a disabled role grants nothing", params: idParam{}, body: roleUpdateRequest{}, resp: roleItem{}}},
		{"DELETE", "/api/v1/admin/sys/roles/{id}", plat, catOther, requires("sys:role:del"), s.handleRoleDelete, doc{tag: "admin-roles", summary: "Delete a role; its users lose it", params: idParam{}, status: http.StatusNoContent}},
		{"GET", "/api/v1/admin/sys/roles/{id}/menus", plat, catOther, requires("sys:role:list"), s.handleRoleMenus, doc{tag: "admin-roles", summary: "The ids of the menus (and so the permissions) a role grants", params: idParam{}, resp: roleMenusResponse{}}},
		{"PUT", "/api/v1/admin/sys/roles/{id}/menus", plat, catOther, requires("sys:role:edit"), s.handleRoleMenusSet, doc{tag: "admin-roles", summary: "Replace the menus a role grants", params: idParam{}, body: roleMenusRequest{}, resp: roleMenusResponse{}}},
		{"GET", "/api/v1/admin/sys/depts", plat, catOther, requires("sys:dept:list"), s.handleDeptTree, doc{tag: "admin-depts", summary: "The department tree: roots with nested children, by sort", resp: deptTreeResponse{}}},
		{"POST", "/api/v1/admin/sys/depts", plat, catOther, requires("sys:dept:add"), s.handleDeptCreate, doc{tag: "admin-depts", summary: "Create a department, under parent_id or as a root", body: deptCreateRequest{}, resp: deptNode{}, status: http.StatusCreated}},
		{"PUT", "/api/v1/admin/sys/depts/{id}", plat, catOther, requires("sys:dept:edit"), s.handleDeptUpdate, doc{tag: "admin-depts", summary: "Update or move a department (parent_id; 0 makes it a root); a move under itself or a descendant is refused", params: idParam{}, body: deptUpdateRequest{}, resp: deptNode{}}},
		{"DELETE", "/api/v1/admin/sys/depts/{id}", plat, catOther, requires("sys:dept:del"), s.handleDeptDelete, doc{tag: "admin-depts", summary: "Delete a department without children or users (else 409)", params: idParam{}, status: http.StatusNoContent}},
		{"GET", "/api/v1/admin/sys/menus", plat, catOther, requires("sys:menu:list"), s.handleMenuTree, doc{tag: "admin-menus", summary: "The menu tree: directories, menus and buttons with their permission strings, nested", resp: menuTreeResponse{}}},
		{"POST", "/api/v1/admin/sys/menus", plat, catOther, requires("sys:menu:add"), s.handleMenuCreate, doc{tag: "admin-menus", summary: "Create a menu, under parent_id or as a root", body: menuCreateRequest{}, resp: menuNode{}, status: http.StatusCreated}},
		{"PUT", "/api/v1/admin/sys/menus/{id}", plat, catOther, requires("sys:menu:edit"), s.handleMenuUpdate, doc{tag: "admin-menus", summary: "Update or move a menu (parent_id; 0 makes it a root); a move under itself or a descendant is refused", params: idParam{}, body: menuUpdateRequest{}, resp: menuNode{}}},
		{"DELETE", "/api/v1/admin/sys/menus/{id}", plat, catOther, requires("sys:menu:del"), s.handleMenuDelete, doc{tag: "admin-menus", summary: "Delete a menu without children (else 409); roles stop granting it", params: idParam{}, status: http.StatusNoContent}},
	}
}

// anyMethod lists the methods a route without a method is documented with.
var anyMethod = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// pattern is the route's ServeMux pattern; a route without a method
// matches them all.
func (rt route) pattern() string {
	if rt.method == "" {
		return rt.path
	}
	return rt.method + " " + rt.path
}

// methods are the methods a route is documented with.
func (rt route) methods() []string {
	if rt.method == "" {
		return anyMethod
	}
	return []string{rt.method}
}

// docPath is the route's path as an OpenAPI template: ServeMux's
// "{name...}" wildcards become "{name}".
func (rt route) docPath() string {
	return strings.ReplaceAll(strings.ReplaceAll(rt.path, "...}", "}"), "{$}", "")
}

// Routes lists every route as "METHOD /path" (OpenAPI path templates), for
// tests and tools.
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.routes {
		for _, m := range rt.methods() {
			out = append(out, m+" "+rt.docPath())
		}
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
