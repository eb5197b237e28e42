package client

import (
	"context"
	"io"
	"net/url"
	"strconv"
	"time"
)

// Process is a command running (or run) in the background in an
// environment.
type Process struct {
	PID       string     `json:"pid"`
	Command   []string   `json:"command"`
	Status    string     `json:"status"` // running, exited or killed
	ExitCode  *int       `json:"exit_code,omitempty"`
	TimedOut  bool       `json:"timed_out,omitempty"`
	OOMKilled bool       `json:"oom_killed,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

func processPath(id, pid, suffix string) string {
	p := "/api/v1/environments/" + url.PathEscape(id) + "/processes"
	if pid != "" {
		p += "/" + url.PathEscape(pid)
	}
	return p + suffix
}

// StartProcess starts a command in the background (timeout 0: as long as
// the environment) and returns at once.
func (c *Client) StartProcess(ctx context.Context, id string, in *ExecRequest) (*Process, error) {
	body := struct {
		*ExecRequest
		Background bool `json:"background"`
	}{in, true}
	var p Process
	return &p, c.do(ctx, "POST", "/api/v1/environments/"+url.PathEscape(id)+"/exec", body, &p)
}

// Processes lists an environment's background processes, newest first.
func (c *Client) Processes(ctx context.Context, id string) ([]Process, error) {
	var v struct {
		Processes []Process `json:"processes"`
	}
	return v.Processes, c.do(ctx, "GET", processPath(id, "", ""), nil, &v)
}

// KillProcess kills a background process.
func (c *Client) KillProcess(ctx context.Context, id, pid string) (*Process, error) {
	var p Process
	return &p, c.do(ctx, "POST", processPath(id, pid, "/kill"), nil, &p)
}

// ProcessOutput writes a background process's output from offset since
// to stdout and stderr and returns the process; with follow it waits for
// more until the process ends.
func (c *Client) ProcessOutput(ctx context.Context, id, pid string, since int64, follow bool, stdout, stderr io.Writer) (*Process, error) {
	path := processPath(id, pid, "/output"+query("since", strconv.FormatInt(since, 10)))
	if !follow {
		var v struct {
			Output []struct {
				Stream string `json:"stream"`
				Data   string `json:"data"`
			} `json:"output"`
			Process Process `json:"process"`
		}
		if err := c.do(ctx, "GET", path, nil, &v); err != nil {
			return nil, err
		}
		for _, o := range v.Output {
			if err := writeStream(o.Stream, o.Data, stdout, stderr); err != nil {
				return nil, err
			}
		}
		return &v.Process, nil
	}
	resp, err := c.send(ctx, "GET", path+"&follow=true", nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var p Process
	if err := readOutput(resp, stdout, stderr, &p); err != nil {
		return nil, withContext("process "+pid, err)
	}
	return &p, nil
}
