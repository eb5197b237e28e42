package llm

import (
	"fmt"
	"reflect"
	"testing"
)

func TestEncodeCache(t *testing.T) {
	t.Parallel()
	c := NewEncodeCache(1 << 20)
	calls := 0
	enc := func(m Message) ([]byte, error) {
		calls++
		return []byte(fmt.Sprintf("%s:%s", m.Role, m.Text())), nil
	}
	parts := []Part{{Type: PartText, Text: "hello"}}
	m := Message{Role: RoleUser, Parts: parts}
	for range 3 {
		b, err := c.Encode(m, enc)
		if err != nil || string(b) != "user:hello" {
			t.Fatalf("Encode = %q, %v", b, err)
		}
	}
	if calls != 1 {
		t.Errorf("encode called %d times for one message, want 1", calls)
	}
	// The cache copied the parts: changing the caller's slice changes
	// neither the cached key nor the answer for the new content.
	parts[0].Text = "bye"
	if b, _ := c.Encode(m, enc); string(b) != "user:bye" || calls != 2 {
		t.Errorf("after the caller changed its parts: %q (%d calls), want user:bye (2)", b, calls)
	}
	if b, _ := c.Encode(Message{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hello"}}}, enc); string(b) != "user:hello" || calls != 2 {
		t.Errorf("an equal message in a new slice: %q (%d calls), want the cached user:hello", b, calls)
	}
	img := []byte{1, 2}
	withImage := Message{Role: RoleUser, Parts: []Part{{Type: PartImage, ImageData: img}}}
	_, _ = c.Encode(withImage, enc)
	img[0] = 9 // the caller reuses its buffer: a different message now
	if _, _ = c.Encode(withImage, enc); calls != 4 {
		t.Errorf("an image changed in place was taken from the cache (%d encodings, want 4)", calls)
	}
	// Each field of a part tells messages apart.
	variants := []Part{
		{Type: PartText, Text: "hello", ImageMIME: "image/png"},
		{Type: PartText, Text: "hello", ImageData: []byte{1}},
		{Type: PartText, Text: "hello", ToolCallID: "c"},
		{Type: PartText, Text: "hello", ToolName: "n"},
		{Type: PartText, Text: "hello", Arguments: "{}"},
		{Type: PartText, Text: "hello", Result: "r"},
		{Type: PartText, Text: "hello", IsError: true},
		{Type: PartText, Text: "hello", Signature: "s"},
		{Type: PartThinking, Text: "hello"},
	}
	for i, p := range variants {
		if messageEqual(m, Message{Role: RoleUser, Parts: []Part{p}}) {
			t.Errorf("variant %d equals the plain text part", i)
		}
	}
	if messageEqual(m, Message{Role: RoleAssistant, Parts: m.Parts}) {
		t.Error("messages of different roles are equal")
	}
}

// TestEncodeCacheCollision puts two messages under one hash: each gets its
// own encoding.
func TestEncodeCacheCollision(t *testing.T) {
	t.Parallel()
	c := NewEncodeCache(1 << 20)
	a := Message{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "a"}}}
	b := Message{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "b"}}}
	c.addLocked(7, a, []byte("A"))
	c.addLocked(7, b, []byte("B"))
	if got, ok := find(c.cur[7], b); !ok || string(got) != "B" {
		t.Errorf("find(b) = %q, %v; want B", got, ok)
	}
	if got, ok := find(c.cur[7], a); !ok || string(got) != "A" {
		t.Errorf("find(a) = %q, %v; want A", got, ok)
	}
}

// TestEncodeCacheGenerations fills the cache past its limit: the oldest
// entries go, the ones used since stay.
func TestEncodeCacheGenerations(t *testing.T) {
	t.Parallel()
	c := NewEncodeCache(1000)
	calls := map[string]int{}
	enc := func(m Message) ([]byte, error) {
		calls[m.Text()]++
		return make([]byte, 200), nil
	}
	msg := func(s string) Message { return Message{Role: RoleUser, Parts: []Part{{Type: PartText, Text: s}}} }
	for _, s := range []string{"a", "b", "c", "d"} { // 4 x ~265 bytes: "d" starts a new generation
		_, _ = c.Encode(msg(s), enc)
	}
	_, _ = c.Encode(msg("a"), enc) // found in the previous generation, moved up
	for _, s := range []string{"e", "f", "g"} {
		_, _ = c.Encode(msg(s), enc) // "f" starts another: "b" and "c" are gone
	}
	for _, s := range []string{"a", "b"} {
		_, _ = c.Encode(msg(s), enc)
	}
	if calls["a"] != 1 || calls["b"] != 2 {
		t.Errorf("encodings: a %d (want 1: kept while in use), b %d (want 2: aged out)", calls["a"], calls["b"])
	}
	if _, err := c.Encode(Message{Role: RoleUser, Parts: []Part{{Type: PartText, Text: string(make([]byte, 2000))}}}, enc); err != nil {
		t.Fatal(err)
	}
	if c.size > c.limit {
		t.Errorf("cache holds %d bytes, limit %d", c.size, c.limit)
	}
}

// TestEncodeCacheCoversPart fails when Part gains a field that hash and
// messageEqual do not compare yet: add it to both, then to the count here.
func TestEncodeCacheCoversPart(t *testing.T) {
	if n := reflect.TypeFor[Part]().NumField(); n != 10 {
		t.Errorf("Part has %d fields; EncodeCache.hash and messageEqual compare 10", n)
	}
}
