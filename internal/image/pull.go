package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/paddockhq/paddock"
)

// platform is what Pull picks from multi-platform indexes.
var platform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}

// Pull fetches ref from its registry, or from the mirror Options.Mirrors
// names for that registry (a configured mirror is used alone, with no
// fallback to the registry), picking the linux image for this machine's
// architecture from a multi-platform index. Pulling a name again moves it
// to the registry's current content.
//
// Errors: EInvalid for a malformed ref; ENotFound when the registry has
// no such manifest, repository or platform (or refuses access, which
// registries also answer for repositories that do not exist);
// EUnavailable when the registry cannot be reached or fails. On cancel it
// returns ctx's error and leaves nothing behind.
func (s *Store) Pull(ctx context.Context, ref string, progress func(Progress)) (*paddock.Image, error) {
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	src := r.ref
	if m, ok := s.mirrors[canonicalRegistry(r.registry)]; ok {
		if src, err = mirrorRef(r, m); err != nil {
			return nil, err
		}
	}
	if progress != nil {
		progress(Progress{Phase: "resolve", Message: "resolving " + r.familiar})
	}
	s.log.Info("pulling image", "image", r.familiar, "from", src.String())
	desc, err := remote.Get(src,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(s.keychain),
		remote.WithPlatform(platform),
		remote.WithUserAgent("paddock"),
	)
	if err != nil {
		return nil, pullError(ctx, r, src, err)
	}
	if !desc.MediaType.IsIndex() && !desc.MediaType.IsImage() {
		return nil, paddock.Errorf(paddock.EUnsupported, "pull %s: unsupported manifest type %s", r.familiar, desc.MediaType)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, pullError(ctx, r, src, err)
	}
	if cf, err := img.ConfigFile(); err != nil {
		return nil, pullError(ctx, r, src, err)
	} else if cf.Architecture != "" && cf.Architecture != platform.Architecture {
		s.log.Warn("image architecture differs from this machine", "image", r.familiar, "architecture", cf.Architecture)
	}
	out, err := s.add(ctx, r, "pull", img, progress)
	if err != nil {
		return nil, pullError(ctx, r, src, err)
	}
	return out, nil
}

// pullError turns a registry failure into an error whose paddock message
// names the ref and what failed; err stays in the chain for the logs.
func pullError(ctx context.Context, r reference, src name.Reference, err error) error {
	var perr *paddock.Error
	switch {
	case errors.As(err, &perr):
		return fmt.Errorf("pull %s: %w", r.familiar, err)
	case ctx.Err() != nil:
		return fmt.Errorf("pull %s: %w", r.familiar, ctx.Err())
	}
	host := src.Context().RegistryStr()
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden:
			perr = paddock.Errorf(paddock.ENotFound, "pull %s: repository does not exist or requires authorization", r.familiar)
		case terr.StatusCode == http.StatusNotFound || hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode):
			perr = paddock.Errorf(paddock.ENotFound, "pull %s: manifest unknown", r.familiar)
		case terr.StatusCode == http.StatusTooManyRequests:
			perr = paddock.Errorf(paddock.EUnavailable, "pull %s: registry %s rate limit exceeded", r.familiar, host)
		default:
			perr = paddock.Errorf(paddock.EUnavailable, "pull %s: registry %s answered %d", r.familiar, host, terr.StatusCode)
		}
		return fmt.Errorf("%w: %w", perr, err)
	}
	var (
		uerr *url.Error
		nerr net.Error
	)
	if errors.As(err, &uerr) || errors.As(err, &nerr) {
		return fmt.Errorf("%w: %w", paddock.Errorf(paddock.EUnavailable, "pull %s: registry %s unreachable", r.familiar, host), err)
	}
	// go-containerregistry has no typed error for this.
	if strings.Contains(err.Error(), "no child with platform") {
		return fmt.Errorf("%w: %w", paddock.Errorf(paddock.ENotFound, "pull %s: no image for %s/%s", r.familiar, platform.OS, platform.Architecture), err)
	}
	return fmt.Errorf("pull %s: %w", r.familiar, err)
}

func hasCode(terr *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range terr.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// Ensure returns the stored image ref, pulling it first if it is absent.
// Concurrent Ensure calls for the same image share one pull, which goes on
// while at least one of them waits; each returns when its own ctx is done.
func (s *Store) Ensure(ctx context.Context, ref string) (*paddock.Image, error) {
	img, err := s.Image(ctx, ref)
	if err == nil || paddock.ErrorCode(err) != paddock.ENotFound {
		return img, err
	}
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}

	s.flightMu.Lock()
	f, ok := s.flights[r.full]
	if ok {
		f.waiters++
	} else {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), waiters: 1, cancel: cancel}
		s.flights[r.full] = f
		go func() {
			defer cancel()
			// Another process may have pulled it meanwhile.
			f.img, f.err = s.Image(fctx, ref)
			if paddock.ErrorCode(f.err) == paddock.ENotFound {
				f.img, f.err = s.Pull(fctx, ref, nil)
			}
			s.flightMu.Lock()
			if s.flights[r.full] == f {
				delete(s.flights, r.full)
			}
			s.flightMu.Unlock()
			close(f.done)
		}()
	}
	s.flightMu.Unlock()

	select {
	case <-f.done:
		return f.img, f.err
	case <-ctx.Done():
		s.flightMu.Lock()
		if f.waiters--; f.waiters == 0 {
			// Nobody waits any more: stop the pull, and let the next
			// Ensure start afresh rather than join a cancelled one.
			f.cancel()
			if s.flights[r.full] == f {
				delete(s.flights, r.full)
			}
		}
		s.flightMu.Unlock()
		return nil, fmt.Errorf("ensure %s: %w", r.familiar, ctx.Err())
	}
}

// flight is a pull shared by concurrent Ensure calls.
type flight struct {
	done    chan struct{}
	img     *paddock.Image // set before done is closed
	err     error
	waiters int // guarded by Store.flightMu
	cancel  context.CancelFunc
}
