package paddock

// RuntimeInfo describes this node's sandbox runtime for health reports.
type RuntimeInfo struct {
	Driver       string             `json:"driver"`        // "oci"
	DefaultClass string             `json:"default_class"` // "runc" or "gvisor"
	Classes      []RuntimeClassInfo `json:"classes"`
}

// RuntimeClassInfo says whether one runtime class works on this node.
type RuntimeClassInfo struct {
	Name    string `json:"name"`   // "runc", "gvisor"
	Binary  string `json:"binary"` // "runc", "runsc"
	Version string `json:"version,omitempty"`
	Working bool   `json:"working"`
	Error   string `json:"error,omitempty"`
}

// Capacity is what the sandbox runtime can still place.
type Capacity struct {
	TotalNodes      int    `json:"total_nodes"`
	AvailableCPU    string `json:"available_cpu"`    // cores, e.g. "2" or "1500m"
	AvailableMemory string `json:"available_memory"` // e.g. "20Gi"
}
