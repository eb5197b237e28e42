package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/swaggest/openapi-go"
	"github.com/swaggest/openapi-go/openapi31"
	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"

	"github.com/paddockhq/paddock/internal/webui"
)

// openAPI builds the OpenAPI 3.1 document from the route table, so that the
// document lists exactly the routes that exist.
func (s *Server) openAPI() ([]byte, error) {
	ref := openapi31.NewReflector()
	ref.Spec.Info.WithTitle("Paddock API").WithVersion(s.cfg.Version).
		WithDescription("Self-hosted platform for running AI agents in isolated sandboxes. " +
			"Authenticate with `Authorization: Bearer <token or API key>`; tokens come from either login endpoint.")
	ref.Spec.SetHTTPBearerTokenSecurity("bearerAuth", "JWT or pdk_ API key", "Access token from a login endpoint, or an API key")
	for _, rt := range s.routes {
		for _, method := range rt.methods() {
			if err := s.addOperation(ref, rt, method); err != nil {
				return nil, err
			}
		}
	}
	return ref.Spec.MarshalJSON()
}

// addOperation documents one method of a route.
func (s *Server) addOperation(ref *openapi31.Reflector, rt route, method string) error {
	{
		op, err := ref.NewOperationContext(method, rt.docPath())
		if err != nil {
			return fmt.Errorf("openapi %s %s: %w", method, rt.path, err)
		}
		op.SetTags(rt.doc.tag)
		op.SetSummary(rt.doc.summary)
		op.SetID(operationID(method, rt.docPath()))
		if rt.access != public {
			op.AddSecurity("bearerAuth")
		}
		switch rt.access.kind {
		case accessAdmin:
			op.SetDescription("Requires the admin role.")
		case accessPermission:
			op.SetDescription("Requires the permission `" + rt.access.perm + "` (granted through a role's menus) or the admin role.")
		}
		if req := requestType(rt.doc.params, rt.doc.body); req != nil {
			op.AddReqStructure(req)
			if rt.doc.form {
				op.AddReqStructure(formVariant(rt.doc.body), openapi.WithContentType("application/x-www-form-urlencoded"))
			}
			if rt.doc.upload != nil {
				op.AddReqStructure(rt.doc.upload, openapi.WithContentType("multipart/form-data"))
			}
		}
		status := rt.doc.status
		if status == 0 {
			status = http.StatusOK
		}
		if rt.doc.resp != nil {
			op.AddRespStructure(rt.doc.resp, openapi.WithHTTPStatus(status))
		}
		if rt.doc.contentType != "" { // instead of, or besides, the JSON of resp
			op.AddRespStructure(nil, openapi.WithHTTPStatus(status), openapi.WithContentType(rt.doc.contentType))
		}
		if rt.doc.resp == nil && rt.doc.contentType == "" {
			op.AddRespStructure(nil, openapi.WithHTTPStatus(status))
		}
		for _, code := range errorStatuses(rt) {
			op.AddRespStructure(errorSchema(rt.surface), openapi.WithHTTPStatus(code))
		}
		if err := ref.AddOperation(op); err != nil {
			return fmt.Errorf("openapi %s %s: %w", method, rt.path, err)
		}
	}
	return nil
}

// requestType merges a route's parameter struct and body type into one
// struct the reflector understands (path/query tags and JSON body fields).
func requestType(params, body any) any {
	var fields []reflect.StructField
	for _, v := range []any{params, body} {
		if v == nil {
			continue
		}
		t := reflect.TypeOf(v)
		for j := 0; j < t.NumField(); j++ {
			fields = append(fields, t.Field(j))
		}
	}
	if fields == nil {
		return nil
	}
	return reflect.New(reflect.StructOf(fields)).Interface()
}

// formVariant returns a struct like body whose fields are form fields named
// as their JSON keys, for bodies that may be sent either way.
func formVariant(body any) any {
	t := reflect.TypeOf(body)
	fields := make([]reflect.StructField, t.NumField())
	for i := range fields {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		tag := `formData:"` + name + `"`
		if f.Tag.Get("required") == "true" {
			tag += ` required:"true"`
		}
		f.Tag = reflect.StructTag(tag)
		fields[i] = f
	}
	return reflect.New(reflect.StructOf(fields)).Interface()
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '-' || r == '.' || r == '{' || r == '}' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// errorStatuses lists the error responses a route can give.
func errorStatuses(rt route) []int {
	codes := []int{http.StatusBadRequest, http.StatusTooManyRequests, http.StatusInternalServerError}
	if rt.access != public {
		codes = append(codes, http.StatusUnauthorized, http.StatusForbidden)
	}
	if strings.Contains(rt.path, "{") {
		codes = append(codes, http.StatusNotFound)
	}
	return codes
}

// Error bodies, one per surface, for the document.
type (
	environmentsError struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Code    int    `json:"code"`
	}
	agentsErrorDetail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	agentsError struct {
		Error agentsErrorDetail `json:"error"`
	}
	assistantsErrorDetail struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	}
	assistantsError struct {
		Error assistantsErrorDetail `json:"error"`
	}
	platformError struct {
		Detail string `json:"detail"`
		Code   string `json:"code"`
	}
)

func errorSchema(s surface) any {
	switch s {
	case surfaceAgents:
		return agentsError{}
	case surfaceAssistants:
		return assistantsError{}
	case surfacePlatform:
		return platformError{}
	}
	return environmentsError{}
}

// docs holds the API description, built on first use.
type docs struct {
	once    sync.Once
	openAPI []byte
	err     error
	ui      http.Handler
}

func (s *Server) buildDocs() {
	s.docs.once.Do(func() {
		s.docs.openAPI, s.docs.err = s.openAPI()
		s.docs.ui = v5emb.NewHandlerWithConfig(swgui.Config{
			Title: "Paddock API", SwaggerJSON: "/openapi.json", BasePath: "/swagger-ui/", ShowTopBar: false,
		})
	})
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	s.buildDocs()
	if s.docs.err != nil {
		return s.docs.err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(s.docs.openAPI)
	return err
}

func (s *Server) handleSwaggerUI(w http.ResponseWriter, r *http.Request) error {
	s.buildDocs()
	s.docs.ui.ServeHTTP(w, r)
	return nil
}

// handleRoot sends a browser that opens the server's address to the UI.
func handleRoot(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, webui.Prefix, http.StatusFound)
	return nil
}

func handleUI(w http.ResponseWriter, r *http.Request) error {
	webui.ServeHTTP(w, r)
	return nil
}
