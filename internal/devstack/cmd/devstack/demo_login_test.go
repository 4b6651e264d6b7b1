package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkDemoLogin logs in to the stack's pages with the password make demo printed, as the
// README's tour says, and sees Ana's tasks page.
func checkDemoLogin(t *testing.T, api, demoOut string) {
	t.Helper()
	m := regexp.MustCompile(`log in as (\S+) with the password (\S+)`).FindStringSubmatch(demoOut)
	require.NotNil(t, m, "make demo prints a login:\n%s", demoOut)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar}
	get := func(path string) string {
		res, err := c.Get(api + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode, string(b))
		return string(b)
	}
	form := get("/login")
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(form)
	require.NotNil(t, csrf)
	res, err := c.PostForm(api+"/login", url.Values{"csrf": {csrf[1]}, "email": {m[1]}, "password": {m[2]}})
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, string(b))
	require.True(t, strings.HasSuffix(res.Request.URL.Path, "/tasks"), res.Request.URL.String())
	require.Contains(t, string(b), "My tasks")
	require.Contains(t, get("/deals"), "Pilot for Prospect Inc")

	// The ops user reads the dashboard make demo printed: the history's closings and the
	// open pipeline's forecast.
	dash := regexp.MustCompile(`open (\S+/pipelines/\S+) and log in as ops user (\S+) with the password (\S+)`).FindStringSubmatch(demoOut)
	require.NotNil(t, dash, "make demo prints the dashboard's login:\n%s", demoOut)
	jar, err = cookiejar.New(nil)
	require.NoError(t, err)
	c = &http.Client{Jar: jar}
	csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(get("/login"))
	require.NotNil(t, csrf)
	path := strings.TrimPrefix(dash[1], regexp.MustCompile(`^https?://[^/]+`).FindString(dash[1]))
	res, err = c.PostForm(api+"/login", url.Values{"csrf": {csrf[1]}, "email": {dash[2]}, "password": {dash[3]}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	page := get(path)
	require.Contains(t, page, "<h1>Pipeline demo</h1>")
	won := regexp.MustCompile(`data-metric="closed.won">(\d+)<`).FindStringSubmatch(page)
	require.NotNil(t, won)
	require.NotEqual(t, "0", won[1], "the history has won deals")
	require.Contains(t, page, `id="chart-funnel"`)
	require.Regexp(t, `data-metric="forecast\.[0-9-]+\.EUR\.amount"`, page, "the open pipeline's forecast")
	require.Regexp(t, `data-metric="coverage\.[0-9-]+\.EUR\.ratio"`, page, "the coverage against the demo's targets")
}
