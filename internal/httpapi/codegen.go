package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/codegen"
)

// The code generator (seed 003 /api/v1/admin/gen/business): configurations
// of a table and its columns, and the Go module generated from one.

type genColumnItem struct {
	Name     string `json:"name" required:"true" pattern:"^[a-z][a-z0-9_]{0,62}$" description:"snake_case; id, created_at and updated_at are added to every table"`
	Type     string `json:"type" required:"true" enum:"string,text,int,float,bool,time"`
	Length   int    `json:"length,omitempty" minimum:"1" maximum:"10485760" description:"string columns: at most this many characters (default 255)"`
	Nullable bool   `json:"nullable,omitempty" description:"may be null; otherwise required on create and update"`
	Comment  string `json:"comment,omitempty" maxLength:"500"`
}

type genBusinessRequest struct {
	AppName      string          `json:"app_name" required:"true" pattern:"^[a-z][a-z0-9]{0,29}$" description:"the Go package and URL segment, e.g. inventory"`
	TableName    string          `json:"table_name" required:"true" pattern:"^[a-z][a-z0-9_]{0,62}$" description:"unique among configurations"`
	ClassName    string          `json:"class_name,omitempty" pattern:"^[A-Z][A-Za-z0-9]{0,63}$" description:"the Go type; default: the table name in CamelCase"`
	DocComment   string          `json:"doc_comment,omitempty" maxLength:"500" description:"what one row is, e.g. an item in stock"`
	TableComment string          `json:"table_comment,omitempty" maxLength:"500"`
	APIVersion   string          `json:"api_version,omitempty" pattern:"^v[1-9][0-9]{0,3}$" default:"v1"`
	Remark       string          `json:"remark,omitempty" maxLength:"500"`
	Columns      []genColumnItem `json:"columns" required:"true" minItems:"1" maxItems:"64"`
}

