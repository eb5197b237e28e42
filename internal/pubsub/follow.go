package pubsub

import (
	"context"

	"github.com/paddockhq/paddock"
)

// EventReader reads a session's stored events: paddock.EventService.
type EventReader interface {
	Events(ctx context.Context, sessionID string, afterSeq int64, limit int) ([]*paddock.Event, error)
}

// Subscriber subscribes to live events: *Bus.
type Subscriber interface {
	Subscribe(ctx context.Context, sessionID string) (<-chan *paddock.Event, func())
}

// replayPage is how many stored events Follow reads at a time.
const replayPage = 500

// followBuffer is how many events Follow hands over ahead of its reader.
const followBuffer = 64

// Follow returns the session's events after afterSeq: first those in the
// store, then live ones, each exactly once and in Seq order. It subscribes
// before reading the store, so nothing published in between is missed, and
// drops live events the replay already delivered. A live event that skips
// ahead (its predecessors were published out of order or by another
// replica) makes Follow read the gap from the store first; when the
// subscription is dropped for falling behind, Follow resubscribes and
// replays from the last event it delivered.
//
// On a *Bus, the bus writes live events to the returned channel itself
// (see follow), and keeps those it cannot write (the reader is behind) for
// Follow's goroutine to send; that goroutine reads the store at the start,
// and again only for a gap or when the reader falls behind by more than
// the bus's buffer.
//
// The channel is closed when ctx is done or when the store fails; a
// reader that did not cancel ctx reconnects from the last Seq it got.
func Follow(ctx context.Context, store EventReader, bus Subscriber, sessionID string, afterSeq int64) <-chan *paddock.Event {
	// Buffered, so that the events of a commit pass to the reader at once
	// and it can write them out together.
	out := make(chan *paddock.Event, followBuffer)
	if b, ok := bus.(*Bus); ok {
		go func() {
			defer close(out)
			f := follower{ctx: ctx, store: store, out: out, sessionID: sessionID, last: afterSeq}
			f.direct(b)
		}()
		return out
	}
	go func() {
		defer close(out)
		f := follower{ctx: ctx, store: store, out: out, sessionID: sessionID, last: afterSeq}
		for ctx.Err() == nil {
			live, cancel := bus.Subscribe(ctx, sessionID)
			ok := f.replay(0) && f.live(live)
			cancel()
			if !ok {
				return
			}
		}
	}()
	return out
}

type follower struct {
	ctx       context.Context
	store     EventReader
	out       chan<- *paddock.Event
	sessionID string
	last      int64 // Seq of the last event delivered
}

// send delivers e, reporting false when ctx is done first.
func (f *follower) send(e *paddock.Event) bool {
	select {
	case f.out <- e:
		f.last = e.Seq
		return true
	case <-f.ctx.Done():
		return false
	}
}

// replay delivers stored events after f.last, up to Seq until (0: all).
// It reports false when following must stop.
func (f *follower) replay(until int64) bool {
	for {
		limit := replayPage
		if until > 0 {
			limit = int(min(until-f.last, replayPage))
			if limit <= 0 {
				return true
			}
		}
		events, err := f.store.Events(f.ctx, f.sessionID, f.last, limit)
		if err != nil {
			return false
		}
		for _, e := range events {
			if e.Seq <= f.last {
				continue
			}
			if !f.send(e) {
				return false
			}
		}
		if len(events) < limit {
			return true
		}
	}
}

// direct follows the session on b, which writes live events to f.out
// itself; f reads the store for the events before, sends those b kept
// while it was not live, and reads the store again for any b dropped or
// that came out of order. It returns when following must stop.
func (f *follower) direct(b *Bus) {
	s := &subscriber{f: &follow{out: f.out, max: b.buffer, wake: make(chan struct{}, 1)}}
	b.add(f.sessionID, s)
	defer b.drop(f.sessionID, s)
	if !f.replay(0) {
		return
	}
	for {
		s.mu.Lock()
		pending, missed := s.f.pending, s.f.missed
		s.f.pending, s.f.missed = nil, false
		if len(pending) == 0 && !missed {
			s.f.live, s.f.last = true, f.last
			s.mu.Unlock()
			select {
			case <-f.ctx.Done():
				return
			case <-s.f.wake:
			}
			s.mu.Lock()
			f.last = s.f.last
			s.mu.Unlock()
			continue
		}
		s.mu.Unlock()
		if missed && !f.replay(0) {
			return
		}
		for _, e := range pending {
			if e.Seq <= f.last {
				continue
			}
			if e.Seq > f.last+1 && !f.replay(e.Seq-1) {
				return
			}
			if e.Seq > f.last && !f.send(e) {
				return
			}
		}
	}
}

// live delivers events from the subscription until it closes. It reports
// true when the subscription was dropped and Follow should resubscribe.
func (f *follower) live(ch <-chan *paddock.Event) bool {
	for e := range ch {
		if e.Seq <= f.last {
			continue
		}
		if e.Seq > f.last+1 && !f.replay(e.Seq-1) {
			return false
		}
		if e.Seq > f.last && !f.send(e) {
			return false
		}
	}
	return f.ctx.Err() == nil
}
