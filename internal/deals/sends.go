package deals

import (
	"context"

	"github.com/followup-engine/followup/internal/store"
)

// SendsResponse is the global send switch, and whether this call flipped it.
type SendsResponse struct {
	store.SendSwitch
	Changed bool `json:"changed"`
}

// HoldSends stops every email from going out until ReleaseSends, whatever deal or pipeline
// it belongs to: the send activity asks before each send. Holding sends already held changes
// nothing (the first hold's reason and time stay).
func (s *Service) HoldSends(ctx context.Context, reason, by string) (SendsResponse, error) {
	var p problems
	checkText(&p, "reason", reason, 500)
	checkText(&p, "by", by, 200)
	if err := p.err(); err != nil {
		return SendsResponse{}, err
	}
	sw, changed, err := s.Store.HoldSends(ctx, reason, by)
	return SendsResponse{SendSwitch: sw, Changed: changed}, err
}

// ReleaseSends lets emails go again; releasing sends not held changes nothing.
func (s *Service) ReleaseSends(ctx context.Context, by string) (SendsResponse, error) {
	var p problems
	checkText(&p, "by", by, 200)
	if err := p.err(); err != nil {
		return SendsResponse{}, err
	}
	sw, changed, err := s.Store.ReleaseSends(ctx, by)
	return SendsResponse{SendSwitch: sw, Changed: changed}, err
}

// SendStatus reads the send switch.
func (s *Service) SendStatus(ctx context.Context) (store.SendSwitch, error) {
	return s.Store.SendSwitchState(ctx)
}