type genBusinessItem struct {
	ID           int64           `json:"id"`
	AppName      string          `json:"app_name"`
	TableName    string          `json:"table_name"`
	ClassName    string          `json:"class_name"`
	DocComment   string          `json:"doc_comment"`
	TableComment string          `json:"table_comment"`
	APIVersion   string          `json:"api_version"`
	Remark       string          `json:"remark"`
	Columns      []genColumnItem `json:"columns"`
	Path         string          `json:"path" description:"where the generated handler serves the table"`
	CreatedBy    *int64          `json:"created_by"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

type genBusinessList struct {
	Items []genBusinessItem `json:"items"`
	Total int               `json:"total"`
	Page  int               `json:"page"`
	Size  int               `json:"size"`
}

type genBusinessListParams struct {
	Page      int    `query:"page" minimum:"1" default:"1"`
	Size      int    `query:"size" minimum:"1" maximum:"200" default:"20"`
	TableName string `query:"table_name"`
}

type genFile struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

type genGenerateParams struct {
	ID     int64  `path:"id"`
	Format string `query:"format" enum:"zip,json" description:"default: json when Accept names application/json, else zip"`
}

type genPreview struct {
	Files []genFile `json:"files"`
}

func toGenBusinessItem(b *paddock.GenBusiness) genBusinessItem {
	out := genBusinessItem{ID: b.ID, AppName: b.AppName, TableName: b.TableName, ClassName: b.ClassName, DocComment: b.DocComment,
		TableComment: b.TableComment, APIVersion: b.APIVersion, Remark: b.Remark, Columns: make([]genColumnItem, len(b.Columns)),
		Path: codegen.Path(b), CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
	for i, c := range b.Columns {
		out.Columns[i] = genColumnItem(c)
	}
	if b.CreatedBy != 0 {
		out.CreatedBy = &b.CreatedBy
	}
	return out
}

func (s *Server) genBusinesses() (paddock.GenBusinessService, error) {
	if s.GenBusinesses == nil {
		return nil, paddock.Errorf(paddock.EUnavailable, "the code generator is not available")
	}
	return s.GenBusinesses, nil
}

// readGenBusiness decodes and checks a configuration from the body.
func (s *Server) readGenBusiness(w http.ResponseWriter, r *http.Request) (*paddock.GenBusiness, error) {
	var req genBusinessRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return nil, err
	}
	b := &paddock.GenBusiness{AppName: req.AppName, TableName: req.TableName, ClassName: req.ClassName, DocComment: req.DocComment,
		TableComment: req.TableComment, APIVersion: req.APIVersion, Remark: req.Remark, Columns: make([]paddock.GenColumn, len(req.Columns))}
	for i, c := range req.Columns {
		b.Columns[i] = paddock.GenColumn(c)
	}
	if err := codegen.Normalize(b); err != nil {
		return nil, err
	}
	return b, nil
}

func (s *Server) handleGenBusinessList(w http.ResponseWriter, r *http.Request) error {
	gs, err := s.genBusinesses()
	if err != nil {
		return err
	}
	page, size, err := pageSize(r)
	if err != nil {
		return err
	}
	f := paddock.GenBusinessFilter{Offset: (page - 1) * size, Limit: size}
	if v := r.URL.Query().Get("table_name"); v != "" {
		f.TableName = &v
	}
	list, total, err := gs.GenBusinesses(r.Context(), f)
	if err != nil {
		return err
	}
	out := genBusinessList{Items: make([]genBusinessItem, len(list)), Total: total, Page: page, Size: size}
	for i, b := range list {
		out.Items[i] = toGenBusinessItem(b)
	}
	return writeJSON(w, http.StatusOK, out)
}

// genBusinessTarget is the store and the configuration id of a request
// on /business/{id}.
func (s *Server) genBusinessTarget(r *http.Request) (paddock.GenBusinessService, int64, error) {
	gs, err := s.genBusinesses()
	if err != nil {
		return nil, 0, err
	}
	id, err := pathInt64(r, "id")
	return gs, id, err
}

func (s *Server) handleGenBusinessGet(w http.ResponseWriter, r *http.Request) error {
	gs, id, err := s.genBusinessTarget(r)
	if err != nil {
		return err
	}
	b, err := gs.GenBusiness(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toGenBusinessItem(b))
}

func (s *Server) handleGenBusinessCreate(w http.ResponseWriter, r *http.Request) error {
	gs, err := s.genBusinesses()
	if err != nil {
		return err
	}
	b, err := s.readGenBusiness(w, r)
	if err != nil {
		return err
	}
	b.CreatedBy = principal(r).User.ID
	if err := gs.CreateGenBusiness(r.Context(), b); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toGenBusinessItem(b))
}

func (s *Server) handleGenBusinessUpdate(w http.ResponseWriter, r *http.Request) error {
	gs, id, err := s.genBusinessTarget(r)
	if err != nil {
		return err
	}
	b, err := s.readGenBusiness(w, r)
	if err != nil {
		return err
	}
	if err := gs.UpdateGenBusiness(r.Context(), id, b); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toGenBusinessItem(b))
}

func (s *Server) handleGenBusinessDelete(w http.ResponseWriter, r *http.Request) error {
	gs, id, err := s.genBusinessTarget(r)
	if err != nil {
		return err
	}
	if err := gs.DeleteGenBusiness(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleGenBusinessGenerate answers with the generated module: a zip of
// <app_name>/..., or its files as JSON (see genFormat).
func (s *Server) handleGenBusinessGenerate(w http.ResponseWriter, r *http.Request) error {
	gs, id, err := s.genBusinessTarget(r)
	if err != nil {
		return err
	}
	format, err := genFormat(r)
	if err != nil {
		return err
	}
	b, err := gs.GenBusiness(r.Context(), id)
	if err != nil {
		return err
	}
	files, err := codegen.Generate(b)
	if err != nil {
		return err
	}
	if format == "json" {
		out := genPreview{Files: make([]genFile, len(files))}
		for i, f := range files {
			out.Files[i] = genFile{Path: f.Path, Content: string(f.Content)}
		}
		return writeJSON(w, http.StatusOK, out)
	}
	var buf bytes.Buffer
	if err := codegen.WriteZip(&buf, files, b.UpdatedAt); err != nil {
		return fmt.Errorf("zip the generated code: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", b.AppName+".zip"))
	h.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}

// genFormat is the form a generate request asks for: ?format=zip or
// json, else JSON when the Accept header names it, else a zip.
func genFormat(r *http.Request) (string, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "zip", "json":
		return f, nil
	case "":
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			return "json", nil
		}
		return "zip", nil
	default:
		return "", paddock.Errorf(paddock.EInvalid, "query parameter \"format\" must be zip or json, not %q", f)
	}
}
