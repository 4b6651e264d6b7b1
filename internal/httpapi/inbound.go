package httpapi

import (
	"mime"
	"net/http"
	"strconv"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/store"
)

// DefaultMIMEMaxBytes bounds a posted message when Server.MIMEMaxBytes is zero.
const DefaultMIMEMaxBytes = 10 << 20

// inboundRoutes are the mailbox intake's routes: a raw message posted by a relay or an ESP's
// inbound webhook, and the messages read so far.
func (s *Server) inboundRoutes() []route {
	return []route{
		{"POST /api/inbound/mime", false, "take one raw RFC 5322 message (a reply, an out-of-office, a bounce, a complaint) as the mailbox poller would", s.inboundMIME},
		{"GET /api/inbound/messages", false, "the messages the mailbox intake read, newest first, with what each was and what became of it; where each polled mailbox stands", s.inboundMessages},
	}
}

// inboundMIME takes one message: 202 when it is new (its engagements are recorded and
// delivered, or it is recorded ignored with the reason), 200 for a message taken before.
func (s *Server) inboundMIME(w http.ResponseWriter, r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "message/rfc822" && mt != "application/octet-stream" && mt != "text/plain") {
			return &errBadRequest{http.StatusUnsupportedMediaType, "send the message as message/rfc822 (the raw message, headers and body)"}
		}
	}
	max := int64(s.MIMEMaxBytes)
	if max <= 0 {
		max = DefaultMIMEMaxBytes
	}
	raw, err := readBody(w, r, max, "the message (INBOUND_MIME_MAX_BYTES)")
	switch {
	case err != nil:
		return err
	case len(raw) == 0:
		return badRequest("body is empty: send one raw RFC 5322 message")
	}
	resp, err := s.Deals.TakeMessage(r.Context(), raw, deals.MessageOrigin{Source: "api"})
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if resp.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, resp)
	return nil
}

// inboundMessages lists read messages: ?deal=, ?outcome=engaged|recorded|ignored,
// ?before=<id> for the next page, ?limit= (1-500, default 50).
func (s *Server) inboundMessages(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.MessageFilter{Outcome: store.MessageOutcome(q.Get("outcome")), Limit: 50}
	switch f.Outcome {
	case "", store.MessageEngaged, store.MessageRecorded, store.MessageIgnored:
	default:
		return badRequest("outcome %q: want engaged, recorded or ignored", f.Outcome)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return badRequest("limit %q: want a number from 1 to 500", v)
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return badRequest("before %q: want a message id", v)
		}
		f.Before = n
	}
	if v := q.Get("deal"); v != "" {
		d, err := s.Deals.Resolve(r.Context(), v)
		if err != nil {
			return err
		}
		f.DealID = d.ID
	}
	msgs, err := s.Deals.Store.InboundMessages(r.Context(), f)
	if err != nil {
		return err
	}
	cursors, err := s.Deals.Store.MailboxCursors(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Mailboxes map[string]store.MailboxCursor `json:"mailboxes"` // where each polled mailbox stands
		Messages  []store.InboundMessage         `json:"messages"`
		Next      string                         `json:"next,omitempty"`
	}{Mailboxes: cursors, Messages: msgs}
	if out.Messages == nil {
		out.Messages = []store.InboundMessage{}
	}
	if len(msgs) == f.Limit {
		nq := r.URL.Query()
		nq.Set("before", strconv.FormatInt(msgs[len(msgs)-1].ID, 10))
		out.Next = "/api/inbound/messages?" + nq.Encode()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
