package activities

import (
	"context"
	"strings"

	"github.com/followup-engine/followup/internal/cadence"
	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/store"
)

// sourceEngine is workflows.SourceEngine (workflows imports this package).
const sourceEngine = "engine"

// transitionCause is the cause label of a recorded transition in the metrics: the engine's
// time limits (stale, exhausted), an engagement, a deal's first stage, a reopen, a
// migration, or a person's (or a CRM's) move. A failed lookup does not fail the activity.
func (a *Activities) transitionCause(ctx context.Context, in TransitionInput) string {
	if in.Source == sourceEngine {
		switch {
		case strings.HasSuffix(in.SourceEventID, "/"+cadence.StaleItemID):
			return "stale"
		case strings.HasSuffix(in.SourceEventID, "/"+cadence.ExhaustedItemID):
			return "exhausted"
		case strings.HasSuffix(in.SourceEventID, "/bounce"):
			return "engaged"
		}
		return "engine"
	}
	if in.InboundEventID == 0 {
		return "other"
	}
	kind, err := a.Store.InboundEventKind(ctx, in.InboundEventID)
	if err != nil {
		return "unknown"
	}
	switch kind {
	case store.KindCreated:
		return "created"
	case store.KindStageChanged:
		return "person"
	case store.KindEngaged:
		return "engaged"
	case store.KindReopen:
		return "reopened"
	case store.KindMigrate:
		return "migrated"
	}
	return "other"
}

// countSend counts a SendEmail attempt's outcome: its result's, or "retry" for an error
// (a transient or ambiguous SMTP failure, a busy lease, a fault) that Temporal retries.
func countSend(res SendResult, err error) {
	switch {
	case err != nil:
		opsmetrics.CountEmail("retry")
	case res.Outcome != "":
		opsmetrics.CountEmail(string(res.Outcome))
	}
}
