package deals

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/inbox"
	"github.com/followup-engine/followup/internal/store"
)

// The mailbox intake: one message read from a mailbox (or posted as raw MIME) becomes, after
// classification (internal/inbox) and matching, engagement events of the deals it concerns,
// sent through Engage like any other engagement. The message itself is recorded once in
// inbound_messages under its key, with its kind, its match and its outcome.

// MessageSource is the source name of the engagement events the mailbox intake records.
const MessageSource = "mailbox"

// maxDealsPerMessage bounds the deals one message is delivered to (a sender who is the
// contact of many open deals, an address mailed by many).
const maxDealsPerMessage = 20

// MessageOrigin says where a message was read.
type MessageOrigin struct {
	Source string // "imap:<mailbox>", or "api"
	UID    uint32 // the IMAP UID; 0 for the API
}

// MessageResponse says what the intake made of a message.
type MessageResponse struct {
	Message   int64                `json:"message"` // the inbound_messages id
	Key       string               `json:"key"`
	Kind      store.MessageKind    `json:"kind"`
	Rule      string               `json:"rule"`
	Match     store.MessageMatch   `json:"match"`
	Answers   *store.LedgerKey     `json:"answers,omitempty"`
	Outcome   store.MessageOutcome `json:"outcome"`
	Reason    string               `json:"reason,omitempty"`
	ReturnOn  string               `json:"return_on,omitempty"`
	Duplicate bool                 `json:"duplicate"`
	Events    []EventResponse      `json:"events,omitempty"` // one per deal it was delivered to, this time
}

// TakeMessage reads one raw RFC 5322 message, matches it to the deals it concerns and
// delivers it to them as engagements (a reply, an out-of-office, a bounce, a complaint), or
// records why it changes nothing. A message already taken (same key) is answered from its
// record. An error means nothing was recorded for the message, so taking it again is safe;
// an engagement whose delivery waits for Temporal counts as taken (the sweeper delivers it).
func (s *Service) TakeMessage(ctx context.Context, raw []byte, from MessageOrigin) (MessageResponse, error) {
	if store.ActorOf(ctx) == "" {
		ctx = store.WithActor(ctx, from.Source) // the poller's mailbox, when no one else sent it
	}
	m := inbox.Read(raw, s.now())
	storable(&m)
	prev, err := s.Store.InboundMessageByKey(ctx, m.Key)
	if err == nil {
		return messageResponse(prev, true, nil), nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return MessageResponse{}, err
	}
	rec := store.InboundMessage{
		Key: m.Key, Source: from.Source, UID: from.UID, From: m.From, Subject: m.Subject, SentAt: m.Date,
		Kind: store.MessageKind(m.Kind), Rule: m.Rule, Match: store.MatchNone,
	}
	plan, err := s.planMessage(ctx, m, &rec)
	if err != nil {
		return MessageResponse{}, err
	}
	var events []EventResponse
	var refusals []string
	for _, req := range plan {
		resp, err := s.Engage(ctx, req)
		if refusal(err) && req.ReturnOn != "" {
			// A return date that is not after the message in the contact's zone: an
			// out-of-office without one still counts.
			req.ReturnOn, rec.ReturnOn = "", ""
			resp, err = s.Engage(ctx, req)
		}
		switch {
		case err == nil, errors.Is(err, ErrDeliveryPending), errors.Is(err, ErrDealClosed):
			// Delivered, delivery pending (the sweeper finishes it), or recorded refused.
		case refusal(err):
			// The message is still taken: a refusal is no reason to read it again.
			refusals = append(refusals, fmt.Sprintf("deal %s: %v", req.Deal, err))
			continue
		default:
			return MessageResponse{}, fmt.Errorf("deliver %s to deal %s: %w", req.Kind, req.Deal, err)
		}
		resp = resp.pending(err)
		events = append(events, resp)
		rec.DealIDs, rec.EventIDs = append(rec.DealIDs, req.Deal), append(rec.EventIDs, resp.EventID)
	}
	if len(plan) > 0 {
		rec.Outcome = store.MessageEngaged
		switch {
		case len(events) == 0:
			rec.Outcome, rec.Reason = store.MessageIgnored, "refused: "+strings.Join(refusals, "; ")
		case countRefused(events) == len(events):
			rec.Outcome, rec.Reason = store.MessageIgnored, "every deal it concerns is closed"
		case len(refusals) > 0:
			rec.Reason = "refused for some deals: " + strings.Join(refusals, "; ")
		}
	}
	saved, inserted, err := s.Store.RecordInboundMessage(ctx, rec)
	if err != nil {
		return MessageResponse{}, err
	}
	return messageResponse(saved, !inserted, events), nil
}

