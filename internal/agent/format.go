package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
)

// Format is a requested JSON answer: any JSON object (json_object), or a
// document valid against a JSON Schema (json_schema). The model is asked
// for it through the provider's own option, and its answer is checked
// here, because providers differ in how strictly they enforce it.
type Format struct {
	Type   string // llm.FormatJSONObject or llm.FormatJSONSchema
	Name   string
	Schema json.RawMessage
	Strict bool
	schema *jsonschema.Schema
}

// ParseFormat reads a response format in the OpenAI shape:
//
//	{"type": "json_object"}
//	{"type": "json_schema", "json_schema": {"name": "...", "schema": {...}, "strict": true}}
//
// json_schema may also hold the schema itself. {"type": "text"} (or null)
// asks for nothing and returns nil. A malformed format or schema is
// EInvalid.
func ParseFormat(raw json.RawMessage) (*Format, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var in struct {
		Type       string          `json:"type"`
		JSONSchema json.RawMessage `json:"json_schema"`
	}
	if raw[0] != '{' {
		return nil, paddock.Errorf(paddock.EInvalid, "responseFormat must be an object such as {\"type\": \"json_object\"}, not %s", jsonKind(raw))
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, formatFieldError("responseFormat", err)
	}
	switch in.Type {
	case "text":
		return nil, nil
	case llm.FormatJSONObject:
		return &Format{Type: llm.FormatJSONObject}, nil
	case llm.FormatJSONSchema:
	default:
		return nil, paddock.Errorf(paddock.EInvalid, "responseFormat.type must be \"json_object\", \"json_schema\" or \"text\", not %q", in.Type)
	}
	var wrapper struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict bool            `json:"strict"`
	}
	if js := bytes.TrimSpace(in.JSONSchema); len(js) == 0 || js[0] != '{' {
		return nil, paddock.Errorf(paddock.EInvalid, "responseFormat.json_schema must be an object: {\"name\": \"...\", \"schema\": {...}}")
	}
	if err := json.Unmarshal(in.JSONSchema, &wrapper); err != nil {
		return nil, formatFieldError("responseFormat.json_schema", err)
	}
	f := &Format{Type: llm.FormatJSONSchema, Name: wrapper.Name, Schema: wrapper.Schema, Strict: wrapper.Strict}
	if len(f.Schema) == 0 {
		f.Schema = in.JSONSchema // the schema itself
	}
	if f.Name == "" {
		f.Name = "response"
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(f.Schema))
	if err != nil {
		return nil, paddock.Errorf(paddock.EInvalid, "responseFormat.json_schema.schema is not valid JSON")
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{}) // never fetch or read referenced schemas
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, paddock.Errorf(paddock.EInvalid, "responseFormat.json_schema.schema: %s", schemaCompileError(err))
	}
	if f.schema, err = c.Compile(schemaURL); err != nil {
		return nil, paddock.Errorf(paddock.EInvalid, "responseFormat.json_schema.schema is not a valid JSON Schema: %s", schemaCompileError(err))
	}
	return f, nil
}

// schemaURL names the schema of a response format for the compiler. It is
// absolute, so that the compiler does not resolve it against the working
// directory (a file:// URL of the server's, which would show in errors),
// and hierarchical, so that a relative reference resolves to another URL
// (which is not loaded) rather than to the schema itself.
const (
	schemaBase = "https://paddock.invalid/"
	schemaURL  = schemaBase + "response-format.json"
)

// schemaCompileError describes why a schema does not compile, without the
// compiler's internals: the places in the schema the meta-schema refuses,
// a reference that cannot be loaded, or the compiler's message with
// schemaURL left out (references read as in the schema: "#/$defs/x").
func schemaCompileError(err error) string {
	relative := strings.NewReplacer(schemaURL, "", schemaBase, "")
	var (
		sve  *jsonschema.SchemaValidationError
		load *jsonschema.LoadURLError
	)
	switch {
	case errors.As(err, &sve):
		if ve, ok := sve.Err.(*jsonschema.ValidationError); ok {
			return schemaError(ve)
		}
	case errors.As(err, &load):
		return fmt.Sprintf("it refers to %q, which is not loaded: only references within the schema (\"#/$defs/...\") and the standard meta-schemas are resolved", relative.Replace(load.URL))
	}
	return strings.Join(strings.Fields(relative.Replace(err.Error())), " ")
}

// formatFieldError describes a JSON type error within a response format:
// the field (under prefix) and the kind of value it needs.
func formatFieldError(prefix string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		want := "a string"
		switch te.Type.Kind() {
		case reflect.Bool:
			want = "a boolean"
		case reflect.Map, reflect.Struct:
			want = "an object"
		}
		return paddock.Errorf(paddock.EInvalid, "%s.%s must be %s, not %s", prefix, te.Field, want, te.Value)
	}
	return paddock.Errorf(paddock.EInvalid, "%s must be an object such as {\"type\": \"json_object\"}", prefix)
}

// jsonKind names the kind of a JSON value: "a string", "an array"...
func jsonKind(v []byte) string {
	switch v[0] {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// LLM returns the format as the providers' option.
func (f *Format) LLM() *llm.ResponseFormat {
	return &llm.ResponseFormat{Type: f.Type, Name: f.Name, Schema: f.Schema, Strict: f.Strict}
}

// Check validates an answer and returns it as compact JSON. A Markdown
// code fence around the JSON is removed. An answer that is not a JSON
// object (json_object) or not valid against the schema is EInvalid, with
// the reason.
func (f *Format) Check(answer string) (string, error) {
	text := strings.TrimSpace(answer)
	if strings.HasPrefix(text, "```") {
		text = strings.TrimPrefix(text[3:], "json")
		text = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text), "```"))
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(text)); err != nil {
		return "", paddock.Errorf(paddock.EInvalid, "the answer is not valid JSON: %v", err)
	}
	if f.Type == llm.FormatJSONObject {
		if compact.Len() == 0 || compact.Bytes()[0] != '{' {
			return "", paddock.Errorf(paddock.EInvalid, "the answer is JSON but not an object")
		}
		return compact.String(), nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(compact.Bytes()))
	if err != nil {
		return "", paddock.Errorf(paddock.EInvalid, "the answer is not valid JSON: %v", err)
	}
	if err := f.schema.Validate(inst); err != nil {
		return "", paddock.Errorf(paddock.EInvalid, "the answer does not match the schema: %s", schemaError(err))
	}
	return compact.String(), nil
}

// schemaError flattens a validation error to one line.
func schemaError(err error) string {
	if ve, ok := err.(*jsonschema.ValidationError); ok {
		var parts []string
		for _, leaf := range leaves(ve) {
			parts = append(parts, strings.Join(strings.Fields(leaf.Error()), " ")) // "at '/a': got string, want number"
		}
		if len(parts) > 0 {
			return strings.Join(parts, "; ")
		}
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}
