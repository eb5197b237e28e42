package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Environment is an environment as the API shows it.
type Environment struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Status       string            `json:"status"`
	Reason       string            `json:"reason,omitempty"`
	Image        string            `json:"image"`
	CreatedAt    time.Time         `json:"created_at"`
	StartedAt    *time.Time        `json:"started_at,omitempty"`
	ExpiresAt    *time.Time        `json:"expires_at,omitempty"`
	Timeout      int               `json:"timeout,omitempty"`
	Resources    Resources         `json:"resources"`
	Metrics      *Metrics          `json:"metrics,omitempty"`
	Endpoint     string            `json:"endpoint"`
	Namespace    string            `json:"namespace"`
	Env          map[string]string `json:"env,omitempty"`
	Command      []string          `json:"command,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	NodeSelector map[string]string `json:"node_selector,omitempty"`
	Isolation    json.RawMessage   `json:"isolation,omitempty"`
}

// Resources are an environment's limits.
type Resources struct {
	CPU     string `json:"cpu"`
	Memory  string `json:"memory"`
	Storage string `json:"storage"`
}

// Metrics are an environment's current use.
type Metrics struct {
	CPUUsage    string `json:"cpu_usage"`
	MemoryUsage string `json:"memory_usage"`
}

// CreateEnvironment is the body of an environment creation.
type CreateEnvironment struct {
	Name         string            `json:"name"`
	Image        string            `json:"image"`
	Resources    Resources         `json:"resources"`
	Timeout      int               `json:"timeout,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	Command      []string          `json:"command,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	NodeSelector map[string]string `json:"node_selector,omitempty"`
	Isolation    map[string]any    `json:"isolation,omitempty"`
}

// CreateEnvironment creates an environment; it starts in the background.
func (c *Client) CreateEnvironment(ctx context.Context, in *CreateEnvironment) (*Environment, error) {
	var e Environment
	return &e, c.do(ctx, "POST", "/api/v1/environments", in, &e)
}

// EnvironmentList is one page of environments.
type EnvironmentList struct {
	Environments []Environment `json:"environments"`
	Total        int           `json:"total"`
	Limit        int           `json:"limit"`
	Offset       int           `json:"offset"`
}

// Environments lists environments; status and label may be empty.
func (c *Client) Environments(ctx context.Context, status, label string, limit, offset int) (*EnvironmentList, error) {
	var l EnvironmentList
	q := query("status", status, "label", label, "limit", itoa(limit), "offset", itoa(offset))
	return &l, c.do(ctx, "GET", "/api/v1/environments"+q, nil, &l)
}

