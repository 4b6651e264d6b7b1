package inbox

import (
	"bytes"
	"strings"
)

// maxReportBlocks bounds the per-recipient blocks read from one report.
const maxReportBlocks = 1000

// field is one header-style field of a report block: its name lower-cased, its value
// unfolded and trimmed.
type field struct{ name, value string }

// parseBlocks reads header-style blocks separated by blank lines (RFC 3464, RFC 5965). It is
// lenient: a line that is neither a field nor a continuation is skipped, as mailers emit
// such lines and the fields around them are still worth having.
func parseBlocks(data []byte) [][]field {
	var blocks [][]field
	var block []field
	for len(data) > 0 && len(blocks) < maxReportBlocks {
		line := data
		if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
			line, data = data[:nl], data[nl+1:]
		} else {
			data = nil
		}
		text := strings.TrimRight(string(line), "\r")
		switch {
		case strings.TrimSpace(text) == "":
			if len(block) > 0 {
				blocks = append(blocks, block)
				block = nil
			}
		case text[0] == ' ' || text[0] == '\t':
			if len(block) > 0 {
				block[len(block)-1].value += " " + strings.TrimSpace(text)
			}
		default:
			name, value, ok := strings.Cut(text, ":")
			if ok && name != "" && !strings.ContainsAny(name, " \t") {
				block = append(block, field{strings.ToLower(name), strings.TrimSpace(value)})
			}
		}
	}
	if len(block) > 0 && len(blocks) < maxReportBlocks {
		blocks = append(blocks, block)
	}
	return blocks
}

// get is the value of the first field called name (lower case) in block, or "".
func get(block []field, name string) string {
	for _, f := range block {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// parseDeliveryStatus reads the per-recipient blocks of an RFC 3464 delivery-status part. why
// says what is wrong when there is nothing to classify by.
func parseDeliveryStatus(w *walked) (recipients []Recipient, why string) {
	if !w.haveDeliveryStatus {
		return nil, "delivery-status part missing"
	}
	for _, block := range parseBlocks(w.deliveryStatus) {
		address := get(block, "final-recipient")
		if address == "" {
			address = get(block, "original-recipient")
		}
		if address == "" {
			continue // the per-message block, or noise
		}
		status := strings.Fields(get(block, "status"))
		r := Recipient{
			Address:    typedAddress(address),
			Action:     fieldWord(get(block, "action")),
			Diagnostic: oneLine(withoutType(get(block, "diagnostic-code")), maxLineRunes),
		}
		if len(status) > 0 {
			r.Status = oneLine(status[0], 20)
		}
		recipients = append(recipients, r)
	}
	if len(recipients) == 0 {
		return nil, "delivery-status part has no per-recipient block"
	}
	return recipients, ""
}

// parseFeedbackReport reads an RFC 5965 feedback-report part: its Feedback-Type, lower-cased,
// and the reported recipients (Original-Rcpt-To, else the To of the attached original).
func parseFeedbackReport(w *walked) (feedbackType string, recipients []Recipient, why string) {
	if !w.haveFeedbackReport {
		return "", nil, "feedback-report part missing"
	}
	var fields []field
	for _, block := range parseBlocks(w.feedbackReport) {
		fields = append(fields, block...)
	}
	feedbackType = oneLine(fieldWord(get(fields, "feedback-type")), 40)
	if feedbackType == "" {
		return "", nil, "feedback-report part has no Feedback-Type"
	}
	for _, f := range fields {
		if f.name == "original-rcpt-to" {
			if address := typedAddress(f.value); address != "" {
				recipients = append(recipients, Recipient{Address: address})
			}
		}
	}
	if len(recipients) == 0 {
		for _, address := range w.originalTo {
			recipients = append(recipients, Recipient{Address: address})
		}
	}
	return feedbackType, recipients, ""
}

// originalHeader reads the Message-ID and To of an attached original message or header block.
func originalHeader(data []byte) (id string, to []string) {
	// Only the header block matters: stop at the first blank line after a field.
	blocks := parseBlocks(headerOnly(data))
	if len(blocks) == 0 {
		return "", nil
	}
	return messageID(get(blocks[0], "message-id")), addressList(get(blocks[0], "to"))
}

// headerOnly cuts data at the blank line that ends its header block.
func headerOnly(data []byte) []byte {
	data = bytes.TrimLeft(data, "\r\n")
	for _, end := range [][]byte{[]byte("\n\n"), []byte("\n\r\n")} {
		if i := bytes.Index(data, end); i >= 0 {
			data = data[:i+1]
		}
	}
	return data
}

// typedAddress reads an address of a typed field such as "rfc822; Ana@Example.com".
func typedAddress(value string) string {
	value = withoutType(value)
	value = strings.TrimSpace(strings.Trim(strings.TrimSpace(value), "<>"))
	if strings.ContainsAny(value, " \t") {
		if found := looseAddress.FindString(value); found != "" {
			value = found
		}
	}
	return oneLine(strings.ToLower(value), maxMessageIDBytes)
}

// withoutType drops the "type;" prefix of a typed field (rfc822;, smtp;, x-postfix;).
func withoutType(value string) string {
	if i := strings.IndexByte(value, ';'); i >= 0 && !strings.ContainsAny(strings.TrimSpace(value[:i]), " \t") {
		return strings.TrimSpace(value[i+1:])
	}
	return strings.TrimSpace(value)
}
