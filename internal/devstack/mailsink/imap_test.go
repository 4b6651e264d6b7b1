package mailsink_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/devstack/mailsink"
)

const imapPassword = "s3cret-imap"

// startIMAP serves IMAP for sink on 127.0.0.1:0.
func startIMAP(t *testing.T, sink *mailsink.Sink) string {
	t.Helper()
	addr, err := sink.StartIMAP("127.0.0.1:0", imapPassword)
	require.NoError(t, err)
	require.Equal(t, addr, sink.IMAPAddr())
	return addr.String()
}

// imapLogin connects to addr and logs in as user; it logs out when t ends.
func imapLogin(t *testing.T, addr, user string) *client.Client {
	t.Helper()
	c, err := client.Dial(addr)
	require.NoError(t, err)
	c.Timeout = 20 * time.Second
	t.Cleanup(func() { _ = c.Logout(); _ = c.Close() })
	require.NoError(t, c.Login(user, imapPassword))
	return c
}

// fetchAll UID FETCHes items of every message of the selected mailbox.
func fetchAll(t *testing.T, c *client.Client, items ...imap.FetchItem) []*imap.Message {
	t.Helper()
	set := new(imap.SeqSet)
	set.AddRange(1, 0)
	ch := make(chan *imap.Message, 100)
	require.NoError(t, c.UidFetch(set, items, ch))
	var out []*imap.Message
	for m := range ch {
		out = append(out, m)
	}
	return out
}

func uids(ms []*imap.Message) []uint32 {
	var out []uint32
	for _, m := range ms {
		out = append(out, m.Uid)
	}
	return out
}

func body(t *testing.T, m *imap.Message, item imap.FetchItem) []byte {
	t.Helper()
	sec, err := imap.ParseBodySectionName(item)
	require.NoError(t, err)
	l := m.GetBody(sec)
	require.NotNil(t, l, "no %s in the answer", item)
	b, err := io.ReadAll(l)
	require.NoError(t, err)
	return b
}

// storedCRLF returns the .eml of the message with that Message-ID as IMAP serves it.
func storedCRLF(t *testing.T, dir string, web *httptest.Server, msgID string) []byte {
	t.Helper()
	for _, m := range apiList(t, web) {
		if m.MessageID == msgID {
			raw, err := os.ReadFile(filepath.Join(dir, m.ID+".eml"))
			require.NoError(t, err)
			return bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		}
	}
	t.Fatalf("message %s not stored", msgID)
	return nil
}

