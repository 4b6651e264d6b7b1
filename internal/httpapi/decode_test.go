package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/httpapi"
)

// bareHandler is the real handler over no database and no Temporal: the requests sent to it
// are answered before a handler reaches either (a body refused while it is read, a request
// the validation refuses, a route that does not exist).
func bareHandler() http.Handler {
	return (&httpapi.Server{Deals: &deals.Service{}, Token: token, Logger: slog.New(slog.DiscardHandler)}).Handler()
}

// serveBare sends one request to bareHandler and returns the status and the decoded answer.
func serveBare(t *testing.T, method, path, body string, headers ...string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	bareHandler().ServeHTTP(w, req)
	var answer map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &answer), "every answer is JSON: %s", w.Body.String())
	return w, answer
}

// A body the API cannot read is refused in the client's words: fields by their JSON path,
// JSON types, byte offsets; never a Go type.
func TestBodyErrorsSpeakJSON(t *testing.T) {
	t.Parallel()
	const create = "/api/deals"
	cases := []struct {
		name, path, body string
		status           int
		want             string // the answer's "error", exactly
	}{
		{"object wanted", create, `{"owner":"ana@vendor.test"}`, 400, `field "owner" must be an object, not a string`},
		{"nested string wanted", create, `{"contact":{"email":7}}`, 400, `field "contact.email" must be a string, not a number`},
		{"object, not array", create, `{"contact":[]}`, 400, `field "contact" must be an object, not an array`},
		{"string, not object", create, `{"title":{"en":"Pilot"}}`, 400, `field "title" must be a string, not an object`},
		{"string, not boolean", create, `{"external_id":true}`, 400, `field "external_id" must be a string, not a boolean`},
		{"integer, not string", create, `{"cadence_version":"3"}`, 400, `field "cadence_version" must be an integer, not a string`},
		{"integer, not fraction", create, `{"cadence_version":1.5}`, 400, `field "cadence_version" must be an integer, not 1.5`},
		{"boolean wanted", create, `{"import":"yes"}`, 400, `field "import" must be a boolean, not a string`},
		{"time wanted", create, `{"source_time":5}`, 400, `field "source_time" must be a string (RFC 3339, like 2026-11-23T10:00:00Z), not a number`},
		{"time not RFC 3339", create, `{"source_time":"yesterday"}`, 400, `time "yesterday" is not RFC 3339, like 2026-11-23T10:00:00Z`},
		{"unknown field", create, `{"external_id":"x","probability":5}`, 400, `unknown field "probability"`},
		{"unknown nested field", create, `{"owner":{"email":"ana@vendor.test","phone":"1"}}`, 400, `unknown field "owner.phone"`},
		{"every unknown field, in order", create, `{"probability":5,"Title":"x","owner":{"phone":"1"},"contact":{"email":"b@p.test","fax":2}}`, 400,
			`unknown fields "probability", "owner.phone", "contact.fax"`},
		{"an array", create, `[{"external_id":"x"}]`, 400, "body must be a JSON object, not an array"},
		{"null", create, `null`, 400, "body must be a JSON object, not null"},
		{"a number", create, `42`, 400, "body must be a JSON object, not a number"},
		{"a string", create, `"x"`, 400, "body must be a JSON object, not a string"},
		{"empty", create, ``, 400, "body is empty: send a JSON object"},
		{"only white space", create, " \n\t ", 400, "body is empty: send a JSON object"},
		{"syntax", create, `{"title" "x"}`, 400, `body is not valid JSON (at byte 10: invalid character '"' after object key)`},
		{"not JSON", create, `{nope`, 400, `body is not valid JSON (at byte 2: invalid character 'n' looking for beginning of object key string)`},
		{"cut short", create, `{"title":`, 400, "body is not valid JSON (at byte 9: it ends inside its object)"},
		{"trailing brace", create, `{"title":"x"}}`, 400, "body goes on after its JSON object (at byte 13): send one object"},
		{"two objects", create, `{"title":"x"} {"title":"y"}`, 400, "body goes on after its JSON object (at byte 14): send one object"},
		{"too big", create, `{"title":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, 413, "body is larger than 65536 bytes"},
		// Read to its end and decoded: the validation answers (white space after the object is fine).
		{"valid JSON", create, "{\"title\":\"x\"}\n", 400, "invalid request"},

		{"stage", "/api/deals/crm:x/stage", `{"stage":["proposal"],"event_id":"e"}`, 400, `field "stage" must be a string, not an array`},
		{"engagement kind", "/api/deals/crm:x/engagements", `{"kind":5}`, 400, `field "kind" must be a string, not a number`},
		{"engagement time", "/api/deals/crm:x/engagements", `{"kind":"out_of_office","return_at":"soon"}`, 400, `time "soon" is not RFC 3339, like 2026-11-23T10:00:00Z`},
		{"optional body, wrong type", "/api/deals/crm:x/tasks/1/done", `{"note":1}`, 400, `field "note" must be a string, not a number`},
		{"optional body, not an object", "/api/deals/crm:x/tasks/1/skip", `[]`, 400, "body must be a JSON object, not an array"},
		{"owner pause", "/api/owners/ana@vendor.test/pause", `{"until":true}`, 400, `field "until" must be a string (RFC 3339, like 2026-11-23T10:00:00Z), not a boolean`},
		{"send switch", "/api/sends/hold", `{"by":false}`, 400, `field "by" must be a string, not a boolean`},
		{"preview integer", "/api/cadences/preview", `{"days":"30"}`, 400, `field "days" must be an integer, not a string`},
		{"preview nested", "/api/cadences/preview", `{"contact":{"zone":1}}`, 400, `field "contact.zone" must be a string, not a number`},
		{"preview unknown nested", "/api/cadences/preview", `{"version":0,"contact":{"phone":1}}`, 400, `unknown field "contact.phone"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w, answer := serveBare(t, "POST", c.path, c.body)
			require.Equal(t, c.status, w.Code, w.Body.String())
			require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			require.Equal(t, c.want, answer["error"])
			for _, goName := range []string{"store.", "deals.", "httpapi.", "cadence.", "preview.", "time.Time", "int64", "json:", "Go "} {
				require.NotContains(t, w.Body.String(), goName, "a Go name in the answer")
			}
		})
	}
}

// A body of another media type is refused before it is read.
func TestBodyMustBeJSON(t *testing.T) {
	t.Parallel()
	w, answer := serveBare(t, "POST", "/api/deals", "a=b", "Content-Type", "application/x-www-form-urlencoded")
	require.Equal(t, http.StatusUnsupportedMediaType, w.Code)
	require.Equal(t, "send the body as application/json", answer["error"])
}
