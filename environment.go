package paddock

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// EnvironmentStatus is where an environment is in its lifecycle:
// pending -> running (<-> paused) -> terminating -> terminated, or failed
// with a Reason at any point.
type EnvironmentStatus string

const (
	EnvironmentPending     EnvironmentStatus = "pending"
	EnvironmentRunning     EnvironmentStatus = "running"
	EnvironmentPaused      EnvironmentStatus = "paused"
	EnvironmentTerminating EnvironmentStatus = "terminating"
	EnvironmentTerminated  EnvironmentStatus = "terminated"
	EnvironmentFailed      EnvironmentStatus = "failed"
)

// Valid reports whether s is a known status.
func (s EnvironmentStatus) Valid() bool {
	switch s {
	case EnvironmentPending, EnvironmentRunning, EnvironmentPaused,
		EnvironmentTerminating, EnvironmentTerminated, EnvironmentFailed:
		return true
	}
	return false
}

// Done reports whether the environment has ended for good.
func (s EnvironmentStatus) Done() bool {
	return s == EnvironmentTerminated || s == EnvironmentFailed
}

// Resources are an environment's limits, in Kubernetes quantity notation:
// CPU "500m" or "1", Memory "512Mi", Storage "1Gi".
type Resources struct {
	CPU     string `json:"cpu"`
	Memory  string `json:"memory"`
	Storage string `json:"storage"`
}

// NetworkPolicy says what an environment may reach and what may reach it.
type NetworkPolicy struct {
	AllowInternet        *bool    `json:"allow_internet,omitempty"` // nil: the configured default
	AllowedEgressCIDRs   []string `json:"allowed_egress_cidrs,omitempty"`
	AllowedIngressPorts  []int    `json:"allowed_ingress_ports,omitempty"`
	AllowClusterInternal bool     `json:"allow_cluster_internal,omitempty"`
	AllowedDomains       []string `json:"allowed_domains,omitempty"`
}

// SecurityContext sets who processes in the environment run as.
type SecurityContext struct {
	RunAsUser                *int64 `json:"run_as_user,omitempty"`
	RunAsGroup               *int64 `json:"run_as_group,omitempty"`
	RunAsNonRoot             bool   `json:"run_as_non_root,omitempty"`
	ReadOnlyRootFilesystem   bool   `json:"read_only_root_filesystem,omitempty"`
	AllowPrivilegeEscalation *bool  `json:"allow_privilege_escalation,omitempty"`
}

// Isolation holds an environment's runtime class, network policy and
// security context.
type Isolation struct {
	RuntimeClass    string           `json:"runtime_class,omitempty"` // "" means the configured default
	NetworkPolicy   *NetworkPolicy   `json:"network_policy,omitempty"`
	SecurityContext *SecurityContext `json:"security_context,omitempty"`
}

// Toleration is a Kubernetes toleration, stored for the Kubernetes driver.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"` // Kubernetes spelling
}

// Environment is an isolated sandbox.
type Environment struct {
	ID           string
	Name         string
	OwnerID      int64
	Status       EnvironmentStatus
	Reason       string // why it failed, or how it ended
	Image        string // as requested, e.g. "python:3.11-slim"
	Resources    Resources
	Timeout      int    // lifetime in seconds
	OnTimeout    string // at the end of the lifetime: OnTimeoutDelete (also ""), OnTimeoutPause, OnTimeoutHibernate
	Env          map[string]string
	Command      []string
	Labels       map[string]string
	NodeSelector map[string]string
	Tolerations  []Toleration
	Isolation    Isolation
	Endpoint     string
	Namespace    string
	CreatedAt    time.Time
	StartedAt    *time.Time
	ExpiresAt    *time.Time // when the lifetime ends; nil while it does not run
	EndedAt      *time.Time
	// Lifetime left in seconds of an environment paused with its clock
	// stopped (ExpiresAt is set from it on resume); 0 otherwise.
	PausedRemaining int
}

// What happens to an environment when its lifetime ends.
const (
	OnTimeoutDelete    = "delete"
	OnTimeoutPause     = "pause"     // freeze it: memory kept, resumable
	OnTimeoutHibernate = "hibernate" // save it to disk (gVisor only)
)

// MaxTimeout is the longest lifetime, in seconds, an environment may be
// given at once (30 days); it can be extended again before it ends. It also
// keeps now + timeout far from where a time.Duration overflows.
const MaxTimeout = 30 * 24 * 60 * 60

// Limits of labels; see CheckLabels.
const (
	MaxLabelKey   = 63
	MaxLabelValue = 255
)