func TestIMAPInbox(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink, smtpAddr, web := startSink(t, dir)
	addr := startIMAP(t, sink)

	// Three messages: one to ana, one to bo, one to both (ana's address in another case).
	require.NoError(t, sendRaw(smtpAddr, "sales@followup.local", []string{"ana@vendor.example"}, rawMail("m1@followup.local", "first")))
	require.NoError(t, sendRaw(smtpAddr, "sales@followup.local", []string{"bo@other.example"}, rawMail("m2@followup.local", "second")))
	require.NoError(t, sendRaw(smtpAddr, "sales@followup.local", []string{"bo@other.example", "ANA@Vendor.Example"}, rawMail("m3@followup.local", "third")))

	c := imapLogin(t, addr, "Ana@VENDOR.example")
	boxes := make(chan *imap.MailboxInfo, 10)
	require.NoError(t, c.List("", "*", boxes))
	var names []string
	for b := range boxes {
		names = append(names, b.Name)
	}
	require.Equal(t, []string{"INBOX"}, names, "one mailbox, INBOX")
	require.Error(t, c.Create("Sent"))
	require.Error(t, c.Rename("INBOX", "Old"))

	st, err := c.Select("INBOX", true) // EXAMINE
	require.NoError(t, err)
	require.Equal(t, uint32(2), st.Messages)
	require.NotZero(t, st.UidValidity)
	validity := st.UidValidity

	all, err := c.UidSearch(imap.NewSearchCriteria())
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Less(t, all[0], all[1], "UIDs ascend in arrival order")
	require.Equal(t, all[1]+1, st.UidNext)

	items := []imap.FetchItem{imap.FetchUid, imap.FetchFlags, imap.FetchInternalDate, imap.FetchRFC822Size,
		imap.FetchEnvelope, imap.FetchBodyStructure, "BODY.PEEK[]", "BODY.PEEK[]<0.100>", "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]"}
	ms := fetchAll(t, c, items...)
	require.Len(t, ms, 2)
	require.Equal(t, all, uids(ms))
	for i, want := range []string{"m1@followup.local", "m3@followup.local"} {
		m := ms[i]
		require.Equal(t, "<"+want+">", m.Envelope.MessageId)
		require.Equal(t, []string{"first", "third"}[i], m.Envelope.Subject)
		require.Equal(t, "sales@followup.local", m.Envelope.From[0].Address())
		require.Equal(t, "bob@prospect.example", m.Envelope.To[0].Address())
		require.WithinDuration(t, time.Now(), m.InternalDate, time.Minute)
		raw := storedCRLF(t, dir, web, want)
		full := body(t, m, "BODY.PEEK[]")
		require.Equal(t, string(raw), string(full), "BODY[] is the stored .eml")
		require.Equal(t, uint32(len(raw)), m.Size)
		require.Equal(t, string(raw[:100]), string(body(t, m, "BODY.PEEK[]<0.100>")))
		header := string(body(t, m, "BODY.PEEK[HEADER]"))
		require.True(t, strings.HasSuffix(header, "\r\n\r\n"))
		require.Contains(t, header, "Message-ID: <"+want+">")
		require.Contains(t, header, "X-Mailsink-Envelope-To: ")
		require.Equal(t, "Hi Bob,\r\n\r\nJust following up.\r\n", string(body(t, m, "BODY.PEEK[TEXT]")))
		require.Equal(t, "text", m.BodyStructure.MIMEType)
		require.NotContains(t, m.Flags, imap.SeenFlag, "PEEK leaves \\Seen alone")
	}

	// EXAMINE is read-only: even BODY[] leaves \Seen alone, and STORE is refused.
	ms = fetchAll(t, c, imap.FetchFlags, "BODY[]")
	require.NotContains(t, ms[0].Flags, imap.SeenFlag)
	set := new(imap.SeqSet)
	set.AddNum(all[0])
	require.Error(t, c.UidStore(set, imap.FormatFlagsOp(imap.AddFlags, true), []any{imap.FlaggedFlag}, nil))

	// SELECT: PEEK still leaves \Seen alone, BODY[] sets it, STORE works.
	_, err = c.Select("INBOX", false)
	require.NoError(t, err)
	ms = fetchAll(t, c, imap.FetchFlags, "BODY.PEEK[]")
	require.NotContains(t, ms[0].Flags, imap.SeenFlag)
	ch := make(chan *imap.Message, 1)
	require.NoError(t, c.UidFetch(set, []imap.FetchItem{"BODY[]"}, ch))
	ms = fetchAll(t, c, imap.FetchFlags)
	require.Contains(t, ms[0].Flags, imap.SeenFlag)
	require.NotContains(t, ms[1].Flags, imap.SeenFlag)
	require.NoError(t, c.UidStore(set, imap.FormatFlagsOp(imap.AddFlags, true), []any{imap.FlaggedFlag}, nil))
	seen := imap.NewSearchCriteria()
	seen.WithFlags = []string{imap.SeenFlag, imap.FlaggedFlag}
	found, err := c.UidSearch(seen)
	require.NoError(t, err)
	require.Equal(t, []uint32{all[0]}, found)
	// UID ranges: from the second UID on.
	from := imap.NewSearchCriteria()
	from.Uid = new(imap.SeqSet)
	from.Uid.AddRange(all[1], 0)
	found, err = c.UidSearch(from)
	require.NoError(t, err)
	require.Equal(t, []uint32{all[1]}, found)

	// A message arriving during the session shows at the next SELECT, with a higher UID.
	require.NoError(t, sendRaw(smtpAddr, "sales@followup.local", []string{"ana@vendor.example"}, rawMail("m4@followup.local", "fourth")))
	st, err = c.Select("INBOX", true)
	require.NoError(t, err)
	require.Equal(t, uint32(3), st.Messages)
	require.Equal(t, validity, st.UidValidity)
	ms = fetchAll(t, c, imap.FetchUid, imap.FetchEnvelope)
	require.Equal(t, all, uids(ms)[:2], "earlier UIDs stay")
	require.Greater(t, ms[2].Uid, all[1])
	require.Equal(t, "<m4@followup.local>", ms[2].Envelope.MessageId)
	ana := uids(ms)

	// bo sees only bo's: m2 and m3.
	cb := imapLogin(t, addr, "bo@other.example")
	st, err = cb.Select("INBOX", true)
	require.NoError(t, err)
	require.Equal(t, uint32(2), st.Messages)
	ms = fetchAll(t, cb, imap.FetchEnvelope)
	require.Equal(t, "<m2@followup.local>", ms[0].Envelope.MessageId)
	require.Equal(t, "<m3@followup.local>", ms[1].Envelope.MessageId)

	// An address without mail has an empty INBOX.
	cn := imapLogin(t, addr, "nobody@nowhere.example")
	st, err = cn.Select("INBOX", true)
	require.NoError(t, err)
	require.Zero(t, st.Messages)

	// Wrong password, or a user name that is not an address: no login.
	cw, err := client.Dial(addr)
	require.NoError(t, err)
	defer cw.Close()
	require.Error(t, cw.Login("ana@vendor.example", "wrong"))
	require.Error(t, cw.Login("ana", imapPassword))

	// Restart on the same directory: same UIDVALIDITY, same UIDs.
	require.NoError(t, sink.Close())
	sink2, _, web2 := startSink(t, dir)
	addr2 := startIMAP(t, sink2)
	c2 := imapLogin(t, addr2, "ana@vendor.example")
	st, err = c2.Select("INBOX", true)
	require.NoError(t, err)
	require.Equal(t, validity, st.UidValidity)
	require.Equal(t, ana, uids(fetchAll(t, c2, imap.FetchUid)))

	// "Delete all": a new UIDVALIDITY and an empty INBOX.
	req, err := http.NewRequest(http.MethodPost, web2.URL+"/messages/delete-all", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", web2.URL)
	require.Equal(t, http.StatusSeeOther, do(t, req).Status)
	st, err = c2.Select("INBOX", true)
	require.NoError(t, err)
	require.NotEqual(t, validity, st.UidValidity)
	require.Zero(t, st.Messages)
}

func TestIMAPExpungeHidesInMemory(t *testing.T) {
	t.Parallel()
	sink, smtpAddr, _ := startSink(t, t.TempDir())
	addr := startIMAP(t, sink)
	for _, id := range []string{"x1@followup.local", "x2@followup.local"} {
		require.NoError(t, sendRaw(smtpAddr, "sales@followup.local", []string{"ana@vendor.example"}, rawMail(id, id)))
	}
	c := imapLogin(t, addr, "ana@vendor.example")
	_, err := c.Select("INBOX", false)
	require.NoError(t, err)
	set := new(imap.SeqSet)
	set.AddNum(1)
	require.NoError(t, c.Store(set, imap.FormatFlagsOp(imap.AddFlags, true), []any{imap.DeletedFlag}, nil))
	require.NoError(t, c.Expunge(nil))
	ms := fetchAll(t, c, imap.FetchEnvelope)
	require.Len(t, ms, 1)
	require.Equal(t, "<x2@followup.local>", ms[0].Envelope.MessageId)
	st, err := c.Select("INBOX", true)
	require.NoError(t, err)
	require.Equal(t, uint32(1), st.Messages)
}

func TestIMAPConnectionLimit(t *testing.T) {
	t.Parallel()
	sink, _, _ := startSink(t, t.TempDir())
	addr := startIMAP(t, sink)
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	read := func(c net.Conn) string {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		buf := make([]byte, 200)
		n, _ := c.Read(buf)
		return string(buf[:n])
	}
	for range 20 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
		require.Contains(t, read(c), "* OK")
	}
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	conns = append(conns, c)
	require.Contains(t, read(c), "* BYE mailsink: too many IMAP connections")
	// A slot frees when a connection closes.
	require.NoError(t, conns[0].Close())
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		return strings.Contains(read(c), "* OK")
	}, 10*time.Second, 50*time.Millisecond)
}

