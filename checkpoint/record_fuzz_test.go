package checkpoint

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord: any payload decodes or is refused without panicking,
// and a payload that decodes encodes back to the same bytes, so a record
// can never be read as something it does not say.
func FuzzDecodeRecord(f *testing.F) {
	k := bytes.Repeat([]byte{7}, 32)
	for _, r := range []record{
		{k: k, kind: "verify", status: "found", verdict: "deliverable", data: []byte(`{"v":1}`), fetched: 1_700_000_000_000_000_000},
		{k: k, kind: "person", status: "not_found", verdict: "not_found", fetched: 1},
		{k: k, kind: "organization", status: "found", verdict: "found", data: []byte{}, fetched: -1},
	} {
		f.Add(appendRecord(nil, r)[recHeaderLen:])
	}
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 48))
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := decodeRecord(p)
		if err != nil {
			return
		}
		again := appendRecord(nil, r)[recHeaderLen:]
		if !bytes.Equal(again, p) {
			t.Fatalf("payload %x decodes to %+v, which encodes to %x", p, r, again)
		}
	})
}
