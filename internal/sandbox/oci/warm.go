package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/paddockhq/paddock/internal/sandbox"
	"github.com/paddockhq/paddock/internal/sandbox/guest"
)

// The warm pool: environments started ahead of demand, for the shapes
// asked for lately, so a create that matches one only has to hand it over
// (a few milliseconds) instead of running a container (around 100 ms
// under runc, 200 ms and more under gVisor).
//
// A warm environment is made exactly like any other, under the id it
// will keep, with its guest held (guest.Config.Hold): nothing runs in it
// until Create hands it to the environment that claimed it and the guest
// learns, with its start request, the environment's variables, working
// directory and command. Everything else that goes into the container is
// the shape, and only a spec of the same shape may claim it. Warm
// environments belong to the driver: List leaves them out while this
// Runtime holds them, so after a restart they are orphans the Manager
// removes; Close stops them.

const (
	warmShapes   = 4                // shapes kept warm at once, most recently asked for
	warmIdleFor  = 10 * time.Minute // a shape nobody asked for in this long is dropped
	warmClaimFor = 5 * time.Minute  // a claim not created in this long is stopped
)

// warmShape is everything of a spec that is fixed once its container
// runs.
type warmShape struct {
	class                string
	rootfs               string
	rootfsIno            uint64 // a tree removed and unpacked again is another image
	uid, gid             int64
	cpu, memory, storage int64
	pids                 int64
	readOnlyRoot         bool
	allowEscalation      bool
	hostname             string // gVisor only (runc's is set at hand-over): from the name, "" for the id
	owner                int64  // the network policy's owner and rules
	policy               string
}

// shapeOf returns spec's shape; false when spec cannot be started warm.
func shapeOf(spec *sandbox.Spec) (warmShape, bool) {
	if spec.Env == nil || spec.Image == nil || spec.Image.RootFS == "" {
		return warmShape{}, false
	}
	uid, gid, err := sandbox.ResolveUser(spec.Env, spec.Image)
	if err != nil {
		return warmShape{}, false
	}
	policy, err := json.Marshal(spec.Env.Isolation.NetworkPolicy)
	if err != nil {
		return warmShape{}, false
	}
	var st syscall.Stat_t
	if err := syscall.Stat(spec.Image.RootFS, &st); err != nil {
		return warmShape{}, false
	}
	s := warmShape{
		class: spec.RuntimeClass, rootfs: spec.Image.RootFS, rootfsIno: st.Ino, uid: uid, gid: gid,
		cpu: spec.CPUMillis, memory: spec.MemoryBytes, storage: spec.StorageBytes, pids: spec.PidsLimit,
		owner: spec.Env.OwnerID, policy: string(policy),
	}
	if spec.RuntimeClass == sandbox.ClassGVisor {
		// The hostname is the sandbox kernel's, out of the host's reach.
		s.hostname = hostname(spec.Env.Name, "")
	}
	if sc := spec.Env.Isolation.SecurityContext; sc != nil {
		s.readOnlyRoot = sc.ReadOnlyRootFilesystem
		s.allowEscalation = sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation
	}
	return s, true
}

// warmEnv is one environment started ahead of demand.
type warmEnv struct {
	id    string
	shape warmShape
	ready chan struct{} // closed once its start ended; then err is set
	err   error

	claimedAt time.Time
}

type wantedShape struct {
	shape    warmShape
	template *sandbox.Spec // the last spec that asked for it
	asked    time.Time
}

// warmPool is the bookkeeping; the Runtime's filler goroutine does the
// starting.
type warmPool struct {
	per  int
	kick chan struct{} // wakes the filler

	mu      sync.Mutex
	wanted  []wantedShape // most recently asked for first
	idle    map[warmShape][]*warmEnv
	claimed map[string]*warmEnv
}

func newWarmPool(per int) *warmPool {
	return &warmPool{per: per, kick: make(chan struct{}, 1), idle: map[warmShape][]*warmEnv{}, claimed: map[string]*warmEnv{}}
}