func TestStartIMAPNeedsPassword(t *testing.T) {
	t.Parallel()
	sink, _, _ := startSink(t, t.TempDir())
	_, err := sink.StartIMAP("127.0.0.1:0", "")
	require.Error(t, err)
}

func TestIMAPPartsAndSearch(t *testing.T) {
	t.Parallel()
	sink, smtpAddr, _ := startSink(t, t.TempDir())
	addr := startIMAP(t, sink)
	m := welcome("parts@seller.example") // multipart/alternative, text and HTML, quoted-printable
	send(t, smtpAddr, m)
	require.NoError(t, sendRaw(smtpAddr, "sales@followup.local", []string{"bo@buyer.example"}, rawMail("plain@followup.local", "Renewal terms")))

	c := imapLogin(t, addr, "bo@buyer.example")
	_, err := c.Select("INBOX", true)
	require.NoError(t, err)
	ms := fetchAll(t, c, imap.FetchUid, imap.FetchBodyStructure, "BODY.PEEK[1]", "BODY.PEEK[2]", "BODY.PEEK[1.MIME]",
		"BODY.PEEK[HEADER.FIELDS (Subject From)]", "BODY.PEEK[HEADER.FIELDS.NOT (Subject)]")
	require.Len(t, ms, 2)
	bs := ms[0].BodyStructure
	require.Equal(t, "multipart", bs.MIMEType)
	require.Equal(t, "alternative", bs.MIMESubType)
	require.Len(t, bs.Parts, 2)
	require.Equal(t, "plain", bs.Parts[0].MIMESubType)
	require.Equal(t, "html", bs.Parts[1].MIMESubType)
	require.True(t, strings.EqualFold("quoted-printable", bs.Parts[0].Encoding), bs.Parts[0].Encoding)
	require.Contains(t, string(body(t, ms[0], "BODY.PEEK[1]")), "Gr=C3=BC=C3=9Fe")
	require.Contains(t, string(body(t, ms[0], "BODY.PEEK[2]")), "<b>Ana</b>")
	require.Contains(t, string(body(t, ms[0], "BODY.PEEK[1.MIME]")), "Content-Type: text/plain")
	fields := string(body(t, ms[0], "BODY.PEEK[HEADER.FIELDS (Subject From)]"))
	require.Contains(t, fields, "From: \"Ana Rep\" <ana@seller.example>\r\n")
	require.Contains(t, fields, "Subject: ")
	require.NotContains(t, fields, "To: ")
	require.True(t, strings.HasSuffix(fields, "\r\n\r\n"))
	require.NotContains(t, string(body(t, ms[0], "BODY.PEEK[HEADER.FIELDS.NOT (Subject)]")), "Subject:")
	// A single-part message's part 1 is its body.
	require.Equal(t, "Hi Bob,\r\n\r\nJust following up.\r\n", string(body(t, ms[1], "BODY.PEEK[1]")))
	require.Equal(t, "text", ms[1].BodyStructure.MIMEType)
	require.Equal(t, uint32(3), ms[1].BodyStructure.Lines)

	search := func(set func(*imap.SearchCriteria)) []uint32 {
		t.Helper()
		cr := imap.NewSearchCriteria()
		set(cr)
		ids, err := c.UidSearch(cr)
		require.NoError(t, err)
		return ids
	}
	first, second := []uint32{ms[0].Uid}, []uint32{ms[1].Uid}
	require.Equal(t, second, search(func(c *imap.SearchCriteria) { c.Header.Add("Subject", "renewal") }))
	require.Equal(t, first, search(func(c *imap.SearchCriteria) { c.Body = []string{"great deal"} }))
	require.Equal(t, first, search(func(c *imap.SearchCriteria) { c.Text = []string{"ana@seller.example"} }))
	require.Equal(t, first, search(func(c *imap.SearchCriteria) {
		c.Not = []*imap.SearchCriteria{{Header: map[string][]string{"Subject": {"renewal"}}}}
	}))
	require.Equal(t, append(first, second...), search(func(c *imap.SearchCriteria) { c.Since = time.Now().Add(-24 * time.Hour) }))
	require.Empty(t, search(func(c *imap.SearchCriteria) { c.Before = time.Now().Add(-24 * time.Hour) }))
	require.Equal(t, second, search(func(c *imap.SearchCriteria) { c.SentBefore = time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC) }))
	require.Equal(t, second, search(func(c *imap.SearchCriteria) {
		c.Uid = new(imap.SeqSet)
		c.Uid.AddNum(0) // "*": the highest UID
	}))
}

