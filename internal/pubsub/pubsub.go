// Package pubsub fans the events appended to a session's log out to live
// subscribers (SSE and WebSocket streams) in this process.
//
// Publishing never blocks: each subscriber has a bounded buffer, and a
// subscriber whose buffer is full is dropped (its channel closed) rather
// than holding up the publisher and the other subscribers. Follow turns
// that into a gapless stream: it replays a session's log from the store,
// switches to live events, and after a drop resubscribes and replays the
// gap, so its reader sees every event once, in order.
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
	ch     chan *paddock.Event
	closed bool
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
		if !s.closed {
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
	b.mu.Lock()
	set := b.subs[sessionID]
	if set == nil {
		set = map[*subscriber]struct{}{}
		b.subs[sessionID] = set
	}
	set[s] = struct{}{}
	b.mu.Unlock()

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

// Subscribers returns the number of live subscribers of the session.
func (b *Bus) Subscribers(sessionID string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs[sessionID])
}
