package render

import "strings"

// ReplySubject is the subject of a reply in a thread whose last email had subject parent:
// "Re: " once, whatever the parent carried. own stands in when the parent's subject is
// unknown (sent before subjects were kept). The send activity threads with it and the
// preview shows it, so both say the same.
func ReplySubject(parent, own string) string {
	base := strings.TrimSpace(parent)
	if base == "" {
		base = own
	}
	for {
		head, rest, ok := strings.Cut(base, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(head), "re") {
			break
		}
		base = strings.TrimSpace(rest)
	}
	return "Re: " + base
}