// Claim implements sandbox.Pool: it hands out a warm environment of
// spec's shape, ready or still starting, and asks for the shape to be
// kept warm. The caller must Create (or Stop) the id it got.
func (r *Runtime) Claim(spec *sandbox.Spec) string {
	p := r.warm
	if p == nil {
		return ""
	}
	shape, ok := shapeOf(spec)
	if !ok {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want(shape, spec)
	id := ""
	if ws := p.idle[shape]; len(ws) > 0 {
		// The oldest first: it is the likeliest to be ready.
		w := ws[0]
		p.idle[shape] = ws[1:]
		w.claimedAt = time.Now()
		p.claimed[w.id] = w
		id = w.id
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return id
}

// want records that shape was asked for by spec, now.
func (p *warmPool) want(shape warmShape, spec *sandbox.Spec) {
	tmpl := *spec
	env := *spec.Env
	// A warm environment gets its variables and command at hand-over;
	// none of a previous environment's may linger in it.
	env.Env, env.Command, env.Labels = nil, nil, nil
	tmpl.Env, tmpl.LogPath = &env, ""
	p.wanted = slices.DeleteFunc(p.wanted, func(w wantedShape) bool { return w.shape == shape })
	p.wanted = slices.Insert(p.wanted, 0, wantedShape{shape: shape, template: &tmpl, asked: time.Now()})
}

// take removes id from the pool, claimed or idle, and returns it; nil if
// the pool does not hold it.
func (p *warmPool) take(id string) *warmEnv {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	w, i := p.find(id)
	switch {
	case w == nil:
	case i < 0:
		delete(p.claimed, id)
	default:
		p.idle[w.shape] = slices.Delete(p.idle[w.shape], i, i+1)
	}
	return w
}

// holds reports whether id is the pool's.
func (p *warmPool) holds(id string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	w, _ := p.find(id)
	return w != nil
}

// find returns warm environment id and its index in its shape's idle
// list (-1 when claimed); nil if the pool does not hold it. p.mu is held.
func (p *warmPool) find(id string) (*warmEnv, int) {
	if w := p.claimed[id]; w != nil {
		return w, -1
	}
	for _, ws := range p.idle {
		if i := slices.IndexFunc(ws, func(w *warmEnv) bool { return w.id == id }); i >= 0 {
			return ws[i], i
		}
	}
	return nil, 0
}

// next returns a new warm environment for a shape short of them, and its
// spec, for the caller to start; nil when every shape has its share.
// It first drops the shapes too old or too many, and the claims never
// created, returning their environments for the caller to stop.
func (p *warmPool) next() (*warmEnv, *sandbox.Spec, []*warmEnv) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var drop []*warmEnv
	keep := p.wanted[:0]
	for i, w := range p.wanted {
		if i < warmShapes && time.Since(w.asked) < warmIdleFor {
			keep = append(keep, w)
		}
	}
	p.wanted = keep
	for id, w := range p.claimed {
		if time.Since(w.claimedAt) > warmClaimFor {
			drop = append(drop, w)
			delete(p.claimed, id)
		}
	}
	for shape, ws := range p.idle {
		if !slices.ContainsFunc(p.wanted, func(w wantedShape) bool { return w.shape == shape }) {
			drop = append(drop, ws...)
			delete(p.idle, shape)
		}
	}
	for _, w := range p.wanted {
		if len(p.idle[w.shape]) < p.per {
			tmpl := *w.template
			env := *tmpl.Env
			tmpl.Env = &env
			tmpl.ID = sandbox.NewID()
			env.ID = tmpl.ID
			we := &warmEnv{id: tmpl.ID, shape: w.shape, ready: make(chan struct{})}
			p.idle[w.shape] = append(p.idle[w.shape], we)
			return we, &tmpl, drop
		}
	}
	return nil, nil, drop
}

// failed forgets shape after a warm start of it failed: it is tried
// again once asked for again, not in a loop.
func (p *warmPool) failed(shape warmShape) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wanted = slices.DeleteFunc(p.wanted, func(w wantedShape) bool { return w.shape == shape })
}

