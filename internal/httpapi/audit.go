package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paddockhq/paddock"
)

// Login and operation logs (seed 003 /api/v1/admin/log) and the server
// monitor (/api/v1/admin/monitor).

// recordLogin logs a login attempt; a failure to log is only logged.
func (s *Server) recordLogin(r *http.Request, username string, u *paddock.User, err error) {
	if s.Audit == nil {
		return
	}
	l := &paddock.LoginLog{Username: username, Address: s.clientAddr(r), UserAgent: truncate(r.UserAgent(), 512), Success: err == nil}
	if u == nil && err != nil && paddock.ErrorCode(err) != paddock.EUnauthorized && strings.TrimSpace(username) != "" {
		u, _ = s.Users.UserByUsername(r.Context(), username) // failed before the password check (captcha): whose account?
	}
	if u != nil {
		l.UserID = u.ID
	}
	if err != nil {
		l.Reason = paddock.ErrorMessage(err)
	}
	if err := s.Audit.RecordLogin(context.WithoutCancel(r.Context()), l); err != nil {
		s.log.ErrorContext(r.Context(), "record login", "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// maxAuditBody is how much of a request body an operation log keeps.
const maxAuditBody = 4 << 10

// bodyTap keeps the first maxAuditBody bytes a handler reads of a body
// and counts the rest.
type bodyTap struct {
	io.ReadCloser
	buf bytes.Buffer
	n   int64
}

func (t *bodyTap) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if room := maxAuditBody - t.buf.Len(); room > 0 {
		t.buf.Write(p[:min(n, room)])
	}
	t.n += int64(n)
	return n, err
}

// secretName matches the names of fields whose values are never logged.
var secretName = regexp.MustCompile(`(?i)pass|secret|token|key|authori[sz]ation|credential|captcha|cookie|signature`)

const redactedValue = "[REDACTED]"

// redactBody returns what an operation log keeps of a body: JSON and form
// bodies with the values of secret-looking fields replaced and long
// strings shortened; for other bodies (and ones too long to parse whole),
// their type and size only.
func redactBody(contentType string, t *bodyTap) string {
	if t == nil || t.n == 0 {
		return ""
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	whole := t.n == int64(t.buf.Len())
	describe := func() string { return fmt.Sprintf("[%s body, %d bytes, not recorded]", cmp.Or(mt, "untyped"), t.n) }
	if !whole {
		return describe()
	}
	switch {
	case mt == "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(t.buf.String())
		if err != nil {
			return describe()
		}
		for k := range v {
			if secretName.MatchString(k) {
				v[k] = []string{redactedValue}
			}
		}
		return v.Encode()
	case mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/plain":
		var doc any
		if err := json.Unmarshal(t.buf.Bytes(), &doc); err != nil {
			return describe()
		}
		b, _ := json.Marshal(redactJSON(doc))
		return string(b)
	}
	return describe()
}

func redactJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if secretName.MatchString(k) {
				x[k] = redactedValue
			} else {
				x[k] = redactJSON(val)
			}
		}
	case []any:
		for i := range x {
			x[i] = redactJSON(x[i])
		}
	case string:
		if u, err := url.Parse(x); err == nil && u.Scheme != "" && u.Host != "" && (u.RawQuery != "" || u.User != nil) {
			// A presigned URL carries its signature in the query.
			u.RawQuery, u.User = "", nil
			x = u.String() + "?" + redactedValue
		}
		if len(x) > 256 {
			return fmt.Sprintf("%s... [%d characters]", truncate(x, 128), len(x))
		}
		return x
	}
	return v
}

// mutating reports whether a request changes something: the requests
// operation logs record.
func mutating(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete
}

// auditWriter stores operation logs in the background, so that requests
// do not wait for them, in batches (one transaction per auditBatch or
// auditDelay), so that busy servers write them at little cost. Entries
// beyond its buffer are dropped and counted.
type auditWriter struct {
	s       *Server
	ch      chan *paddock.OperationLog
	done    chan struct{}
	once    sync.Once
	dropped int64
	mu      sync.Mutex
}

const (
	auditBatch = 256
	auditDelay = 100 * time.Millisecond
)

func newAuditWriter(s *Server) *auditWriter {
	a := &auditWriter{s: s, ch: make(chan *paddock.OperationLog, 4096), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for l := range a.ch {
			batch := []*paddock.OperationLog{l}
			timer := time.NewTimer(auditDelay)
		collect:
			for len(batch) < auditBatch {
				select {
				case l, ok := <-a.ch:
					if !ok {
						break collect
					}
					batch = append(batch, l)
				case <-timer.C:
					break collect
				}
			}
			timer.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.Audit.RecordOperations(ctx, batch); err != nil {
				s.log.Error("record operation logs", "entries", len(batch), "err", err)
			}
			cancel()
		}
	}()
	return a
}

func (a *auditWriter) add(l *paddock.OperationLog) {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.done:
		return
	default:
	}
	select {
	case a.ch <- l:
	default:
		a.dropped++
		if a.dropped == 1 || a.dropped%1000 == 0 {
			a.s.log.Warn("operation log queue full; entries dropped", "dropped", a.dropped)
		}
	}
}

