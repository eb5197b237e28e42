package image

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/paddockhq/paddock"
)

// dockerHub is the name Docker gives Docker Hub in normalised references;
// go-containerregistry calls it "index.docker.io".
const dockerHub = "docker.io"

// reference is a parsed image reference in its two spellings.
type reference struct {
	ref      name.Reference // as go-containerregistry understands it
	full     string         // normalised: "docker.io/library/python:3.11-slim"
	familiar string         // for display: "python:3.11-slim"
	registry string         // "docker.io", "ghcr.io", "127.0.0.1:5000"
	repo     string         // "library/python"
}

// parseRef normalises s the way Docker does: a missing registry means
// Docker Hub, a missing namespace on Docker Hub means "library", a missing
// tag means "latest". It fails with EInvalid.
func parseRef(s string) (reference, error) {
	if strings.TrimSpace(s) == "" {
		return reference{}, paddock.Errorf(paddock.EInvalid, "image reference is empty")
	}
	r, err := name.ParseReference(s)
	if err != nil {
		return reference{}, fmt.Errorf("%w: %w", paddock.Errorf(paddock.EInvalid, "invalid image reference %q", s), err)
	}
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	repo := r.Context().RepositoryStr()
	var suffix string
	switch r := r.(type) {
	case name.Tag:
		suffix = ":" + r.TagStr()
	case name.Digest:
		suffix = "@" + r.DigestStr()
	}
	full := reg + "/" + repo + suffix
	familiar := full
	if reg == dockerHub {
		familiar = strings.TrimPrefix(repo, "library/") + suffix
		if strings.Contains(strings.TrimPrefix(repo, "library/"), "/") {
			familiar = repo + suffix
		}
	}
	return reference{ref: r, full: full, familiar: familiar, registry: reg, repo: repo}, nil
}

// familiarName turns a normalised name from the index back into its
// display form.
func familiarName(full string) string {
	r, err := parseRef(full)
	if err != nil {
		return full
	}
	return r.familiar
}

// parseMirror checks a mirror base URL such as "http://127.0.0.1:5000" or
// "https://mirror.example.com/dockerhub" (a path becomes a repository
// prefix). It fails with EInvalid.
func parseMirror(mirror string) (*url.URL, error) {
	u, err := url.Parse(mirror)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.User != nil {
		return nil, paddock.Errorf(paddock.EInvalid, "invalid mirror URL %q: want http(s)://host[:port][/prefix]", mirror)
	}
	return u, nil
}

// mirrorRef rewrites r to point at mirror.
func mirrorRef(r reference, mirror string) (name.Reference, error) {
	u, err := parseMirror(mirror)
	if err != nil {
		return nil, err
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	repo := r.repo
	if p := strings.Trim(u.Path, "/"); p != "" {
		repo = p + "/" + repo
	}
	nr, err := name.NewRepository(u.Host+"/"+repo, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", paddock.Errorf(paddock.EInvalid, "invalid mirror URL %q for %s", mirror, r.registry), err)
	}
	if d, ok := r.ref.(name.Digest); ok {
		return nr.Digest(d.DigestStr()), nil
	}
	return nr.Tag(r.ref.Identifier()), nil
}

// canonicalRegistry maps the spellings of Docker Hub to "docker.io" so
// Mirrors keys can use any of them.
func canonicalRegistry(host string) string {
	switch strings.ToLower(host) {
	case "index.docker.io", "registry-1.docker.io", "docker.io":
		return dockerHub
	}
	return strings.ToLower(host)
}
