package upload

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Fixed names inside a file's directory.
const (
	dataName = "data"
	metaName = "meta.json"
	tmpName  = "data.part"
)

// fileMeta is what meta.json holds about a stored file.
type fileMeta struct {
	ID      string    `json:"-"`
	Owner   string    `json:"owner"`
	Name    string    `json:"name"`
	Type    string    `json:"type"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

// fileDir is the directory of a file or slot; id must have passed validID.
func (u *Upload) fileDir(id string) string { return filepath.Join(u.opts.Dir, id) }

// load rebuilds the index from the directory, removing what a crash left
// half-written.
func (u *Upload) load() error {
	if err := os.MkdirAll(u.opts.Dir, 0o750); err != nil {
		return fmt.Errorf("upload: create %s: %w", u.opts.Dir, err)
	}
	entries, err := os.ReadDir(u.opts.Dir)
	if err != nil {
		return fmt.Errorf("upload: read %s: %w", u.opts.Dir, err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, e := range entries {
		if !e.IsDir() || !validID(e.Name()) {
			u.log.Warn("upload: not an upload, left alone", "path", filepath.Join(u.opts.Dir, e.Name()))
			continue
		}
		m, err := readMeta(u.fileDir(e.Name()))
		if err != nil {
			u.log.Warn("upload: removing an incomplete upload", "id", logID(e.Name()), "err", err)
			os.RemoveAll(u.fileDir(e.Name()))
			continue
		}
		m.ID = e.Name()
		u.addFile(m)
	}
	u.log.Info("upload: files loaded", "files", len(u.files), "dir", u.opts.Dir)
	return nil
}

func readMeta(dir string) (*fileMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaName))
	if err != nil {
		return nil, err
	}
	var m fileMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	fi, err := os.Stat(filepath.Join(dir, dataName))
	if err != nil {
		return nil, err
	}
	if fi.Size() != m.Size || m.Owner == "" || validName(m.Name) != "" {
		return nil, errors.New("metadata does not match the data")
	}
	return &m, nil
}

// addFile indexes a stored file; u.mu is held.
func (u *Upload) addFile(m *fileMeta) {
	u.files[m.ID] = m
	us := u.user(m.Owner)
	us.files[m.ID] = m
	us.bytes += m.Size
}

// removeFile unindexes a stored file; u.mu is held.
func (u *Upload) removeFile(m *fileMeta) {
	delete(u.files, m.ID)
	if us := u.users[m.Owner]; us != nil {
		delete(us.files, m.ID)
		us.bytes -= m.Size
		u.dropIfIdle(m.Owner, us)
	}
}

// removeSlot forgets a pending slot; u.mu is held.
func (u *Upload) removeSlot(s *slot) {
	delete(u.slots, s.id)
	if us := u.users[s.owner]; us != nil {
		if _, ok := us.slots[s.id]; ok {
			delete(us.slots, s.id)
			us.bytes -= s.size
		}
		u.dropIfIdle(s.owner, us)
	}
}

func (u *Upload) dropIfIdle(owner string, us *usage) {
	if len(us.files) == 0 && len(us.slots) == 0 {
		delete(u.users, owner)
	}
}

// Sweep deletes the files older than Options.Expiry and forgets expired
// slots. It runs every Options.SweepInterval; tests call it directly.
func (u *Upload) Sweep() {
	now := u.opts.Now()
	var gone []*fileMeta
	u.mu.Lock()
	for _, s := range u.slots {
		if !s.busy && !now.Before(s.expires) {
			u.removeSlot(s)
		}
	}
	if u.opts.Expiry > 0 {
		for _, m := range u.files {
			if !now.Before(m.Created.Add(u.opts.Expiry)) {
				u.removeFile(m)
				gone = append(gone, m)
			}
		}
	}
	u.mu.Unlock()
	// Unindexed first, so that no GET opens a file being removed.
	for _, m := range gone {
		if err := os.RemoveAll(u.fileDir(m.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.log.Error("upload: removing an expired file failed", "id", logID(m.ID), "err", err)
		}
	}
	if len(gone) > 0 {
		u.log.Info("upload: expired files removed", "files", len(gone))
	}
}

// lookup returns the stored file with that id.
func (u *Upload) lookup(id string) *fileMeta {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.files[id]
}

// Usage returns the bytes a user (bare JID) has stored and pending.
func (u *Upload) Usage(owner string) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if us := u.users[owner]; us != nil {
		return us.bytes
	}
	return 0
}
