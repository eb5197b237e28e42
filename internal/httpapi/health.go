package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/paddockhq/paddock"
)

// Runtime reports the sandbox runtime's facts for health checks.
type Runtime interface {
	RuntimeInfo(ctx context.Context) paddock.RuntimeInfo
	Capacity(ctx context.Context) paddock.Capacity
}

type healthResponse struct {
	Status    string    `json:"status" enum:"healthy,unhealthy"`
	Timestamp time.Time `json:"timestamp"`
	Version   string    `json:"version"`
	Service   string    `json:"service"`
}

type environmentsHealthResponse struct {
	Status     string           `json:"status" enum:"healthy,degraded,unhealthy"`
	Version    string           `json:"version"`
	Database   string           `json:"database"`
	Kubernetes kubernetesHealth `json:"kubernetes"`
	Capacity   paddock.Capacity `json:"capacity"`
}

// kubernetesHealth keeps seed 004's "kubernetes" object honest for the local
// driver: not connected to a cluster, with the local runtime's facts.
type kubernetesHealth struct {
	Connected bool                 `json:"connected"`
	Version   string               `json:"version,omitempty"`
	Runtime   *paddock.RuntimeInfo `json:"runtime,omitempty"`
}

// ping checks the store.
func (s *Server) ping(ctx context.Context) error {
	if s.Ping == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.Ping(ctx)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	resp := healthResponse{Status: "healthy", Timestamp: s.now().UTC(), Version: s.cfg.Version, Service: "paddock"}
	status := http.StatusOK
	if err := s.ping(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "health: store unreachable", "err", err)
		resp.Status, status = "unhealthy", http.StatusServiceUnavailable
	}
	return writeJSON(w, status, resp)
}

func (s *Server) handleEnvironmentsHealth(w http.ResponseWriter, r *http.Request) error {
	resp := environmentsHealthResponse{Status: "healthy", Version: s.cfg.Version, Database: "ok"}
	status := http.StatusOK
	if err := s.ping(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "health: store unreachable", "err", err)
		resp.Status, resp.Database, status = "unhealthy", "unreachable", http.StatusServiceUnavailable
	}
	if s.Runtime != nil {
		info := s.Runtime.RuntimeInfo(r.Context())
		resp.Kubernetes.Runtime = &info
		resp.Capacity = s.Runtime.Capacity(r.Context())
		working := false
		for _, c := range info.Classes {
			working = working || c.Working
		}
		if !working && status == http.StatusOK {
			resp.Status, status = "degraded", http.StatusServiceUnavailable
		}
	} else {
		resp.Capacity = paddock.Capacity{TotalNodes: 1}
	}
	return writeJSON(w, status, resp)
}