func itoa(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// Environment returns one environment.
func (c *Client) Environment(ctx context.Context, id string) (*Environment, error) {
	var e Environment
	return &e, c.do(ctx, "GET", "/api/v1/environments/"+url.PathEscape(id), nil, &e)
}

// WaitEnvironment polls until the environment leaves pending.
func (c *Client) WaitEnvironment(ctx context.Context, id string) (*Environment, error) {
	for {
		e, err := c.Environment(ctx, id)
		if err != nil || e.Status != "pending" {
			return e, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// DeleteEnvironment deletes an environment.
func (c *Client) DeleteEnvironment(ctx context.Context, id string, force bool) error {
	return c.do(ctx, "DELETE", "/api/v1/environments/"+url.PathEscape(id)+query("force", strconv.FormatBool(force)), nil, nil)
}

// PauseEnvironment pauses an environment: mode "freeze" ("" alike) keeps
// its processes and memory in place, "hibernate" (gVisor) saves them to
// disk and frees the memory.
func (c *Client) PauseEnvironment(ctx context.Context, id, mode string) (*Environment, error) {
	var e Environment
	return &e, c.do(ctx, "POST", "/api/v1/environments/"+url.PathEscape(id)+"/pause", map[string]string{"mode": mode}, &e)
}

// ResumeEnvironment resumes a paused environment.
func (c *Client) ResumeEnvironment(ctx context.Context, id string) (*Environment, error) {
	var e Environment
	return &e, c.do(ctx, "POST", "/api/v1/environments/"+url.PathEscape(id)+"/resume", nil, &e)
}

// SetEnvironmentTimeout gives an environment a new lifetime of seconds,
// counted from now.
func (c *Client) SetEnvironmentTimeout(ctx context.Context, id string, seconds int) (*Environment, error) {
	var e Environment
	return &e, c.do(ctx, "PATCH", "/api/v1/environments/"+url.PathEscape(id), map[string]int{"timeout": seconds}, &e)
}

// ExecRequest runs a command.
type ExecRequest struct {
	Command    []string          `json:"command"`
	Timeout    int               `json:"timeout,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	Stdin      string            `json:"stdin,omitempty"`
}

// ExecResult is how a command ended.
type ExecResult struct {
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	TimedOut   bool   `json:"timed_out"`
	Truncated  bool   `json:"truncated"`
	OOMKilled  bool   `json:"oom_killed"`
}

// Exec runs a command in an environment.
func (c *Client) Exec(ctx context.Context, id string, in *ExecRequest) (*ExecResult, error) {
	var r ExecResult
	return &r, c.do(ctx, "POST", "/api/v1/environments/"+url.PathEscape(id)+"/exec", in, &r)
}

// ExecStream runs a command in an environment and writes its output to
// stdout and stderr as it comes (the exec API's event stream). The result
// holds how it ended; its Stdout and Stderr are empty.
func (c *Client) ExecStream(ctx context.Context, id string, in *ExecRequest, stdout, stderr io.Writer) (*ExecResult, error) {
	resp, err := c.send(ctx, "POST", "/api/v1/environments/"+url.PathEscape(id)+"/exec", in, http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res ExecResult
	if err := readOutput(resp, stdout, stderr, &res); err != nil {
		return nil, withContext("exec", err)
	}
	return &res, nil
}

// errNoExit is readOutput's error for a stream that ended without its
// exit event.
var errNoExit = errors.New("the stream ended before the command did")

// withContext prefixes a stream's own failures (not the errors the
// server reported, which say what they are) with what was streaming.
func withContext(what string, err error) error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// readOutput reads an output event stream from resp (exec's, or a
// followed background process's): stdout and stderr events ({"data"}),
// written to stdout and stderr as they come, then one exit event, decoded
// into exit, or an error event, returned as the error it reports.
func readOutput(resp *http.Response, stdout, stderr io.Writer, exit any) error {
	ended := false
	err := readEvents(resp.Body, func(ev Event) error {
		switch ev.Name {
		case "stdout", "stderr":
			var chunk struct {
				Data string `json:"data"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &chunk); err != nil {
				return fmt.Errorf("%s event: %w", ev.Name, err)
			}
			return writeStream(ev.Name, chunk.Data, stdout, stderr)
		case "exit":
			ended = true
			return json.Unmarshal([]byte(ev.Data), exit)
		case "error":
			return eventError(ev, resp)
		}
		return nil
	})
	if err == nil && !ended {
		err = errNoExit
	}
	return err
}

// writeStream writes output of stream ("stdout" or "stderr") to the
// matching writer.
func writeStream(stream, data string, stdout, stderr io.Writer) error {
	w := stdout
	if stream == "stderr" {
		w = stderr
	}
	_, err := io.WriteString(w, data)
	return err
}

// eventError is the error an "error" event of resp's stream reports: the
// error body, whose "code" is the HTTP status it would have had.
func eventError(ev Event, resp *http.Response) error {
	var e struct {
		Code int `json:"code"`
	}
	_ = json.Unmarshal([]byte(ev.Data), &e)
	if e.Code < 400 {
		e.Code = http.StatusInternalServerError
	}
	return decodeError(&http.Response{StatusCode: e.Code, Header: resp.Header, Body: io.NopCloser(strings.NewReader(ev.Data))})
}

// LogEntry is one line of an environment's log.
type LogEntry struct {
	Timestamp *time.Time `json:"timestamp,omitempty"`
	Stream    string     `json:"stream"`
	Message   string     `json:"message"`
}

// Logs returns the last tail lines (all when tail is 0).
func (c *Client) Logs(ctx context.Context, id string, tail int) ([]LogEntry, error) {
	var v struct {
		Logs []LogEntry `json:"logs"`
	}
	return v.Logs, c.do(ctx, "GET", "/api/v1/environments/"+url.PathEscape(id)+"/logs"+query("tail", itoa(tail)), nil, &v)
}

// FollowLogs calls fn with the last tail lines, then each new line, until
// the environment ends, fn fails or ctx is done.
func (c *Client) FollowLogs(ctx context.Context, id string, tail int, fn func(LogEntry) error) error {
	resp, err := c.send(ctx, "GET", "/api/v1/environments/"+url.PathEscape(id)+"/logs"+query("follow", "true", "tail", itoa(tail)), nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = readEvents(resp.Body, func(ev Event) error {
		var e LogEntry
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			return fmt.Errorf("log event: %w", err)
		}
		return fn(e)
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// PortInfo is a port the server's proxy serves.
type PortInfo struct {
	Port int    `json:"port"`
	URL  string `json:"url"`
}

// ExposePort serves port of environment id through the server's
// authenticated proxy (exposing an exposed port again is harmless).
func (c *Client) ExposePort(ctx context.Context, id string, port int) (*PortInfo, error) {
	var out PortInfo
	return &out, c.do(ctx, "POST", "/api/v1/environments/"+url.PathEscape(id)+"/ports", map[string]int{"port": port}, &out)
}