// close stores what is queued and stops.
func (a *auditWriter) close() {
	a.once.Do(func() {
		a.mu.Lock()
		close(a.ch)
		a.mu.Unlock()
		<-a.done
	})
}

// Close stops the API's background work, storing the operation logs
// still queued. Call it after the HTTP server has shut down.
func (s *Server) Close() {
	if s.audit != nil {
		s.audit.close()
	}
}

type loginLogParams struct {
	Page     int    `query:"page" minimum:"1" default:"1"`
	Size     int    `query:"size" minimum:"1" maximum:"200" default:"20"`
	Username string `query:"username"`
	Success  string `query:"success" enum:"true,false"`
}

type operationLogParams struct {
	Page     int    `query:"page" minimum:"1" default:"1"`
	Size     int    `query:"size" minimum:"1" maximum:"200" default:"20"`
	Username string `query:"username"`
	Method   string `query:"method" enum:"POST,PUT,PATCH,DELETE"`
}

type loginLogItem struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"user_id,omitempty"`
	Username  string    `json:"username"`
	Address   string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Status    int       `json:"status" description:"1 success, 0 failure"`
	Success   bool      `json:"success"`
	Msg       string    `json:"msg"`
	LoginTime time.Time `json:"login_time"`
}

type operationLogItem struct {
	ID         int64     `json:"id"`
	UserID     int64     `json:"user_id"`
	Username   string    `json:"username"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Status     int       `json:"code" description:"the response's HTTP status"`
	DurationMS float64   `json:"cost_time" description:"milliseconds"`
	Address    string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	RequestID  string    `json:"request_id"`
	Args       string    `json:"args" description:"the request body, secrets redactedValue"`
	CreatedAt  time.Time `json:"created_time"`
}

type loginLogList struct {
	Items []loginLogItem `json:"items"`
	Total int            `json:"total"`
	Page  int            `json:"page"`
	Size  int            `json:"size"`
}

type operationLogList struct {
	Items []operationLogItem `json:"items"`
	Total int                `json:"total"`
	Page  int                `json:"page"`
	Size  int                `json:"size"`
}

type int64IDParam struct {
	ID int64 `path:"id"`
}

func auditFilter(r *http.Request) (paddock.AuditFilter, int, int, error) {
	page, size, err := pageSize(r)
	if err != nil {
		return paddock.AuditFilter{}, 0, 0, err
	}
	f := paddock.AuditFilter{Offset: (page - 1) * size, Limit: size}
	q := r.URL.Query()
	if v := q.Get("username"); v != "" {
		f.Username = &v
	}
	if v := q.Get("success"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, 0, 0, paddock.Errorf(paddock.EInvalid, "query parameter \"success\" must be true or false")
		}
		f.Success = &b
	}
	if v := q.Get("method"); v != "" {
		m := strings.ToUpper(v)
		f.Method = &m
	}
	return f, page, size, nil
}

