package mailsink

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// IMAP UIDs and UIDVALIDITY.
//
// Every stored message gets one UID from a sink-wide counter when it is
// indexed (in store, under Sink.mu, together with its index entry), and that
// UID is its UID in every mailbox that holds it. IMAP only asks a mailbox's
// UIDs to be unique and ascending, not dense, so one counter serves every
// mailbox, and UIDs ascend in arrival (indexing) order even when two SMTP
// sessions race: a UID derived from the position in the time-sorted id
// order could shift when a message with an earlier id is indexed late, which
// a UID must never do.
//
// The assignment is kept in the sink's directory, so UIDs survive restarts:
//
//	.imap-uidvalidity   the UIDVALIDITY, decimal
//	.imap-uids          one "UID ID" line per message, appended as they arrive
//
// New reads both, drops lines of files that are gone, gives UIDs (in id
// order, above all known ones) to .eml files the list does not name (an
// older sink's, or a file put there by hand) and rewrites the list. "Delete
// all" writes a new UIDVALIDITY (greater than the old one) and an empty
// list, so a poller notices and reads the mailbox again. IMAP flags
// (\Seen, …) and EXPUNGE are kept in memory only: a restart forgets them.
const (
	uidValidityFile = ".imap-uidvalidity"
	uidListFile     = ".imap-uids"
)

// imapState is guarded by Sink.mu.
type imapState struct {
	validity uint32
	nextUID  uint32
	// flags by lower-case mailbox address, then message id; expunged lists
	// what EXPUNGE removed from that mailbox's view.
	flags    map[string]map[string][]string
	expunged map[string]map[string]bool
}

// loadUIDs reads the UID files and gives UIDs to the indexed entries (New,
// before the sink is shared).
func (s *Sink) loadUIDs() error {
	s.imap = imapState{nextUID: 1}
	if b, err := os.ReadFile(filepath.Join(s.dir, uidValidityFile)); err == nil {
		v, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		if perr == nil && v > 0 {
			s.imap.validity = uint32(v)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if s.imap.validity == 0 {
		s.imap.validity = newUIDValidity(0)
		if err := s.writeFile(uidValidityFile, []byte(strconv.FormatUint(uint64(s.imap.validity), 10)+"\n")); err != nil {
			return err
		}
	}
	known := map[string]uint32{}
	if b, err := os.ReadFile(filepath.Join(s.dir, uidListFile)); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			uidText, id, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
			uid, err := strconv.ParseUint(uidText, 10, 32)
			if !ok || err != nil || uid == 0 || !idPattern.MatchString(id) {
				continue // a torn last line after a crash
			}
			known[id] = uint32(uid)
			s.imap.nextUID = max(s.imap.nextUID, uint32(uid)+1)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	oldestFirst := slices.Clone(s.index)
	slices.Reverse(oldestFirst)
	used := map[uint32]bool{}
	var list strings.Builder
	for _, e := range oldestFirst {
		if uid, ok := known[e.ID]; ok && !used[uid] {
			e.UID = uid
		} else {
			e.UID = s.imap.nextUID
			s.imap.nextUID++
		}
		used[e.UID] = true
	}
	slices.SortFunc(oldestFirst, func(a, b *entry) int { return cmp.Compare(a.UID, b.UID) })
	for _, e := range oldestFirst {
		fmt.Fprintf(&list, "%d %s\n", e.UID, e.ID)
	}
	return s.writeFile(uidListFile, []byte(list.String()))
}

// newUIDValidity returns a UIDVALIDITY greater than old: the current Unix
// time, unless old is already at or past it.
func newUIDValidity(old uint32) uint32 {
	now := uint32(time.Now().Unix())
	if now <= old {
		return old + 1
	}
	return now
}

// assignUID gives e the next UID and appends it to the list. The caller
// holds s.mu. A failed append is not fatal: the UID holds until a restart,
// which then gives the message a new, higher UID.
func (s *Sink) assignUID(e *entry) {
	e.UID = s.imap.nextUID
	s.imap.nextUID++
	f, err := os.OpenFile(filepath.Join(s.dir, uidListFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	_, _ = fmt.Fprintf(f, "%d %s\n", e.UID, e.ID)
	_ = f.Close()
}

// resetUIDs starts a new UIDVALIDITY after "delete all" (s.mu held): the
// entries still indexed (files that could not be removed) keep their UIDs.
func (s *Sink) resetUIDs() error {
	s.imap.validity = newUIDValidity(s.imap.validity)
	s.imap.flags, s.imap.expunged = nil, nil
	var list strings.Builder
	for i := len(s.index) - 1; i >= 0; i-- {
		fmt.Fprintf(&list, "%d %s\n", s.index[i].UID, s.index[i].ID)
	}
	return errors.Join(
		s.writeFile(uidValidityFile, []byte(strconv.FormatUint(uint64(s.imap.validity), 10)+"\n")),
		s.writeFile(uidListFile, []byte(list.String())))
}

// writeFile replaces a state file in the sink's directory atomically.
func (s *Sink) writeFile(name string, data []byte) error {
	tmp := filepath.Join(s.dir, ".tmp"+name)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
