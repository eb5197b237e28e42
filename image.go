package paddock

import "time"

// Image is an OCI image in the local store, unpacked once and shared
// read-only by every environment made from it.
type Image struct {
	Name      string      // the reference it is known by, e.g. "python:3.11-slim"
	Digest    string      // manifest digest, "sha256:..."
	Size      int64       // bytes unpacked
	Source    string      // "pull", "import", "build" or "snapshot"
	CreatedAt time.Time   // when it entered the store
	RootFS    string      // the unpacked tree on this node (read-only to environments)
	Config    ImageConfig // process defaults from the image's config
}

// ImageConfig holds the process defaults an image carries.
type ImageConfig struct {
	Env        []string `json:"env,omitempty"` // KEY=value
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
}

// ImageProgress reports how a pull, import or build is going.
type ImageProgress struct {
	Phase   string `json:"phase"` // "resolve", "download", "unpack", "build", "done"
	Current int64  `json:"current,omitempty"`
	Total   int64  `json:"total,omitempty"`
	Message string `json:"message,omitempty"`
}
