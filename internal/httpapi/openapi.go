package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI 3 document of every route the API serves, written by hand;
// a test holds it to the route table, both ways.
//
//go:embed openapi.json
var openAPIDocument []byte

// serveOpenAPI answers the OpenAPI document. It is public, as the index is: it tells what the
// README tells and nothing of the data behind the routes.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}
