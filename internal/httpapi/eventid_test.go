package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's tour id reused for a second deal: the stage change is refused with 409, naming
// the event that holds the id, and the second deal records nothing; the same request for the
// first deal stays an idempotent duplicate. Temporal does not answer here (every delivery is
// left to the sweeper), which the rule does not depend on.
func TestStageEventIDReusedOnAnotherDealIsRefused(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "127.0.0.1:1", nil)
	r := a.do("POST", "/api/deals", createBody)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	first := r.body["deal_id"].(string)
	r = a.do("POST", "/api/deals", strings.Replace(createBody, `"hs-1"`, `"hs-2"`, 1))
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	second := r.body["deal_id"].(string)

	const move = `{"stage":"qualification","event_id":"my-evt-1","reason":"prospect replied"}`
	r = a.do("POST", "/api/deals/"+first+"/stage", move)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	held := r.body["event_id"]
	r = a.do("POST", "/api/deals/"+first+"/stage", move)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	require.Equal(t, true, r.body["duplicate"], r.raw)

	before := a.counts()["inbound_events"]
	r = a.do("POST", "/api/deals/"+second+"/stage", move)
	require.Equal(t, http.StatusConflict, r.status, r.raw)
	require.Contains(t, text(r), fmt.Sprintf(`event id "my-evt-1" of source api was already used for another request: event %v (stage_changed on deal %s)`, held, first))
	require.Equal(t, before, a.counts()["inbound_events"], "nothing recorded for the second deal")
}
