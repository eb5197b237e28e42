package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
)

func TestFrameCache(t *testing.T) {
	var c frameCache
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := &paddock.Event{Seq: 7, SessionID: "ses_a", Type: paddock.EventMessageDelta, Data: json.RawMessage(`{"delta":"x"}`), CreatedAt: at}
	b := &paddock.Event{Seq: 7, SessionID: "ses_b", Type: paddock.EventMessageDelta, Data: json.RawMessage(`{"delta":"y"}`), CreatedAt: at}
	fa, err := c.frame(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `id: 7` + "\n" + `event: message.delta` + "\n" +
		`data: {"seq":7,"session_id":"ses_a","type":"message.delta","data":{"delta":"x"},"created_at":"2026-01-02T03:04:05Z"}` + "\n\n"
	if string(fa) != want {
		t.Errorf("frame\n%q\nwant\n%q", fa, want)
	}
	if again, _ := c.frame(a); &again[0] != &fa[0] {
		t.Error("the frame of the same event was encoded again")
	}
	// Another event in the same slot (another session, same Seq) gets its
	// own frame, never the cached one.
	fb, err := c.frame(b)
	if err != nil || !strings.Contains(string(fb), `"ses_b"`) || !strings.Contains(string(fb), `"y"`) {
		t.Errorf("frame of b %q, %v", fb, err)
	}
	if fa2, _ := c.frame(a); string(fa2) != want {
		t.Errorf("frame of a after b %q", fa2)
	}
}

func TestAppendFrameMultiline(t *testing.T) {
	got := string(appendFrame(nil, "", "x", []byte("a\nb\n")))
	if want := "event: x\ndata: a\ndata: b\ndata: \n\n"; got != want {
		t.Errorf("frame %q, want %q", got, want)
	}
}
