package mcptool

import "github.com/paddockhq/paddock"

// CheckRef checks an MCP server a run names: a registered one by its name
// (the name is checked; whether it exists is the run's business), or one
// given inline with its URL (all of it is checked).
func CheckRef(ref paddock.MCPServerRef) error {
	if ref.URL == "" && ref.Transport == "" {
		return checkName(ref.Name)
	}
	return Server{Name: ref.Name, Transport: ref.Transport, URL: ref.URL, Headers: ref.Headers}.Validate()
}
