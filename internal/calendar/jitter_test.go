package calendar

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/cadence"
)

func TestJitterAddedBeforeNextWindowStaysInTheWindow(t *testing.T) {
	t.Parallel()
	c := mustCal(t, Spec{Zone: "Europe/Berlin", Country: "de", Window: "Tue-Thu 09:00-11:30"})
	planned := local(t, c, "2026-03-26 11:25") // five minutes before the window closes
	for i := range 50 {
		at, _ := c.NextWindow(planned.Add(cadence.Jitter(fmt.Sprintf("deal-%d", i), 10*time.Minute)))
		require.True(t, c.InWindow(at))
	}
}