// CheckLabels refuses labels a label selector could not select (see
// ParseLabelSelector) with EInvalid naming the first bad one: keys of 1 to
// MaxLabelKey characters and values of at most MaxLabelValue, neither
// holding ',', '=' or '!' (the selector's syntax) nor control characters,
// nor starting or ending with white space (a selector trims it).
func CheckLabels(labels map[string]string) error {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" {
			return Errorf(EInvalid, "field \"labels\" has an empty key")
		}
		if why := badLabelText(k, MaxLabelKey); why != "" {
			return Errorf(EInvalid, "label key %q is invalid: %s", k, why)
		}
		if why := badLabelText(labels[k], MaxLabelValue); why != "" {
			return Errorf(EInvalid, "label %q has an invalid value %q: %s", k, labels[k], why)
		}
	}
	return nil
}

// badLabelText says what makes s unusable as a label key or value, or "".
func badLabelText(s string, max int) string {
	switch {
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("it is longer than %d characters", max)
	case strings.ContainsAny(s, ",=!"):
		return "it must not contain ',', '=' or '!', which label selectors use"
	case strings.TrimSpace(s) != s:
		return "it must not start or end with white space"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "it must not contain control characters"
	}
	return ""
}

// EnvironmentFilter selects environments. Zero fields do not filter.
type EnvironmentFilter struct {
	OwnerID  *int64
	IDs      []string // when non-nil, only these (an empty slice selects none)
	Status   *EnvironmentStatus
	Statuses []EnvironmentStatus
	Labels   LabelSelector
	Offset   int
	Limit    int // 0 means no limit
}

// EnvironmentUpdate holds the fields to change; nil fields are left alone.
type EnvironmentUpdate struct {
	Status    *EnvironmentStatus
	Reason    *string
	StartedAt *time.Time
	ExpiresAt *time.Time
	EndedAt   *time.Time
	Endpoint  *string
	Namespace *string
	Timeout   *int
	OnTimeout *string
	// PausedRemaining, when set, replaces Environment.PausedRemaining.
	PausedRemaining *int
	// Isolation, when set, replaces the isolation settings (used to expose
	// ports after creation).
	Isolation *Isolation
}

// EnvironmentService stores environments. Unknown ids are ENotFound.
type EnvironmentService interface {
	Environment(ctx context.Context, id string) (*Environment, error)
	Environments(ctx context.Context, filter EnvironmentFilter) ([]*Environment, int, error)
	CreateEnvironment(ctx context.Context, env *Environment) error
	UpdateEnvironment(ctx context.Context, id string, upd EnvironmentUpdate) (*Environment, error)
	DeleteEnvironment(ctx context.Context, id string) error
}

// LabelRequirement is one term of a label selector: key=value or key!=value.
type LabelRequirement struct {
	Key   string
	Value string
	Not   bool
}

// LabelSelector is a conjunction of requirements.
type LabelSelector []LabelRequirement

// ParseLabelSelector parses "k=v,k2!=v2" (also "k==v"). An empty string is
// the empty selector, which matches everything.
func ParseLabelSelector(s string) (LabelSelector, error) {
	var sel LabelSelector
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		var r LabelRequirement
		var ok bool
		if r.Key, r.Value, ok = strings.Cut(term, "!="); ok {
			r.Not = true
		} else if r.Key, r.Value, ok = strings.Cut(term, "=="); ok {
		} else if r.Key, r.Value, ok = strings.Cut(term, "="); !ok {
			return nil, Errorf(EInvalid, "label selector term %q: want key=value or key!=value", term)
		}
		r.Key, r.Value = strings.TrimSpace(r.Key), strings.TrimSpace(r.Value)
		if r.Key == "" {
			return nil, Errorf(EInvalid, "label selector term %q has an empty key", term)
		}
		sel = append(sel, r)
	}
	return sel, nil
}

// Matches reports whether labels satisfy every requirement. A != term
// matches when the key is absent.
func (sel LabelSelector) Matches(labels map[string]string) bool {
	for _, r := range sel {
		v, ok := labels[r.Key]
		if r.Not == (ok && v == r.Value) {
			return false
		}
	}
	return true
}

// String renders the selector in its parseable form, terms sorted.
func (sel LabelSelector) String() string {
	terms := make([]string, len(sel))
	for i, r := range sel {
		op := "="
		if r.Not {
			op = "!="
		}
		terms[i] = fmt.Sprintf("%s%s%s", r.Key, op, r.Value)
	}
	sort.Strings(terms)
	return strings.Join(terms, ",")
}
