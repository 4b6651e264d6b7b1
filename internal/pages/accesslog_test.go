package pages_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/store"
)

var accessLine = regexp.MustCompile(`(?m)^.*msg="http request".*$`)

// A page served beside the API gets one access log line, as an API request does: the page's
// route pattern (not the deal's id), the status and the role of the session's user; never the
// session cookie, the user's address or the contact's.
func TestPagesAreInTheAccessLogWithTheSessionsRole(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.user("rita@vendor.test", store.RoleRep, password)
	d := s.deal("rita@vendor.test", "carla@prospect.test", "Carla")
	b := s.browser()
	b.loggedIn("rita@vendor.test")
	p := b.do("GET", "/deals/"+d.ID, nil)
	require.Equal(t, http.StatusOK, p.status, p.body)

	var line string
	for _, l := range accessLine.FindAllString(s.logs.String(), -1) {
		if strings.Contains(l, `route="GET /deals/{deal}"`) {
			line = l
		}
	}
	require.NotEmpty(t, line, "no access line for the deal page:\n%s", s.logs.String())
	require.Contains(t, line, "status=200")
	require.Contains(t, line, "role=rep")
	require.Contains(t, line, "method=GET")
	for _, secret := range []string{d.ID, "rita@vendor.test", "carla@prospect.test", "followup_session", "csrf"} {
		require.NotContains(t, line, secret)
	}
	base, err := url.Parse(s.srv.URL)
	require.NoError(t, err)
	cookies := b.c.Jar.Cookies(base)
	require.NotEmpty(t, cookies)
	for _, c := range cookies {
		require.NotContains(t, s.logs.String(), c.Value, "a cookie's value is never logged")
	}
}