// refusal says whether Engage refused the request itself (invalid, the event id taken by
// another request, the deal gone), as opposed to failing to reach PostgreSQL.
func refusal(err error) bool {
	var invalid *ValidationError
	return errors.As(err, &invalid) || errors.Is(err, ErrEventIDTaken) || errors.Is(err, ErrNotFound)
}

// storable drops the addresses and Message-IDs PostgreSQL could not take as text (invalid
// UTF-8, NUL): looked up or recorded, they would fail the message every time it is read.
func storable(m *inbox.Message) {
	ok := func(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
	clean := func(ids []string) []string {
		return slices.DeleteFunc(ids, func(id string) bool { return !ok(id) })
	}
	if !ok(m.MessageID) {
		m.MessageID = ""
	}
	if !ok(m.Key) {
		sum := sha256.Sum256([]byte(m.Key))
		m.Key = "sha256:" + hex.EncodeToString(sum[:])
	}
	if !ok(m.From) {
		m.From = ""
	}
	if !ok(m.Original) {
		m.Original = ""
	}
	m.InReplyTo, m.References = clean(m.InReplyTo), clean(m.References)
	m.Recipients = slices.DeleteFunc(m.Recipients, func(r inbox.Recipient) bool { return !ok(r.Address) })
}

func countRefused(events []EventResponse) int {
	n := 0
	for _, e := range events {
		if e.State == store.EventRefused {
			n++
		}
	}
	return n
}

func messageResponse(m store.InboundMessage, duplicate bool, events []EventResponse) MessageResponse {
	return MessageResponse{Message: m.ID, Key: m.Key, Kind: m.Kind, Rule: m.Rule, Match: m.Match, Answers: m.Answers,
		Outcome: m.Outcome, Reason: m.Reason, ReturnOn: m.ReturnOn, Duplicate: duplicate, Events: events}
}

// planMessage decides what a classified message means: the engagements to send (one per
// deal), or none, with rec's outcome and reason set. The order of the checks is the one the
// README's mailbox section gives.
func (s *Service) planMessage(ctx context.Context, m inbox.Message, rec *store.InboundMessage) ([]EngageRequest, error) {
	ignore := func(reason string) ([]EngageRequest, error) {
		rec.Outcome, rec.Reason = store.MessageIgnored, reason
		return nil, nil
	}
	switch m.Kind {
	case inbox.Unreadable:
		return ignore("unreadable: " + m.Problem)
	case inbox.Notice:
		return ignore("a delivery notice without a machine-readable report (" + m.Rule + ")")
	case inbox.List:
		return ignore("mailing-list or bulk mail (" + m.Rule + ")")
	}
	// A copy of our own email (a Bcc, a forward to the mailbox, a relay's copy) names itself.
	if m.MessageID != "" {
		own, err := s.Store.EmailByMessageID(ctx, m.MessageID)
		if err == nil {
			return ignore(fmt.Sprintf("a copy of our own email %s", own.Key))
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if own, err := s.ownAddress(ctx, m.From); err != nil || own {
		if err != nil {
			return nil, err
		}
		return ignore("from our own address " + m.From)
	}
	at := s.sourceTime(m)
	event := func(dealID string) string { return messageEventID(m.Key, dealID) }
	switch m.Kind {
	case inbox.Delayed:
		rec.Outcome, rec.Reason = store.MessageRecorded, "delivery delayed, not failed: nothing to do"
		if e, ok, err := s.reportedEmail(ctx, m); err != nil || ok {
			rec.Match, rec.Answers = store.MatchThread, &e.Key
			return nil, err
		}
		return nil, nil
	case inbox.Feedback:
		rec.Outcome, rec.Reason = store.MessageRecorded, "a feedback report that is not a complaint: nothing to do"
		return nil, nil
	case inbox.Bounce, inbox.Complaint:
		return s.planReport(ctx, m, rec, at, event)
	}
	// A reply or an automatic reply: the email it answers, else the sender's open deals.
	kind, returnOn := cadence.EngagedReply, ""
	if m.Kind == inbox.AutoReply {
		kind = cadence.EngagedOutOfOffice
		if m.ReturnOn != "" && m.ReturnOn > at.UTC().Format(time.DateOnly) {
			returnOn = m.ReturnOn
		}
	}
	rec.ReturnOn = returnOn
	answered, ok, err := s.answeredEmail(ctx, m)
	if err != nil {
		return nil, err
	}
	if ok {
		rec.Match, rec.Answers = store.MatchThread, &answered.Key
		colleague, err := s.ownColleague(ctx, answered.Key.DealID, m.From)
		if err != nil {
			return nil, err
		}
		if colleague {
			// A reply-all from the owner's manager is not the prospect answering.
			return ignore("from " + m.From + ", at the deal owner's own domain")
		}
		if answered.DealOpen {
			return []EngageRequest{{Deal: answered.Key.DealID, Kind: kind, Source: MessageSource, EventID: event(answered.Key.DealID),
				SourceTime: after(at, answered.SentAt), ReturnOn: returnOn, Answers: &answered.Key}}, nil
		}
		// It answers a closed deal's email: the sender's open deals hear of it (below); with
		// none, a reply is still recorded, refused, on the closed deal, for its owner to see.
		open, err := s.Store.OpenDealsOfContact(ctx, m.From, 1)
		if err != nil {
			return nil, err
		}
		if len(open) == 0 {
			if kind != cadence.EngagedReply {
				return ignore("answers an email of deal " + answered.Key.DealID + ", which is closed")
			}
			return []EngageRequest{{Deal: answered.Key.DealID, Kind: kind, Source: MessageSource, EventID: event(answered.Key.DealID),
				SourceTime: after(at, answered.SentAt), Answers: &answered.Key}}, nil
		}
	}
	if m.From == "" {
		return ignore("no sender address, and In-Reply-To and References name no email of ours")
	}
	dealIDs, err := s.Store.OpenDealsOfContact(ctx, m.From, maxDealsPerMessage)
	if err != nil {
		return nil, err
	}
	if len(dealIDs) == 0 {
		return ignore(fmt.Sprintf("In-Reply-To and References name no email of ours, and %s is not the contact of an open deal", m.From))
	}
	rec.Match = store.MatchSender // rec.Answers stays, when it answers a closed deal's email
	var plan []EngageRequest
	for _, id := range dealIDs {
		plan = append(plan, EngageRequest{Deal: id, Kind: kind, Source: MessageSource, EventID: event(id), SourceTime: at, ReturnOn: returnOn})
	}
	return plan, nil
}

// planReport turns a bounce or a complaint into engagements of the deals that mailed the
// address: the email the report is about (its attached original), else every deal that
// mailed the failed or complaining address.
func (s *Service) planReport(ctx context.Context, m inbox.Message, rec *store.InboundMessage, at time.Time,
	event func(dealID string) string) ([]EngageRequest, error) {
	var addresses []string
	for _, r := range m.Recipients {
		if (m.Kind == inbox.Complaint || r.Permanent()) && r.Address != "" && !slices.Contains(addresses, r.Address) {
			addresses = append(addresses, r.Address)
		}
	}
	original, haveOriginal, err := s.reportedEmail(ctx, m)
	if err != nil {
		return nil, err
	}
	kind, detail := cadence.EngagedBounce, ""
	if m.Kind == inbox.Complaint {
		kind, detail = cadence.EngagedUnsubscribe, "spam complaint (RFC 5965 abuse report)"
	}
	var plan []EngageRequest
	add := func(e store.LedgerEmail, addr string, match store.MessageMatch) {
		for _, p := range plan {
			if p.Deal == e.Key.DealID {
				return
			}
		}
		if rec.Match == store.MatchNone || match == store.MatchThread {
			rec.Match = match
		}
		if rec.Answers == nil || match == store.MatchThread {
			rec.Answers = &e.Key
		}
		key := e.Key
		if m.Kind == inbox.Bounce {
			detail = bounceDetail(m.Recipients, addr)
		}
		plan = append(plan, EngageRequest{Deal: e.Key.DealID, Kind: kind, Source: MessageSource, EventID: event(e.Key.DealID),
			SourceTime: after(at, e.SentAt), Address: strings.ToLower(e.ToAddress), Detail: detail,
			Complaint: m.Kind == inbox.Complaint, Answers: &key})
	}
	// The email the report carries is the one that failed (or was reported), whatever address
	// the report names: a server may name the address an alias resolved to, an abuse report
	// may name none. Its own recipient is the address to suppress.
	if haveOriginal && (m.Kind == inbox.Complaint || len(addresses) > 0) {
		add(original, strings.ToLower(original.ToAddress), store.MatchThread)
	}
	// Without the original, each address's deals that mailed it before the report was written
	// (a report cannot be about a later email; an hour allows for clocks).
	for _, addr := range addresses {
		mailed, err := s.Store.EmailsToAddress(ctx, addr, maxDealsPerMessage)
		if err != nil {
			return nil, err
		}
		for _, e := range mailed {
			if !m.Date.IsZero() && e.SentAt.After(m.Date.Add(time.Hour)) {
				continue
			}
			if len(plan) < maxDealsPerMessage {
				add(e, addr, store.MatchRecipient)
			}
		}
	}
	if len(plan) == 0 {
		rec.Outcome = store.MessageIgnored
		switch {
		case len(addresses) == 0:
			rec.Reason = "the report names no failed recipient"
		default:
			rec.Reason = "a report for " + strings.Join(addresses, ", ") + ", which we never mailed"
		}
	}
	return plan, nil
}

// bounceDetail is what a bounce's suppression records: the status and the server's words
// for addr, else for the first permanent failure.
func bounceDetail(rs []inbox.Recipient, addr string) string {
	pick := -1
	for i, r := range rs {
		if r.Address == addr || (pick < 0 && r.Permanent()) {
			pick = i
		}
	}
	for i, r := range rs {
		if i == pick {
			// Engage takes a detail of one line and at most 1000 bytes.
			d := "delivery report: " + strings.TrimSpace(r.Status+" "+r.Diagnostic)
			d = strings.ToValidUTF8(strings.Map(func(c rune) rune {
				if c < ' ' || c == 0x7f {
					return ' '
				}
				return c
			}, d), "")
			for len(d) > 1000 {
				_, size := utf8.DecodeLastRuneInString(d)
				d = d[:len(d)-size]
			}
			return d
		}
	}
	return "delivery report"
}

// answeredEmail finds the email of ours a reply answers: In-Reply-To first, then References
// from the newest.
func (s *Service) answeredEmail(ctx context.Context, m inbox.Message) (store.LedgerEmail, bool, error) {
	ids := slices.Clone(m.InReplyTo)
	for i := len(m.References) - 1; i >= 0; i-- {
		ids = append(ids, m.References[i])
	}
	return s.firstEmail(ctx, ids)
}

// reportedEmail finds the email a delivery or complaint report is about, by the Message-ID of
// the original it carries.
func (s *Service) reportedEmail(ctx context.Context, m inbox.Message) (store.LedgerEmail, bool, error) {
	if m.Original == "" {
		return store.LedgerEmail{}, false, nil
	}
	return s.firstEmail(ctx, []string{m.Original})
}

func (s *Service) firstEmail(ctx context.Context, ids []string) (store.LedgerEmail, bool, error) {
	for i, id := range ids {
		if i == 60 { // In-Reply-To and References are bounded by inbox; so is this
			break
		}
		e, err := s.Store.EmailByMessageID(ctx, id)
		if err == nil {
			return e, true, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.LedgerEmail{}, false, err
		}
	}
	return store.LedgerEmail{}, false, nil
}

// ownColleague says whether addr is at the domain of the deal owner's address while the
// contact's address is not (a colleague of the owner answering in the thread).
func (s *Service) ownColleague(ctx context.Context, dealID, addr string) (bool, error) {
	parties, err := s.Store.DealParties(ctx, dealID)
	if err != nil {
		return false, err
	}
	ownDomain, contactDomain, fromDomain := domainOf(parties.Owner.Email), domainOf(parties.Contact.Email), domainOf(addr)
	return fromDomain != "" && fromDomain == ownDomain && fromDomain != contactDomain, nil
}

func domainOf(addr string) string {
	_, d, ok := strings.Cut(addr, "@")
	if !ok {
		return ""
	}
	return strings.ToLower(d)
}

// ownAddress says whether mail from addr is ours: an owner, a sender identity, a mailbox we
// sent from, or one of OwnAddresses.
func (s *Service) ownAddress(ctx context.Context, addr string) (bool, error) {
	if addr == "" {
		return false, nil
	}
	for _, a := range s.OwnAddresses {
		if strings.EqualFold(a, addr) {
			return true, nil
		}
	}
	return s.Store.OwnAddress(ctx, addr)
}

// sourceTime is when the message says it was written, unless that is missing or in the
// future (a wrong clock), then now.
func (s *Service) sourceTime(m inbox.Message) time.Time {
	now := s.now()
	if m.Date.IsZero() || m.Date.After(now) {
		return now
	}
	return m.Date
}

// after is the message's time, but never before the email it answers or reports on was sent:
// a Date header has whole seconds and the sender's clock may lag, and the deal ignores an
// engagement that seems to come before its stage began.
func after(at, sent time.Time) time.Time {
	if sent.IsZero() || at.After(sent) {
		return at
	}
	return sent.Add(time.Millisecond)
}

// messageEventID is the event id a message's engagement of one deal is recorded under: the
// same message read twice, from two mailboxes or posted again is one event per deal.
func messageEventID(key, dealID string) string {
	h := sha256.Sum256([]byte(key))
	return "msg-" + hex.EncodeToString(h[:12]) + "-" + dealID
}
