// Package pubsub fans the events appended to a session's log out to live
// subscribers (SSE and WebSocket streams) in this process.
//
// Publishing never blocks: each subscriber has a bounded buffer, and a
// subscriber whose buffer is full is dropped (its channel closed) rather
// than holding up the publisher and the other subscribers. Follow turns
// that into a gapless stream: it replays a session's log from the store,
// switches to live events, and after a drop replays the gap, so its reader
// sees every event once, in order. While a follower is live, Publish
// writes to its stream itself: an event reaches a stream's reader without
// waking a goroutine in between.
package pubsub

import (
	"context"
	"sync"

	"github.com/paddockhq/paddock"
)

// DefaultBuffer is the per-subscriber buffer of a Bus made with a buffer
// of 0.
const DefaultBuffer = 256

// Bus is an in-process event fan-out, keyed by session. It is safe for
// concurrent use; the zero value is not: use New.
type Bus struct {
	buffer int

	mu   sync.RWMutex
	subs map[string]map[*subscriber]struct{}
}

type subscriber struct {
	mu     sync.Mutex
	ch     chan *paddock.Event // nil for a follower
	f      *follow             // set for a follower (see Follow)
	closed bool
}

// follow is the state a Bus shares with a follower (see Follow). While
// live, Publish sends the follower's next events, in Seq order, to out
// itself. While not live (the follower is reading the store, or sending
// what out had no room for), Publish keeps the events for the follower to
// send, up to the bus's buffer; beyond, the follower reads them from the
// store.
type follow struct {
	out     chan<- *paddock.Event
	live    bool
	last    int64            // Seq of the last event sent to out while live
	pending []*paddock.Event // published while not live, in order
	max     int              // bound of pending
	missed  bool             // pending overflowed and was dropped
	wake    chan struct{}    // capacity 1: live mode ended
}

// deliver sends events to the follower, or keeps them for it. The
// subscriber's mu is held.
func (f *follow) deliver(events []*paddock.Event) {
	if f.live {
		for i, e := range events {
			if e.Seq <= f.last {
				continue
			}
			if e.Seq == f.last+1 {
				select {
				case f.out <- e:
					f.last = e.Seq
					continue
				default:
				}
			}
			// No room, or out of order: the follower takes over.
			f.live, events = false, events[i:]
			select {
			case f.wake <- struct{}{}:
			default:
			}
			break
		}
		if f.live {
			return
		}
	}
	switch {
	case f.missed:
	case len(f.pending)+len(events) > f.max:
		f.pending, f.missed = nil, true
	default:
		f.pending = append(f.pending, events...)
	}
}

// New returns a Bus whose subscribers buffer up to buffer events each
// (DefaultBuffer if buffer <= 0).
func New(buffer int) *Bus {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Bus{buffer: buffer, subs: map[string]map[*subscriber]struct{}{}}
}

// Publish delivers events, in order, to the session's subscribers. It
// never blocks: a subscriber without room for an event is dropped, its
// channel closed. Callers publish events after the transaction that
// appended them commits, so a subscriber never sees an event the store
// does not have.
func (b *Bus) Publish(sessionID string, events ...*paddock.Event) {
	if len(events) == 0 {
		return
	}
	var lagged []*subscriber
	b.mu.RLock()
	for s := range b.subs[sessionID] {
		s.mu.Lock()
		switch {
		case s.closed:
		case s.f != nil:
			s.f.deliver(events)
		default:
			for _, e := range events {
				select {
				case s.ch <- e:
					continue
				default:
				}
				s.closed = true
				close(s.ch)
				lagged = append(lagged, s)
				break
			}
		}
		s.mu.Unlock()
	}
	b.mu.RUnlock()
	if len(lagged) > 0 {
		b.mu.Lock()
		for _, s := range lagged {
			b.remove(sessionID, s)
		}
		b.mu.Unlock()
	}
}

// remove forgets s. b.mu is held.
func (b *Bus) remove(sessionID string, s *subscriber) {
	set := b.subs[sessionID]
	delete(set, s)
	if len(set) == 0 {
		delete(b.subs, sessionID)
	}
}

// Subscribe returns a channel of the events published for the session
// from now on, and a function that ends the subscription. The channel is
// closed when ctx is done, when the function is called, or when the
// subscriber falls behind by more than the buffer (it should then replay
// from the store: see Follow).
func (b *Bus) Subscribe(ctx context.Context, sessionID string) (<-chan *paddock.Event, func()) {
	s := &subscriber{ch: make(chan *paddock.Event, b.buffer)}
	b.add(sessionID, s)

	var once sync.Once
	cancel := func() {
		once.Do(func() {
			b.mu.Lock()
			b.remove(sessionID, s)
			b.mu.Unlock()
			s.mu.Lock()
			if !s.closed {
				s.closed = true
				close(s.ch)
			}
			s.mu.Unlock()
		})
	}
	stop := context.AfterFunc(ctx, cancel)
	return s.ch, func() { stop(); cancel() }
}

// add registers s for the session's events.
func (b *Bus) add(sessionID string, s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	set := b.subs[sessionID]
	if set == nil {
		set = map[*subscriber]struct{}{}
		b.subs[sessionID] = set
	}
	set[s] = struct{}{}
}

// drop forgets s; Publish sends it nothing once drop returns.
func (b *Bus) drop(sessionID string, s *subscriber) {
	b.mu.Lock()
	b.remove(sessionID, s)
	b.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// Subscribers returns the number of live subscribers of the session.
func (b *Bus) Subscribers(sessionID string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs[sessionID])
}
