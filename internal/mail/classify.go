package mail

import (
	"errors"
	"net/textproto"
	"regexp"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// FailureClass tells the caller what to do about a failed Send.
type FailureClass string

const (
	// FailTransient: retry with backoff. 4xx replies, and network/TLS/timeout
	// errors before the final dot was sent.
	FailTransient FailureClass = "transient"
	// FailPermanentAddress: the recipient address is bad (5.1.x, or a bare
	// 550/551/553 at RCPT). Do not retry; suppress the address.
	FailPermanentAddress FailureClass = "permanent_address"
	// FailPermanentPolicy: policy, authentication or our own sender identity
	// (5.7.x, 5.1.7/5.1.8, 5.1.x at MAIL FROM, 530/534/535/538). Do not retry;
	// alert ops; do not blame the prospect.
	FailPermanentPolicy FailureClass = "permanent_policy"
	// FailPermanent: any other 5xx (e.g. 552 5.3.4 message too big) and
	// messages Build rejects. Do not retry.
	FailPermanent FailureClass = "permanent"
	// FailAmbiguous: the connection was lost after the final dot, before the
	// reply (RFC 1047). The message may have been delivered.
	FailAmbiguous FailureClass = "ambiguous"
)

// Failure is the classified outcome of a failed Send.
type Failure struct {
	Class    FailureClass
	Code     int    // SMTP reply code, 0 if the server did not reply
	Enhanced string // RFC 3463 code such as "5.1.1", "" if none
	Detail   string // err.Error(), for logs and the send ledger
}

// Classify maps a Send error to a Failure by reply code and enhanced status
// code, not by go-mail's IsTemp(): IsTemp is false for network errors and
// for a drop after the final dot, which are not permanent (the table is in
// ARCHITECTURE.md, "SMTP failure classes"). Classify(nil) is not meaningful
// and returns the zero Failure.
func Classify(err error) Failure {
	if err == nil {
		return Failure{}
	}
	f := Failure{Class: FailTransient, Detail: err.Error()}

	if errors.Is(err, ErrInvalidMessage) {
		f.Class = FailPermanent
		return f
	}

	var se *gomail.SendError
	if errors.As(err, &se) {
		f.Code, f.Enhanced = se.ErrorCode(), se.EnhancedStatusCode()
		if f.Code == 0 {
			// No server reply. Only at the final dot may the server already
			// have taken the message; everywhere else nothing was sent.
			if se.Reason == gomail.ErrSMTPDataClose {
				f.Class = FailAmbiguous
			}
			return f
		}
		f.Class = classifyReply(f.Code, f.Enhanced, stageOf(se.Reason), f.Detail)
		return f
	}

	// Replies during dial, EHLO, STARTTLS or AUTH are not SendErrors; go-mail
	// returns the raw *textproto.Error. A 535 there must not retry forever.
	var te *textproto.Error
	if errors.As(err, &te) {
		f.Code, f.Enhanced = te.Code, enhancedPrefix.FindString(te.Msg)
		f.Class = classifyReply(f.Code, f.Enhanced, stageSession, te.Msg)
		return f
	}

	// Dial, TLS, timeout, context cancellation before the final dot.
	return f
}

type stage int

const (
	stageSession stage = iota // greeting/EHLO/STARTTLS/AUTH
	stageMail
	stageRcpt
	stageData // DATA command or the reply to the final dot
)

func stageOf(r gomail.SendErrReason) stage {
	switch r {
	case gomail.ErrSMTPMailFrom:
		return stageMail
	case gomail.ErrSMTPRcptTo:
		return stageRcpt
	default:
		return stageData
	}
}

// enhancedPrefix matches an RFC 2034 code at the start of a reply text.
var enhancedPrefix = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}\b`)

func classifyReply(code int, enhanced string, st stage, text string) FailureClass {
	// 4xx is transient by definition; anything else that is not 5xx is not
	// an error reply, and nothing says retrying it is futile.
	if code/100 != 5 {
		return FailTransient
	}
	// RFC 5321 §4.5.3.1.10: 552 for "too many recipients" is really 452.
	if code == 552 && (strings.HasSuffix(enhanced, ".5.3") ||
		strings.Contains(strings.ToLower(text), "too many recipients")) {
		return FailTransient
	}
	switch code {
	case 530, 534, 535, 538: // RFC 4954 AUTH failures, with or without 5.7.x
		return FailPermanentPolicy
	}
	addrCode := strings.HasPrefix(enhanced, "5.1.")
	switch {
	case strings.HasPrefix(enhanced, "5.7."):
		return FailPermanentPolicy
	case enhanced == "5.1.7" || enhanced == "5.1.8" || (addrCode && st == stageMail):
		// 5.1.7/5.1.8 and any 5.1.x at MAIL FROM are about our sender
		// address, not the prospect's: suppressing the prospect would be wrong.
		return FailPermanentPolicy
	case addrCode && (st == stageRcpt || st == stageData):
		// At DATA too: some servers reject recipients only after the body,
		// and a Send has exactly one recipient.
		return FailPermanentAddress
	case enhanced == "" && st == stageRcpt && (code == 550 || code == 551 || code == 553):
		return FailPermanentAddress
	}
	return FailPermanent
}
