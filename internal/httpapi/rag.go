package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
	"github.com/paddockhq/paddock/internal/document"
)

// passageBytes is the size of the passages a resource's text is split
// into for search.
const passageBytes = 1200

// maxResourceText bounds the text of one resource (after extraction).
const maxResourceText = 8 << 20

type resourceRequest struct {
	Title       string `json:"title" required:"true" description:"at most 200 characters"`
	Description string `json:"description,omitempty" description:"at most 1000 characters; shown to the model with the title"`
	Content     string `json:"content" required:"true" description:"the document's text"`
	MediaType   string `json:"media_type,omitempty" description:"of content: text/plain (default), text/markdown, text/html (its markup is dropped)..."`
	Shared      bool   `json:"shared,omitempty" description:"admins: a resource every user sees"`
}

type resourceForm struct {
	File        *multipart.FileHeader `formData:"file" required:"true" description:"a text file (plain text, Markdown, CSV, JSON, YAML, XML, HTML, source code) or a PDF"`
	Title       string                `formData:"title" description:"default: the file's name"`
	Description string                `formData:"description"`
	Shared      bool                  `formData:"shared" description:"admins: a resource every user sees"`
}

type resourceResponse struct {
	ID          string    `json:"id"`
	URI         string    `json:"uri" description:"names the resource in a chat request's resources"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Filename    string    `json:"filename,omitempty"`
	MediaType   string    `json:"media_type"`
	Size        int64     `json:"size" description:"bytes of the original"`
	Chunks      int       `json:"chunks" description:"the passages its text was split into for search"`
	Scope       string    `json:"scope" enum:"shared,user"`
	CreatedAt   time.Time `json:"created_at"`
}

type resourceList struct {
	Resources []resourceResponse `json:"resources"`
	Total     int                `json:"total"`
}

type resourceListParams struct {
	Query  string `query:"query" description:"part of the title, any case"`
	Offset int    `query:"offset"`
	Limit  int    `query:"limit" description:"default 100, at most 1000"`
}

type resourceIDParam struct {
	ID string `path:"id" description:"res_..."`
}

type resourceSearchRequest struct {
	Query      string   `json:"query" required:"true" description:"words, any of which may match"`
	Resources  []string `json:"resources" required:"true" description:"ids (res_...) or URIs (rag://resource/res_...) of the resources to search"`
	MaxResults int      `json:"max_results,omitempty" description:"default 5, at most 50"`
}

type resourceHitResponse struct {
	ResourceID string  `json:"resource_id"`
	URI        string  `json:"uri"`
	Title      string  `json:"title"`
	Chunk      int     `json:"chunk" description:"the passage's index in the resource, from 0"`
	Text       string  `json:"text"`
	Score      float64 `json:"score" description:"higher is better; comparable within one search"`
}

type resourceSearchResponse struct {
	Results []resourceHitResponse `json:"results"`
}

func toResourceResponse(res *paddock.Resource) resourceResponse {
	scope := "user"
	if res.OwnerID == 0 {
		scope = "shared"
	}
	return resourceResponse{ID: res.ID, URI: res.URI(), Title: res.Title, Description: res.Description, Filename: res.Filename,
		MediaType: res.MediaType, Size: res.Size, Chunks: res.Chunks, Scope: scope, CreatedAt: res.CreatedAt}
}

// ragReady refuses RAG routes on a server without a resource store.
func (s *Server) ragReady() error {
	if s.Resources == nil {
		return paddock.Errorf(paddock.EUnavailable, "knowledge-base resources are not configured on this server")
	}
	return nil
}

func (s *Server) handleResourceList(w http.ResponseWriter, r *http.Request) error {
	if err := s.ragReady(); err != nil {
		return err
	}
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query().Get("query")
	if err := checkText(`query parameter "query"`, q, 200); err != nil {
		return err
	}
	list, total, err := s.Resources.Resources(r.Context(), paddock.ResourceFilter{OwnerID: principal(r).User.ID, Query: q, Offset: offset, Limit: limit})
	if err != nil {
		return err
	}
	out := resourceList{Resources: make([]resourceResponse, len(list)), Total: total}
	for i, res := range list {
		out.Resources[i] = toResourceResponse(res)
	}
	return writeJSON(w, http.StatusOK, out)
}

// handleResourceCreate adds a resource from JSON text or a multipart
// upload: its text is extracted, split into passages and indexed.
func (s *Server) handleResourceCreate(w http.ResponseWriter, r *http.Request) error {
	if err := s.ragReady(); err != nil {
		return err
	}
	var (
		in       resourceRequest
		filename string
		data     []byte
	)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		var err error
		if in, filename, data, err = s.resourceForm(w, r, params["boundary"]); err != nil {
			return err
		}
	} else {
		if err := s.decodeJSONLimit(w, r, &in, s.cfg.MaxAttachmentBytes+s.cfg.MaxBodyBytes); err != nil {
			return err
		}
		if err := requireField("content", in.Content); err != nil {
			return err
		}
		data = []byte(in.Content)
		if int64(len(data)) > s.cfg.MaxAttachmentBytes {
			return paddock.Errorf(paddock.ETooLarge, "field \"content\" is %d bytes, more than the limit of %d", len(data), s.cfg.MaxAttachmentBytes)
		}
		in.MediaType = strings.TrimSpace(in.MediaType)
		if in.MediaType == "" {
			in.MediaType = "text/plain"
		}
		if m, _, err := mime.ParseMediaType(in.MediaType); err != nil || !strings.HasPrefix(m, "text/") {
			return paddock.Errorf(paddock.EInvalid, "field \"media_type\" must be a text type such as text/plain, text/markdown or text/html, not %q; upload other files as multipart/form-data", in.MediaType)
		}
	}
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" {
		in.Title = filename
	}
	if err := requireField("title", in.Title); err != nil {
		return err
	}
	if err := validText("title", in.Title, 200); err != nil {
		return err
	}
	// A form's textarea sends its lines ended by CRLF.
	in.Description = strings.TrimSpace(strings.ReplaceAll(in.Description, "\r\n", "\n"))
	if err := validText("description", strings.NewReplacer("\n", " ", "\t", " ").Replace(in.Description), 1000); err != nil {
		return err
	}
	u := principal(r).User
	if in.Shared && !u.IsAdmin() {
		return paddock.Errorf(paddock.EForbidden, "only admins add shared resources")
	}
	name := cmp.Or(filename, in.Title)
	mediaType, text, err := document.ExtractText(name, in.MediaType, data)
	if err != nil {
		return err
	}
	if len(text) > maxResourceText {
		return paddock.Errorf(paddock.ETooLarge, "%q has %d bytes of text, more than the limit of %d", name, len(text), maxResourceText)
	}
	res := &paddock.Resource{OwnerID: u.ID, Title: in.Title, Description: in.Description, Filename: filename,
		MediaType: mediaType, Size: int64(len(data))}
	if in.Shared {
		res.OwnerID = 0
	}
	if err := s.Resources.CreateResource(r.Context(), res, document.Split(text, passageBytes)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toResourceResponse(res))
}

// resourceForm reads a multipart upload: the fields title, description and
// shared, and the file, in any order.
func (s *Server) resourceForm(w http.ResponseWriter, r *http.Request, boundary string) (in resourceRequest, filename string, data []byte, err error) {
	if boundary == "" {
		return in, "", nil, paddock.Errorf(paddock.EInvalid, "the multipart/form-data Content-Type has no boundary")
	}
	body := limitBody(w, r, s.cfg.MaxAttachmentBytes+s.cfg.MaxBodyBytes)
	mr := multipart.NewReader(body, boundary)
	seen := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			if err := body.failed(err); err != nil && paddock.ErrorCode(err) != paddock.EInternal {
				return in, "", nil, err
			}
			return in, "", nil, paddock.Errorf(paddock.EInvalid, "malformed multipart body: %v", err)
		}
		switch name := part.FormName(); name {
		case "title", "description", "shared":
			b, err := io.ReadAll(io.LimitReader(&uploadBody{r: part}, 8193))
			if err != nil {
				return in, "", nil, bodyError(err)
			}
			if len(b) > 8192 {
				return in, "", nil, paddock.Errorf(paddock.EInvalid, "field %q is longer than 8192 bytes", name)
			}
			switch name {
			case "title":
				in.Title = string(b)
			case "description":
				in.Description = string(b)
			case "shared":
				if in.Shared, err = strconv.ParseBool(strings.TrimSpace(string(b))); err != nil {
					return in, "", nil, paddock.Errorf(paddock.EInvalid, "field \"shared\" must be true or false, not %q", b)
				}
			}
		case "file":
			if seen {
				return in, "", nil, paddock.Errorf(paddock.EInvalid, "send one file per resource")
			}
			seen = true
			filename = path.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
			if filename == "." || filename == ".." || filename == "/" {
				filename = ""
			}
			if err := validText("file name", filename, 255); err != nil {
				return in, "", nil, err
			}
			in.MediaType = part.Header.Get("Content-Type")
			up := &uploadBody{r: part}
			var buf bytes.Buffer
			if _, err := buf.ReadFrom(io.LimitReader(up, s.cfg.MaxAttachmentBytes+1)); err != nil {
				return in, "", nil, bodyError(err)
			}
			if int64(buf.Len()) > s.cfg.MaxAttachmentBytes {
				return in, "", nil, paddock.Errorf(paddock.ETooLarge, "the file exceeds the limit of %d bytes", s.cfg.MaxAttachmentBytes)
			}
			data = buf.Bytes()
		default:
			return in, "", nil, paddock.Errorf(paddock.EInvalid, "unknown form field %q: send file, title, description and shared", name)
		}
	}
	if !seen {
		return in, "", nil, paddock.Errorf(paddock.EInvalid, "field \"file\" is required")
	}
	return in, filename, data, nil
}

// resource loads a resource the caller may use: their own or a shared
// one; with manage, an admin's, any.
func (s *Server) resource(r *http.Request, id string, manage bool) (*paddock.Resource, error) {
	res, err := s.Resources.Resource(r.Context(), id)
	u := principal(r).User
	if err == nil && res.OwnerID != 0 && res.OwnerID != u.ID && !(manage && u.IsAdmin()) {
		err = paddock.Errorf(paddock.ENotFound, "")
	}
	if paddock.ErrorCode(err) == paddock.ENotFound {
		return nil, paddock.Errorf(paddock.ENotFound, "resource %q not found", id)
	}
	return res, err
}

func (s *Server) handleResourceGet(w http.ResponseWriter, r *http.Request) error {
	if err := s.ragReady(); err != nil {
		return err
	}
	res, err := s.resource(r, r.PathValue("id"), true)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toResourceResponse(res))
}

func (s *Server) handleResourceDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.ragReady(); err != nil {
		return err
	}
	res, err := s.resource(r, r.PathValue("id"), true)
	if err != nil {
		return err
	}
	if res.OwnerID == 0 && !principal(r).User.IsAdmin() {
		return paddock.Errorf(paddock.EForbidden, "only admins remove shared resources")
	}
	if err := s.Resources.DeleteResource(r.Context(), res.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleResourceSearch(w http.ResponseWriter, r *http.Request) error {
	if err := s.ragReady(); err != nil {
		return err
	}
	var req resourceSearchRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := requireField("query", req.Query); err != nil {
		return err
	}
	if req.MaxResults < 0 || req.MaxResults > 50 {
		return paddock.Errorf(paddock.EInvalid, "max_results must be between 1 and 50, not %d", req.MaxResults)
	}
	ids, err := s.usableResources(r.Context(), principal(r).User.ID, "resources", req.Resources)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return paddock.Errorf(paddock.EInvalid, "field \"resources\" is required: the resources to search")
	}
	hits, err := s.Resources.SearchResources(r.Context(), ids, req.Query, cmp.Or(req.MaxResults, 5))
	if err != nil {
		return err
	}
	out := resourceSearchResponse{Results: make([]resourceHitResponse, len(hits))}
	for i, h := range hits {
		out.Results[i] = resourceHitResponse{ResourceID: h.ResourceID, URI: paddock.ResourceURIPrefix + h.ResourceID, Title: h.Title,
			Chunk: h.Chunk, Text: h.Text, Score: h.Score}
	}
	return writeJSON(w, http.StatusOK, out)
}

// resourceRefs returns the ids of the resources refs name, each the
// caller's own or shared: an id ("res_..."), a URI ("rag://resource/res_...")
// or, as DeerFlow sends them, an object with a uri. field names the list in
// errors.
func (s *Server) resourceRefs(r *http.Request, field string, refs []json.RawMessage) ([]string, error) {
	strs := make([]string, len(refs))
	for i, raw := range refs {
		if err := json.Unmarshal(raw, &strs[i]); err != nil {
			var obj struct {
				URI string `json:"uri"`
				ID  string `json:"id"`
			}
			if err := json.Unmarshal(raw, &obj); err != nil || obj.URI == "" && obj.ID == "" {
				return nil, paddock.Errorf(paddock.EInvalid, "%s[%d] must be a resource id, a URI (%sres_...) or an object with a uri", field, i, paddock.ResourceURIPrefix)
			}
			strs[i] = cmp.Or(obj.URI, obj.ID)
		}
	}
	return s.usableResources(r.Context(), principal(r).User.ID, field, strs)
}

// usableResources returns the ids of the resources refs (ids or URIs)
// name, once each, in order; each must be owner's own or shared. field
// names the list in errors.
func (s *Server) usableResources(ctx context.Context, ownerID int64, field string, refs []string) ([]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	if err := s.ragReady(); err != nil {
		return nil, err
	}
	if len(refs) > agent.MaxRunResources {
		return nil, paddock.Errorf(paddock.EInvalid, "%s: at most %d resources, not %d", field, agent.MaxRunResources, len(refs))
	}
	var ids []string
	for i, ref := range refs {
		id, ok := paddock.ResourceRef(ref)
		if !ok {
			return nil, paddock.Errorf(paddock.EInvalid, "%s[%d]: %q is not a resource id or URI (%sres_...)", field, i, ref, paddock.ResourceURIPrefix)
		}
		res, err := s.Resources.Resource(ctx, id)
		if paddock.ErrorCode(err) == paddock.ENotFound || err == nil && res.OwnerID != 0 && res.OwnerID != ownerID {
			return nil, paddock.Errorf(paddock.EInvalid, "%s[%d]: resource %q not found", field, i, id)
		} else if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
