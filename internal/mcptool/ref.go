package mcptool

import "github.com/paddockhq/paddock"

// CheckRef checks an MCP server a run names: a registered one by its name
// (the name is checked; whether it exists is the run's business), or one
// given inline with its URL (all of it is checked).
func CheckRef(ref paddock.MCPServerRef) error {
	s := Server{Name: ref.Name, Transport: ref.Transport, URL: ref.URL, Headers: ref.Headers}
	if ref.URL == "" && ref.Transport == "" {
		s.URL = "http://registered.invalid" // stands for the registered server's
	}
	return s.Validate()
}
