package paddock

import (
	"context"
	"strings"
	"time"
)

// Resource is a document of a knowledge base (RAG): its text, split into
// chunks, is searched by the search_resources tool of runs that name it.
// A shared resource (OwnerID 0) is added by an admin and seen by every
// user; the others are their owner's.
type Resource struct {
	ID          string // "res_..."
	OwnerID     int64  // 0: shared
	Title       string
	Description string
	Filename    string // of the upload; "" for text sent as JSON
	MediaType   string // of the original, e.g. application/pdf
	Size        int64  // bytes of the original
	Chunks      int    // how many passages its text was split into
	CreatedAt   time.Time
}

// URI is the resource's reference in chat requests (DeerFlow's form).
func (r *Resource) URI() string { return ResourceURIPrefix + r.ID }

// ResourceURIPrefix starts every resource URI.
const ResourceURIPrefix = "rag://resource/"

// ResourceRef returns the id a resource reference names: an id
// ("res_...") or a URI (ResourceURIPrefix + id). ok is false for anything
// else.
func ResourceRef(ref string) (id string, ok bool) {
	id = strings.TrimPrefix(ref, ResourceURIPrefix)
	if !strings.HasPrefix(id, "res_") || len(id) > 64 {
		return "", false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return "", false
		}
	}
	return id, true
}

// ResourceFilter selects resources.
type ResourceFilter struct {
	// OwnerID selects the resources this user sees: their own and the
	// shared ones. 0 selects every resource.
	OwnerID int64
	Query   string // case-insensitive substring of the title; "" matches all
	Offset  int
	Limit   int // 0 means no limit
}

// ResourceHit is a passage of a resource that matches a search.
type ResourceHit struct {
	ResourceID string
	Title      string
	Chunk      int     // the passage's index in the resource, from 0
	Text       string  // the passage
	Score      float64 // higher is a better match; comparable within one search only
}

// ResourceService stores resources and searches their text. An unknown
// id is ENotFound.
type ResourceService interface {
	// CreateResource stores r with its text's chunks, in order, setting
	// r.ID, r.Chunks and r.CreatedAt.
	CreateResource(ctx context.Context, r *Resource, chunks []string) error
	Resource(ctx context.Context, id string) (*Resource, error)
	// Resources returns a page of the resources f selects, newest first,
	// and how many it selects in all.
	Resources(ctx context.Context, f ResourceFilter) ([]*Resource, int, error)
	DeleteResource(ctx context.Context, id string) error
	// SearchResources returns at most limit passages of the resources ids
	// that match query best, best first. Any word of query may match
	// (English stemming: "containers" matches "container"); a query with
	// no word matches nothing.
	SearchResources(ctx context.Context, ids []string, query string, limit int) ([]*ResourceHit, error)
}
