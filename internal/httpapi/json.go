package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/paddockhq/paddock"
)

// decodeJSON reads a JSON body into v. The body is capped at the server's
// limit (ETooLarge); malformed JSON, wrong types, unknown fields and trailing
// data are EInvalid with a message naming the problem and the field.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return s.decodeJSONLimit(w, r, v, s.cfg.MaxBodyBytes)
}

// decodeJSONLimit is decodeJSON with another cap on the body.
func (s *Server) decodeJSONLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json") && mt != "text/plain" &&
			mt != "application/x-www-form-urlencoded") { // curl -d sends the form type with JSON bodies
			return paddock.Errorf(paddock.EUnsupported, "unsupported Content-Type %q: send application/json", ct)
		}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return s.jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return s.jsonError(err)
		}
		return paddock.Errorf(paddock.EInvalid, "request body must hold a single JSON value")
	}
	return nil
}

func (s *Server) jsonError(err error) error {
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
		invalid *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &tooBig):
		return paddock.Errorf(paddock.ETooLarge, "request body exceeds %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return paddock.Errorf(paddock.EInvalid, "request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return paddock.Errorf(paddock.EInvalid, "malformed JSON: unexpected end of input")
	case errors.As(err, &syntax):
		return paddock.Errorf(paddock.EInvalid, "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			_, want, _ := strings.Cut(jsonKind(typ.Type.String()), " ") // "an object" -> "object"
			return paddock.Errorf(paddock.EInvalid, "request body must be a JSON %s, not %s", want, jsonValue(typ.Value))
		}
		return paddock.Errorf(paddock.EInvalid, "field %q must be %s, not %s", field, jsonKind(typ.Type.String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return paddock.Errorf(paddock.EInvalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.As(err, &invalid):
		return fmt.Errorf("decode: %w", err)
	}
	return paddock.Errorf(paddock.EInvalid, "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonValue names the kind of JSON value a json.UnmarshalTypeError
// found ("array", "number 1.5") with its article: "an array".
func jsonValue(v string) string {
	switch kind, _, _ := strings.Cut(v, " "); kind {
	case "array", "object":
		return "an " + kind
	case "bool":
		return "a boolean"
	case "string", "number":
		return "a " + kind
	}
	return v
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(goType string) string {
	t := strings.TrimPrefix(goType, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map["):
		return "an object"
	case t == "string" || strings.HasSuffix(t, "Status") || strings.HasSuffix(t, "Permission") || strings.HasSuffix(t, "Role"):
		return "a string"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "a boolean"
	}
	return "an object"
}

// writeJSON renders v with status. The body is encoded before anything is
// sent, so that it goes out with its length (see sendWhole) and a value
// that cannot be encoded is an error the caller can still render.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}