// all empties the pool and returns what it held.
func (p *warmPool) all() []*warmEnv {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*warmEnv
	for _, ws := range p.idle {
		out = append(out, ws...)
	}
	for _, w := range p.claimed {
		out = append(out, w)
	}
	p.idle, p.claimed, p.wanted = map[warmShape][]*warmEnv{}, map[string]*warmEnv{}, nil
	return out
}

// fillWarm starts warm environments, one at a time so the pool never
// competes with more than one container start, until ctx is done.
func (r *Runtime) fillWarm(ctx context.Context) {
	tick := time.NewTicker(time.Minute) // drops shapes gone idle
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.warm.kick:
		case <-tick.C:
		}
		for ctx.Err() == nil {
			w, spec, drop := r.warm.next()
			for _, d := range drop {
				r.stopWarm(d)
			}
			if w == nil {
				break
			}
			w.err = r.create(ctx, spec, true)
			close(w.ready)
			if w.err != nil {
				if ctx.Err() == nil {
					r.log.Warn("start warm environment", "env_id", w.id, "err", w.err)
				}
				r.warm.take(w.id)
				r.warm.failed(w.shape)
			}
		}
	}
}

// stopWarm stops a warm environment the pool no longer holds.
func (r *Runtime) stopWarm(w *warmEnv) {
	<-w.ready
	if w.err != nil {
		return // nothing is left of a failed start
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Stop(ctx, w.id, 0); err != nil {
		r.log.Warn("stop warm environment", "env_id", w.id, "err", err)
	}
}

// adopt hands the warm environment w to spec, which claimed it: the
// environment takes spec's log and the guest spec's variables, working
// directory and command. On error the warm environment is gone.
func (r *Runtime) adopt(ctx context.Context, spec *sandbox.Spec, w *warmEnv) (err error) {
	t0 := time.Now()
	// Its start is bounded by StartTimeout; waiting for it, even when ctx
	// ends, means nothing of it is still being made once Create returns.
	<-w.ready
	if w.err != nil {
		return w.err
	}
	defer r.undo(ctx, w.id, "warm environment", &err)
	if err := ctx.Err(); err != nil {
		return err
	}
	if shape, ok := shapeOf(spec); !ok || shape != w.shape {
		return fmt.Errorf("environment %s: the spec no longer matches its warm environment", spec.ID)
	}
	uid, _, err := sandbox.ResolveUser(spec.Env, spec.Image)
	if err != nil {
		return err
	}
	es, err := r.env(spec.ID)
	if err != nil {
		return err
	}
	err = es.setRecord(func(rec *record) {
		if spec.LogPath != "" {
			rec.LogPath = spec.LogPath
		}
		rec.CreatedAt = time.Now().UTC()
	})
	if err != nil {
		return err
	}
	if spec.RuntimeClass == sandbox.ClassRunc {
		if err := r.setHostname(spec.ID, es.dir, hostname(spec.Env.Name, spec.ID)); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.StartTimeout)
	defer cancel()
	c, err := es.waitClient(wctx)
	if err != nil {
		return fmt.Errorf("environment %s: guest is not connected: %w", spec.ID, err)
	}
	start := &guest.StartConfig{Env: guestEnv(spec, uid), Dir: spec.Image.Config.WorkingDir, Command: spec.Env.Command}
	if err := c.Start(wctx, start); err != nil {
		return fmt.Errorf("environment %s: start the guest: %w", spec.ID, err)
	}
	r.log.Debug("warm environment handed over", "env_id", spec.ID, "class", spec.RuntimeClass, "duration", time.Since(t0))
	return nil
}
