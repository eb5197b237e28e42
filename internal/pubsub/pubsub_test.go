package pubsub_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/pubsub"
)

// memLog is an in-memory event log that publishes what it appends, the way
// the agent runtime does after each commit.
type memLog struct {
	mu     sync.Mutex
	events []*paddock.Event
	bus    *pubsub.Bus
}

func (l *memLog) append(n int) {
	for range n {
		l.mu.Lock()
		e := &paddock.Event{SessionID: "s", Seq: int64(len(l.events) + 1), Type: paddock.EventMessageDelta}
		l.events = append(l.events, e)
		l.mu.Unlock()
		if l.bus != nil {
			l.bus.Publish("s", e)
		}
	}
}

func (l *memLog) Events(ctx context.Context, sessionID string, afterSeq int64, limit int) ([]*paddock.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*paddock.Event
	for _, e := range l.events {
		if e.Seq > afterSeq && (limit == 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out, nil
}

func recv(t *testing.T, ch <-chan *paddock.Event) *paddock.Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return nil
}

func TestFanOut(t *testing.T) {
	bus := pubsub.New(16)
	ctx := context.Background()
	a, cancelA := bus.Subscribe(ctx, "s")
	b, cancelB := bus.Subscribe(ctx, "s")
	other, cancelO := bus.Subscribe(ctx, "t")
	defer cancelA()
	defer cancelB()
	defer cancelO()
	bus.Publish("s", &paddock.Event{Seq: 1}, &paddock.Event{Seq: 2})
	for _, ch := range []<-chan *paddock.Event{a, b} {
		if e := recv(t, ch); e.Seq != 1 {
			t.Errorf("got seq %d, want 1", e.Seq)
		}
		if e := recv(t, ch); e.Seq != 2 {
			t.Errorf("got seq %d, want 2", e.Seq)
		}
	}
	select {
	case e := <-other:
		t.Errorf("other session got %+v", e)
	default:
	}
	cancelA()
	if _, ok := <-a; ok {
		t.Error("channel open after cancel")
	}
	if n := bus.Subscribers("s"); n != 1 {
		t.Errorf("%d subscribers after cancel, want 1", n)
	}
	cancelA() // idempotent
}

func TestSubscribeContextCancel(t *testing.T) {
	bus := pubsub.New(4)
	ctx, cancel := context.WithCancel(context.Background())
	ch, stop := bus.Subscribe(ctx, "s")
	defer stop()
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after ctx cancel")
	}
	if n := bus.Subscribers("s"); n != 0 {
		t.Errorf("%d subscribers, want 0", n)
	}
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	bus := pubsub.New(8)
	ctx := context.Background()
	slow, stopSlow := bus.Subscribe(ctx, "s") // never read
	defer stopSlow()
	fast, stopFast := bus.Subscribe(ctx, "s")
	defer stopFast()

	got := make(chan int)
	go func() {
		n := 0
		for range fast {
			n++
			if n == 1000 {
				break
			}
		}
		got <- n
	}()
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			bus.Publish("s", &paddock.Event{Seq: int64(i + 1)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publisher blocked by a slow subscriber")
	}
	// The fast reader may also fall behind under the race detector; what
	// matters is that the slow one was dropped and nobody blocked.
	n := 0
	for range slow {
		n++
	}
	if n != 8 {
		t.Errorf("slow subscriber got %d events before being dropped, want its buffer (8)", n)
	}
	stopFast()
	<-got
}

// followers returns the ways Follow can subscribe to bus: writing to the
// stream from the bus (a *Bus), or through a subscription (any other
// Subscriber).
func followers(bus *pubsub.Bus) map[string]pubsub.Subscriber {
	return map[string]pubsub.Subscriber{"direct": bus, "subscribe": busOnly{bus}}
}

func TestFollowReplaysThenLive(t *testing.T) {
	for name, sub := range followers(pubsub.New(4)) {
		t.Run(name, func(t *testing.T) { testFollowReplaysThenLive(t, sub) })
	}
}

// busOf returns the bus of a Subscriber of followers.
func busOf(sub pubsub.Subscriber) *pubsub.Bus {
	if b, ok := sub.(busOnly); ok {
		return b.b
	}
	return sub.(*pubsub.Bus)
}

func testFollowReplaysThenLive(t *testing.T, sub pubsub.Subscriber) {
	log := &memLog{bus: busOf(sub)}
	log.append(10) // stored before anyone follows
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := pubsub.Follow(ctx, log, sub, "s", 3)

	// Appends race with the replay; then one reader falls far behind
	// (more than the buffer) and must be resynchronized from the store.
	go log.append(50)
	var seqs []int64
	for len(seqs) < 57 {
		e := recv(t, ch)
		seqs = append(seqs, e.Seq)
		if len(seqs) == 5 {
			time.Sleep(20 * time.Millisecond) // let the subscription overflow
		}
	}
	for i, s := range seqs {
		if s != int64(i+4) {
			t.Fatalf("event %d has seq %d, want %d (got %v)", i, s, i+4, seqs)
		}
	}
	log.append(1)
	if e := recv(t, ch); e.Seq != 61 {
		t.Errorf("live event seq %d, want 61", e.Seq)
	}
	cancel()
	for range ch {
	}
}

func TestFollowFillsOutOfOrderGap(t *testing.T) {
	for name, sub := range followers(pubsub.New(16)) {
		t.Run(name, func(t *testing.T) { testFollowFillsOutOfOrderGap(t, sub) })
	}
}

func testFollowFillsOutOfOrderGap(t *testing.T, sub pubsub.Subscriber) {
	bus := busOf(sub)
	log := &memLog{} // publishes by hand below
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := pubsub.Follow(ctx, log, sub, "s", 0)
	for bus.Subscribers("s") == 0 {
		time.Sleep(time.Millisecond)
	}
	log.append(3)
	// Seq 3 is published before 1 and 2 (two committers raced).
	bus.Publish("s", log.events[2])
	bus.Publish("s", log.events[0], log.events[1])
	for want := int64(1); want <= 3; want++ {
		if e := recv(t, ch); e.Seq != want {
			t.Fatalf("seq %d, want %d", e.Seq, want)
		}
	}
	log.append(1)
	bus.Publish("s", log.events[3])
	if e := recv(t, ch); e.Seq != 4 {
		t.Fatalf("seq %d, want 4", e.Seq)
	}
}

// BenchmarkPublish1000 publishes to 1,000 subscribers of one session that
// read as fast as they can.
func BenchmarkPublish1000(b *testing.B) {
	bus := pubsub.New(0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 1000 {
		ch, _ := bus.Subscribe(ctx, "s")
		wg.Go(func() {
			for range ch {
			}
		})
	}
	e := &paddock.Event{Seq: 1, Type: paddock.EventMessageDelta}
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish("s", e)
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	if n := bus.Subscribers("s"); n != 0 {
		b.Fatal(fmt.Sprint(n, " subscribers left"))
	}
}

// TestFollowReaderFallsBehind: a follower whose reader stops while the
// bus writes to it live, long enough to fill its stream, gets the rest
// (kept by the bus, or beyond its buffer read from the store), in order,
// then live events again; it leaves the bus when its context ends.
func TestFollowReaderFallsBehind(t *testing.T) {
	for _, n := range []int64{100, 500} { // within the bus's buffer, beyond
		t.Run(fmt.Sprint(n), func(t *testing.T) { testFollowReaderFallsBehind(t, n) })
	}
}

func testFollowReaderFallsBehind(t *testing.T, n int64) {
	bus := pubsub.New(0)
	log := &memLog{bus: bus}
	ctx, cancel := context.WithCancel(context.Background())
	ch := pubsub.Follow(ctx, log, bus, "s", 0)
	for bus.Subscribers("s") == 0 {
		time.Sleep(time.Millisecond)
	}
	log.append(1)
	if e := recv(t, ch); e.Seq != 1 {
		t.Fatalf("seq %d, want 1", e.Seq)
	}
	log.append(int(n)) // nobody reads
	for want := int64(2); want <= n+1; want++ {
		if e := recv(t, ch); e.Seq != want {
			t.Fatalf("seq %d, want %d", e.Seq, want)
		}
	}
	log.append(1)
	if e := recv(t, ch); e.Seq != n+2 {
		t.Fatalf("seq %d, want %d", e.Seq, n+2)
	}
	cancel()
	for range ch {
	}
	if n := bus.Subscribers("s"); n != 0 {
		t.Errorf("%d subscribers after the follower ended, want 0", n)
	}
}

// busOnly hides a *Bus behind the Subscriber interface, so that Follow
// takes its path for other subscribers.
type busOnly struct{ b *pubsub.Bus }

func (s busOnly) Subscribe(ctx context.Context, sessionID string) (<-chan *paddock.Event, func()) {
	return s.b.Subscribe(ctx, sessionID)
}

// BenchmarkFollow1000 measures the delivery of one event to 1,000
// followers of a session: from Publish until every reader has it.
func BenchmarkFollow1000(b *testing.B) {
	for _, direct := range []bool{true, false} {
		name := "direct"
		if !direct {
			name = "subscribe"
		}
		b.Run(name, func(b *testing.B) {
			bus := pubsub.New(0)
			log := &memLog{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var sub pubsub.Subscriber = bus
			if !direct {
				sub = busOnly{bus}
			}
			var got sync.WaitGroup
			var readers sync.WaitGroup
			for range 1000 {
				ch := pubsub.Follow(ctx, log, sub, "s", 0)
				readers.Go(func() {
					for range ch {
						got.Done()
					}
				})
			}
			for bus.Subscribers("s") < 1000 {
				time.Sleep(time.Millisecond)
			}
			for b.Loop() {
				got.Add(1000)
				log.mu.Lock()
				e := &paddock.Event{SessionID: "s", Seq: int64(len(log.events) + 1), Type: paddock.EventMessageDelta}
				log.events = append(log.events, e)
				log.mu.Unlock()
				bus.Publish("s", e)
				got.Wait()
			}
			cancel()
			readers.Wait()
		})
	}
}