func TestIMAPUIDsForOlderMail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink, smtpAddr, _ := startSink(t, dir)
	for _, id := range []string{"o1@followup.local", "o2@followup.local", "o3@followup.local"} {
		require.NoError(t, sendRaw(smtpAddr, "sales@followup.local", []string{"ana@vendor.example"}, rawMail(id, id)))
	}
	require.NoError(t, sink.Close())
	// Mail an older sink left, without the UID list (and a torn line in a fresh one).
	require.NoError(t, os.Remove(filepath.Join(dir, ".imap-uids")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".imap-uids"), []byte("7 2026"), 0o644))

	sink2, _, _ := startSink(t, dir)
	c := imapLogin(t, startIMAP(t, sink2), "ana@vendor.example")
	_, err := c.Select("INBOX", true)
	require.NoError(t, err)
	ms := fetchAll(t, c, imap.FetchUid, imap.FetchEnvelope)
	require.Len(t, ms, 3)
	for i, m := range ms {
		require.Equal(t, uint32(i+1), m.Uid, "UIDs given in arrival order")
		require.Equal(t, "<o"+string(rune('1'+i))+"@followup.local>", m.Envelope.MessageId)
	}
}

func TestIMAPNoopSeesNewMail(t *testing.T) {
	t.Parallel()
	sink, smtpAddr, _ := startSink(t, t.TempDir())
	addr := startIMAP(t, sink)
	require.NoError(t, sendRaw(smtpAddr, "sales@followup.local", []string{"ana@vendor.example"}, rawMail("n1@followup.local", "one")))
	c := imapLogin(t, addr, "ana@vendor.example")
	st, err := c.Select("INBOX", true)
	require.NoError(t, err)
	require.Equal(t, uint32(1), st.Messages)

	require.NoError(t, c.Noop())
	require.Equal(t, uint32(1), c.Mailbox().Messages, "nothing new yet")
	require.NoError(t, sendRaw(smtpAddr, "sales@followup.local", []string{"bo@other.example"}, rawMail("n2@followup.local", "not ana's")))
	require.NoError(t, sendRaw(smtpAddr, "sales@followup.local", []string{"ana@vendor.example"}, rawMail("n3@followup.local", "two")))
	require.NoError(t, c.Noop())
	require.Equal(t, uint32(2), c.Mailbox().Messages, "NOOP reports the new message with EXISTS")
	ms := fetchAll(t, c, imap.FetchEnvelope)
	require.Len(t, ms, 2)
	require.Equal(t, "<n3@followup.local>", ms[1].Envelope.MessageId)
}
