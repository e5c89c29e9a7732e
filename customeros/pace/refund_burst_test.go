package pace

import (
	"errors"
	"testing"
	"time"

	"github.com/contactbatch/batch/customeros"
)

// TestRefundGivesBackOnlyItsOwnSlot: three callers of a family paced at
// 10 req/s (a grant every 100 ms) ask at once: A is granted now, B and C
// are booked 100 and 200 ms later. A's connection is refused (Outcome.Unsent)
// and the pacer refunds A's grant. A fourth caller D that asks next must
// not be booked into a slot that C already holds: the gate would then let
// two requests out at the same instant, which it never does otherwise.
// The refund pulls the gate's next grant back by an interval whatever the
// bookings after A, so D gets C's very slot. With many callers and an API
// that refuses connections while it restarts, every refund doubles up one
// more booking and the requests go out in bunches when it comes back.
func TestRefundGivesBackOnlyItsOwnSlot(t *testing.T) {
	h := newHarness(t)
	g := h.group(v)
	h.p.mu.Lock()
	g.rate, g.ceiling, g.ramping = 10, 10/keep, false
	g.lat = 0.5 // room for all four in flight
	start := h.clk.now
	try := func(name string) (verdict, time.Time) {
		vd, at, _ := g.try(h.clk.now)
		if vd != granted && vd != booked {
			t.Fatalf("%s: verdict %v", name, vd)
		}
		if vd == granted {
			at = h.clk.now
		}
		return vd, at
	}
	vA, _ := try("A")
	_, atB := try("B")
	_, atC := try("C")
	h.p.mu.Unlock()
	if vA != granted {
		t.Fatalf("A: verdict %v, want granted", vA)
	}
	// A is refused after a round trip: nothing reached the server.
	h.clk.now = start.Add(20 * time.Millisecond)
	h.p.Observe(v, customeros.Outcome{Err: errors.New("dial tcp: connection refused"), Unsent: true})
	// D asks a little later.
	h.clk.now = start.Add(30 * time.Millisecond)
	h.p.mu.Lock()
	_, atD := try("D")
	h.p.mu.Unlock()
	t.Logf("B at %v, C at %v, D at %v", atB.Sub(start), atC.Sub(start), atD.Sub(start))
	for _, held := range []struct {
		name string
		at   time.Time
	}{{"B", atB}, {"C", atC}} {
		if d := atD.Sub(held.at).Abs(); d < 50*time.Millisecond {
			t.Errorf("after A's refund, D is booked %v from %s's slot (%v): two requests %v apart at a pace of one per 100 ms",
				d, held.name, held.at.Sub(start), d)
		}
	}
}