func (s *Server) handleLoginLogs(w http.ResponseWriter, r *http.Request) error {
	f, page, size, err := auditFilter(r)
	if err != nil {
		return err
	}
	logs, total, err := s.Audit.LoginLogs(r.Context(), f)
	if err != nil {
		return err
	}
	out := loginLogList{Items: make([]loginLogItem, len(logs)), Total: total, Page: page, Size: size}
	for i, l := range logs {
		st := 0
		if l.Success {
			st = 1
		}
		out.Items[i] = loginLogItem{ID: l.ID, UserID: l.UserID, Username: l.Username, Address: l.Address, UserAgent: l.UserAgent,
			Status: st, Success: l.Success, Msg: cmp.Or(l.Reason, "login succeeded"), LoginTime: l.CreatedAt}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleOperationLogs(w http.ResponseWriter, r *http.Request) error {
	f, page, size, err := auditFilter(r)
	if err != nil {
		return err
	}
	logs, total, err := s.Audit.OperationLogs(r.Context(), f)
	if err != nil {
		return err
	}
	out := operationLogList{Items: make([]operationLogItem, len(logs)), Total: total, Page: page, Size: size}
	for i, l := range logs {
		out.Items[i] = operationLogItem{ID: l.ID, UserID: l.UserID, Username: l.Username, Method: l.Method, Path: l.Path, Status: l.Status,
			DurationMS: float64(l.Duration.Microseconds()) / 1000, Address: l.Address, UserAgent: l.UserAgent, RequestID: l.RequestID,
			Args: l.Body, CreatedAt: l.CreatedAt}
	}
	return writeJSON(w, http.StatusOK, out)
}

func pathInt64(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, paddock.Errorf(paddock.EInvalid, "%s must be a positive integer, not %q", name, v)
	}
	return n, nil
}

func (s *Server) handleLoginLogDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt64(r, "id")
	if err != nil {
		return err
	}
	if err := s.Audit.DeleteLoginLog(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleOperationLogDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt64(r, "id")
	if err != nil {
		return err
	}
	if err := s.Audit.DeleteOperationLog(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type serverMonitor struct {
	Hostname string     `json:"hostname"`
	OS       string     `json:"os"`
	Arch     string     `json:"arch"`
	CPUs     int        `json:"cpus"`
	Load     [3]float64 `json:"load" description:"1, 5 and 15 minute load averages"`
	Memory   struct {
		TotalBytes     uint64  `json:"total_bytes"`
		AvailableBytes uint64  `json:"available_bytes"`
		UsedPercent    float64 `json:"used_percent"`
	} `json:"memory"`
	Disk struct {
		Path        string  `json:"path"`
		TotalBytes  uint64  `json:"total_bytes"`
		FreeBytes   uint64  `json:"free_bytes"`
		UsedPercent float64 `json:"used_percent"`
	} `json:"disk"`
	HostUptimeSeconds    float64 `json:"host_uptime_seconds"`
	ProcessUptimeSeconds float64 `json:"process_uptime_seconds"`
	Go                   struct {
		Version    string `json:"version"`
		Goroutines int    `json:"goroutines"`
		HeapBytes  uint64 `json:"heap_bytes"`
		SysBytes   uint64 `json:"sys_bytes"`
		GCCycles   uint32 `json:"gc_cycles"`
	} `json:"go"`
	Environments map[string]int `json:"environments" description:"environments by status"`
	Version      string         `json:"version"`
}

var processStart = time.Now()

// handleServerMonitor reports the host and the process: CPU, memory, disk
// of the data directory, load, uptime, the Go runtime and environment
// counts.
func (s *Server) handleServerMonitor(w http.ResponseWriter, r *http.Request) error {
	var m serverMonitor
	m.Hostname, _ = os.Hostname()
	m.OS, m.Arch, m.CPUs, m.Version = runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), s.cfg.Version
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		_, _ = fmt.Sscanf(string(b), "%f %f %f", &m.Load[0], &m.Load[1], &m.Load[2])
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var kb uint64
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				m.Memory.TotalBytes = kb << 10
			} else if _, err := fmt.Sscanf(line, "MemAvailable: %d kB", &kb); err == nil {
				m.Memory.AvailableBytes = kb << 10
			}
		}
		if m.Memory.TotalBytes > 0 {
			m.Memory.UsedPercent = 100 * float64(m.Memory.TotalBytes-m.Memory.AvailableBytes) / float64(m.Memory.TotalBytes)
		}
	}
	m.Disk.Path = cmp.Or(s.cfg.DataDir, ".")
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.Disk.Path, &st); err == nil {
		m.Disk.TotalBytes, m.Disk.FreeBytes = st.Blocks*uint64(st.Bsize), st.Bavail*uint64(st.Bsize)
		if m.Disk.TotalBytes > 0 {
			m.Disk.UsedPercent = 100 * float64(m.Disk.TotalBytes-st.Bfree*uint64(st.Bsize)) / float64(m.Disk.TotalBytes)
		}
	}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		_, _ = fmt.Sscanf(string(b), "%f", &m.HostUptimeSeconds)
	}
	m.ProcessUptimeSeconds = time.Since(processStart).Seconds()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.Go.Version, m.Go.Goroutines, m.Go.HeapBytes, m.Go.SysBytes, m.Go.GCCycles = runtime.Version(), runtime.NumGoroutine(), ms.HeapAlloc, ms.Sys, ms.NumGC
	m.Environments = map[string]int{}
	if s.EnvironmentStore != nil {
		for _, status := range []paddock.EnvironmentStatus{paddock.EnvironmentPending, paddock.EnvironmentRunning, paddock.EnvironmentPaused,
			paddock.EnvironmentTerminating, paddock.EnvironmentFailed} {
			_, n, err := s.EnvironmentStore.Environments(r.Context(), paddock.EnvironmentFilter{Status: &status, Limit: 1})
			if err != nil {
				return err
			}
			m.Environments[string(status)] = n
		}
	}
	return writeJSON(w, http.StatusOK, m)
}

// handleRedisMonitor reports the Redis that Paddock keeps its rate limits
// in: INFO by section ({"server": {"redis_version": "7.0.15", ...},
// "memory": {...}, ...}, values as Redis writes them) and "db_size", the
// number of keys of Paddock's database. 404 when no Redis is configured;
// 503 when it does not answer.
func (s *Server) handleRedisMonitor(w http.ResponseWriter, r *http.Request) error {
	if s.Redis == nil {
		return paddock.Errorf(paddock.ENotFound, "Paddock is not configured with Redis (redis.url, PADDOCK_REDIS_URL): rate limits are kept in each process")
	}
	info, size, err := s.Redis.RedisInfo(r.Context())
	if err != nil {
		s.log.WarnContext(r.Context(), "redis monitor", "request_id", requestID(r.Context()), "err", err)
		return paddock.Errorf(paddock.EUnavailable, "Redis does not answer")
	}
	out := map[string]any{"db_size": size}
	var section map[string]string
	for line := range strings.Lines(info) {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "#"); ok {
			section = map[string]string{}
			out[strings.ToLower(strings.TrimSpace(name))] = section
		} else if k, v, ok := strings.Cut(line, ":"); ok && section != nil {
			section[k] = v
		}
	}
	return writeJSON(w, http.StatusOK, out)
}
