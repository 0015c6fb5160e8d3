package upload

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// BenchmarkPutGet uploads and downloads 4 MiB through a real HTTP server:
// a slot request, the PUT (written and synced to disk) and the GET.
func BenchmarkPutGet(b *testing.B) {
	e := newEnv(b, Options{MaxFileSize: 8 << 20})
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		put, get := e.slot(e.alice, "f.bin", len(data), "")
		req, _ := http.NewRequest("PUT", put, bytes.NewReader(data))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			b.Fatal(err, resp)
		}
		resp.Body.Close()
		resp, err = http.Get(get)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != int64(len(data)) {
			b.Fatal(n)
		}
	}
}
