package upload

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// inline lists the media types served inline: those a browser renders
// without running anything. Everything else is an attachment.
var inline = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/avif": true,
	"image/heic": true, "image/bmp": true, "application/pdf": true, "text/plain": true,
}

func isInline(ctype string) bool {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return false
	}
	return inline[mt] || strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/")
}

// Handler serves the PUT and GET URLs of the slots. It expects paths of the
// form /<id>/<name>: mount it with http.StripPrefix of the path that
// Options.BaseURL ends with.
func (u *Upload) Handler() http.Handler { return http.HandlerFunc(u.serveHTTP) }

func (u *Upload) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Range")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Content-Type, Content-Disposition, ETag, Last-Modified, Accept-Ranges")
	select {
	case u.sem <- struct{}{}:
		defer func() { <-u.sem }()
	default:
		h.Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusServiceUnavailable)
		return
	}
	id, name, ok := splitPath(r.URL.Path)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if !ok {
			http.NotFound(w, r)
			return
		}
		u.serveFile(w, r, id, name)
	case http.MethodPut:
		if !ok {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		u.put(w, r, id, name)
	default:
		h.Set("Allow", "GET, HEAD, PUT, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// splitPath parses /<id>/<name>; the id is checked against its alphabet,
// so it is safe as a path element.
func splitPath(p string) (id, name string, ok bool) {
	p, found := strings.CutPrefix(p, "/")
	if !found {
		return "", "", false
	}
	id, name, found = strings.Cut(p, "/")
	if !found || !validID(id) || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return id, name, true
}

func (u *Upload) serveFile(w http.ResponseWriter, r *http.Request, id, name string) {
	m := u.lookup(id)
	if m == nil || m.Name != name {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(u.fileDir(id), dataName))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	h := w.Header()
	ctype := m.Type
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox")
	disp := "attachment"
	if isInline(ctype) {
		disp = "inline"
	}
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": m.Name}))
	h.Set("ETag", `"`+id+`"`) // a file never changes under its id
	maxAge := int64(365 * 24 * 3600)
	if u.opts.Expiry > 0 {
		left := m.Created.Add(u.opts.Expiry).Sub(u.opts.Now())
		maxAge = min(maxAge, max(0, int64(left/time.Second)))
	}
	h.Set("Cache-Control", "public, max-age="+strconv.FormatInt(maxAge, 10)+", immutable")
	http.ServeContent(w, r, "", m.Created, f)
}

func (u *Upload) put(w http.ResponseWriter, r *http.Request, id, name string) {
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("e"), 10, 64)
	if err != nil {
		u.log.Info("upload: PUT refused", "id", logID(id), "reason", "no expiry")
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	now := u.opts.Now()
	u.mu.Lock()
	s := u.slots[id]
	var status int
	var why string
	switch {
	case s == nil:
		status, why = http.StatusForbidden, "no such slot (unknown, used or expired)"
	case s.name != name || exp != s.expires.Unix() || !u.checkSignature(s, exp, q.Get("s")):
		status, why = http.StatusForbidden, "bad signature"
	case !now.Before(s.expires):
		status, why = http.StatusForbidden, "slot expired"
		if !s.busy {
			u.removeSlot(s)
		}
	case s.busy:
		status, why = http.StatusConflict, "slot being uploaded"
	case r.ContentLength < 0:
		status, why = http.StatusLengthRequired, "no Content-Length"
	case r.ContentLength > s.size:
		status, why = http.StatusRequestEntityTooLarge, "larger than the slot"
	case r.ContentLength < s.size:
		status, why = http.StatusBadRequest, "smaller than the slot"
	}
	ctype := ""
	if status == 0 {
		got, ok := validType(r.Header.Get("Content-Type"))
		switch {
		case s.ctype != "" && got != s.ctype:
			status, why = http.StatusBadRequest, "Content-Type differs from the slot's"
		case !ok:
			status, why = http.StatusBadRequest, "bad Content-Type"
		default:
			ctype = got
			s.busy = true
		}
	}
	u.mu.Unlock()
	if status != 0 {
		u.log.Info("upload: PUT refused", "id", logID(id), "reason", why, "status", status)
		http.Error(w, http.StatusText(status), status)
		return
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	m := &fileMeta{ID: id, Owner: s.owner, Name: s.name, Type: ctype, Size: s.size, Created: now.UTC().Truncate(time.Second)}
	// A slow sender must not hold a request forever.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(u.opts.PutTimeout))
	if err := u.store(m, r.Body); err != nil {
		os.RemoveAll(u.fileDir(id))
		u.mu.Lock()
		s.busy = false
		u.mu.Unlock()
		var short errShort
		if errors.As(err, &short) {
			u.log.Info("upload: PUT incomplete", "id", logID(id), "err", err)
			http.Error(w, "incomplete body", http.StatusBadRequest)
			return
		}
		u.log.Error("upload: storing a file failed", "id", logID(id), "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	u.mu.Lock()
	u.removeSlot(s)
	u.addFile(m)
	u.mu.Unlock()
	u.log.Info("upload: file stored", "user", m.Owner, "id", logID(id), "size", m.Size, "type", m.Type)
	w.Header().Set("Location", "./"+id+"/"+name)
	w.WriteHeader(http.StatusCreated)
}

// errShort is a body that ended before its length.
type errShort struct{ err error }

func (e errShort) Error() string { return "upload: body too short: " + e.err.Error() }

// store writes the body and the metadata under the file's directory,
// which it creates (exclusively: a second PUT for the id fails here).
func (u *Upload) store(m *fileMeta, body io.Reader) error {
	dir := u.fileDir(m.ID)
	if err := os.Mkdir(dir, 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, tmpName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	n, err := io.CopyN(f, body, m.Size)
	if err != nil {
		f.Close()
		if n < m.Size {
			return errShort{err}
		}
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(dir, tmpName), filepath.Join(dir, dataName)); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	// meta.json last: a directory without it is an incomplete upload.
	if err := os.WriteFile(filepath.Join(dir, metaName+".part"), b, 0o640); err != nil {
		return err
	}
	return os.Rename(filepath.Join(dir, metaName+".part"), filepath.Join(dir, metaName))
}
