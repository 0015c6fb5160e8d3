package main

import (
	"bytes"
	"strconv"
)

// The load scenarios put a stamp in every body (or presence status) they
// send, so that whoever receives it can compute its latency without any
// state shared between sender and receiver:
//
//	~pb~<scheduled unix ns>~<written unix ns>~<sender index>~<sequence>~
//
// "scheduled" is when the open-loop schedule wanted it sent, "written" when
// the tool handed it to the connection: their difference is how far the
// tool (or the server's push-back on its connection) let the schedule
// slip. The stamp has no character XML escapes, so every server relays it
// byte for byte.
var stampMarker = []byte("~pb~")

// Stamp is what a stamp carries.
type Stamp struct {
	Sched, Write int64 // unix ns
	Sender, Seq  int
}

// appendStamp appends the stamp, then pad bytes of filler if pad > 0.
func appendStamp(b []byte, st Stamp, pad int) []byte {
	start := len(b)
	b = append(b, stampMarker...)
	b = strconv.AppendInt(b, st.Sched, 10)
	b = append(b, '~')
	b = strconv.AppendInt(b, st.Write, 10)
	b = append(b, '~')
	b = strconv.AppendInt(b, int64(st.Sender), 10)
	b = append(b, '~')
	b = strconv.AppendInt(b, int64(st.Seq), 10)
	b = append(b, '~')
	for n := pad - (len(b) - start); n > 0; n-- {
		b = append(b, 'x')
	}
	return b
}

// findStamp finds and parses the first stamp in raw.
func findStamp(raw []byte) (Stamp, bool) {
	i := bytes.Index(raw, stampMarker)
	if i < 0 {
		return Stamp{}, false
	}
	p := raw[i+len(stampMarker):]
	var v [4]int64
	for k := range v {
		n, j := int64(0), 0
		for j < len(p) && p[j] >= '0' && p[j] <= '9' && j < 19 {
			n = n*10 + int64(p[j]-'0')
			j++
		}
		if j == 0 || j >= len(p) || p[j] != '~' {
			return Stamp{}, false
		}
		v[k] = n
		p = p[j+1:]
	}
	return Stamp{Sched: v[0], Write: v[1], Sender: int(v[2]), Seq: int(v[3])}, true
}
