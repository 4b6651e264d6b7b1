// Package pages serves the reps' pages: server-rendered HTML (html/template, which escapes
// everything it shows) behind a password login, with htmx (vendored in assets/, no CDN) for
// acting on a task in place. A rep sees and works their own deals and tasks; ops sees all,
// and the pipelines' dashboards (dashboard.go: server-drawn SVG charts, charts.go); an
// integration user cannot log in.
//
// Every POST carries the session's CSRF token (a hidden field, or X-CSRF-Token), checked in
// constant time before anything is written; the login form carries a token of its own
// (double submit: a cookie and a field). Sessions live in PostgreSQL (store/sessions.go) for
// SessionTTL; the browser holds a random id in an HttpOnly, SameSite=Lax cookie.
package pages

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/followup-engine/followup/internal/deals"
	"github.com/followup-engine/followup/internal/opsmetrics"
	"github.com/followup-engine/followup/internal/pipelinemetrics"
	"github.com/followup-engine/followup/internal/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// maxForm bounds a posted form: the pages' forms are a few short fields.
const maxForm = 16 << 10

// SessionTTL is how long a login lasts.
const SessionTTL = 12 * time.Hour

// Source is the source of the events the pages send.
const Source = "pages"

// The cookies.
const (
	sessionCookie = "fu_session"
	loginCookie   = "fu_login" // the login form's CSRF token (double submit)
)

// Server serves the pages.
type Server struct {
	Deals  *deals.Service
	Logger *slog.Logger
	// SecureCookies marks the cookies Secure (PUBLIC_BASE_URL is https); a TLS request's
	// cookies are Secure anyway.
	SecureCookies bool
	// QueryTimeout bounds the deal page's query of the live workflow; 0: no live view.
	QueryTimeout time.Duration
	// Now is the clock of the login limiter; time.Now when nil.
	Now func() time.Time

	once    sync.Once
	tmpl    map[string]*template.Template
	limiter *limiter
}

// Handler routes the pages. It is a ServeMux so that the API can ask whether a request is
// the pages' (httpapi mounts it beside its own routes).
func (s *Server) Handler() *http.ServeMux {
	s.init()
	mux := http.NewServeMux()
	s.cadenceRoutes(mux) // ops: what each cadence step earned (cadences.go)
	assets, _ := fs.Sub(assetFiles, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheAssets(http.FileServerFS(assets))))
	mux.HandleFunc("GET /{$}", s.root)
	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("POST /logout", s.authed(s.logout))
	mux.Handle("GET /tasks", s.authed(s.tasks))
	mux.Handle("POST /deals/{deal}/tasks/{task}/{action}", s.authed(s.taskAction))
	mux.Handle("GET /deals", s.authed(s.dealList))
	mux.Handle("GET /deals/{deal}", s.authed(s.dealPage))
	mux.Handle("GET /pipelines", s.authed(s.opsOnly("The pipeline dashboard is for ops users.", s.pipelineList)))
	mux.Handle("GET /pipelines/{id}", s.authed(s.opsOnly("The pipeline dashboard is for ops users.", s.pipelineDashboard)))
	return mux
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
		if s.Now == nil {
			s.Now = time.Now
		}
		s.limiter = newLimiter(loginAttempts, loginWindow)
		s.tmpl = map[string]*template.Template{}
		for _, name := range []string{"login", "tasks", "deals", "deal", "error", "pipelines", "pipeline"} {
			s.tmpl[name] = template.Must(template.New("layout.html").Funcs(funcs).Funcs(dashboardFuncs).
				ParseFS(templateFiles, "templates/layout.html", "templates/task.html", "templates/charts.html", "templates/"+name+".html"))
		}
	})
}

func cacheAssets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// csp keeps the pages to their own scripts and styles.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// view is what every page's layout reads.
type view struct {
	Title string
	User  *store.User // nil on the login page
	CSRF  string
	Page  any
}

func (s *Server) render(w http.ResponseWriter, status int, name string, v view) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	var b strings.Builder
	t, exec := s.tmpl[name], "layout.html"
	if name == "task" { // one task, swapped in place by htmx
		t, exec = s.tmpl["tasks"], "taskrow"
	}
	var data any = v
	if name == "task" {
		data = v.Page
	}
	if err := t.ExecuteTemplate(&b, exec, data); err != nil {
		s.Logger.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	fmt.Fprint(w, b.String())
}

// fail answers an error page; to htmx acting on a task, the task's row with the message
// (the layout's htmx-config swaps error answers in too).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	v := view{Title: http.StatusText(status), Page: msg}
	if ss, ok := sessionOf(r.Context()); ok {
		v.User, v.CSRF = &ss.User, ss.CSRFToken
	}
	if id, err := strconv.ParseInt(r.PathValue("task"), 10, 64); err == nil && r.Header.Get("HX-Request") == "true" {
		s.render(w, status, "task", view{Page: taskRow{ID: id, DealID: r.PathValue("deal"), Title: r.PostFormValue("title"),
			Message: msg, Failed: true, Loc: time.UTC}})
		return
	}
	s.render(w, status, "error", v)
}

// failErr maps a domain error to an error page; internal errors are logged, never shown.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var valid *deals.ValidationError
	switch {
	case errors.As(err, &valid):
		s.fail(w, r, http.StatusBadRequest, strings.Join(valid.Problems, "; "))
	case errors.Is(err, pipelinemetrics.ErrBadQuery):
		s.fail(w, r, http.StatusBadRequest, strings.TrimPrefix(err.Error(), pipelinemetrics.ErrBadQuery.Error()+": "))
	case errors.Is(err, deals.ErrNotFound), errors.Is(err, store.ErrNotFound):
		s.fail(w, r, http.StatusNotFound, "Not found.")
	case errors.Is(err, deals.ErrTaskNotOpen):
		s.fail(w, r, http.StatusConflict, "This task is no longer open.")
	case errors.Is(err, deals.ErrDealClosed):
		s.fail(w, r, http.StatusConflict, "This deal is closed.")
	case errors.Is(err, context.Canceled):
	default:
		s.Logger.Error("page failed", "method", r.Method, "path", r.URL.Path, "err", err)
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong; try again.")
	}
}

type sessionKey struct{}

func sessionOf(ctx context.Context) (store.Session, bool) {
	ss, ok := ctx.Value(sessionKey{}).(store.Session)
	return ss, ok
}

// session reads the request's live session, if any.
func (s *Server) session(r *http.Request) (store.Session, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return store.Session{}, false, nil
	}
	ss, err := s.Deals.Store.SessionByHash(r.Context(), store.HashToken(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, false, nil
	}
	if err != nil {
		return store.Session{}, false, err
	}
	if ss.User.Role == store.RoleIntegration { // never made, but never honoured either
		return store.Session{}, false, nil
	}
	return ss, true, nil
}

// authed serves next to a logged-in user: a GET without a session goes to the login page,
// a POST without one, or without the session's CSRF token, is refused (403) before next
// runs.
func (s *Server) authed(next func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss, ok, err := s.session(r)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.Logger.Warn("pages: refused a POST without a session", "path", r.URL.Path)
			s.fail(w, r, http.StatusForbidden, "Your session has ended; log in again.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = r.PostFormValue("csrf")
			}
			if !sameToken(got, ss.CSRFToken) {
				s.Logger.Warn("pages: refused a POST without the session's CSRF token", "path", r.URL.Path, "user", ss.User.Email)
				s.fail(w, r, http.StatusForbidden, "This form has expired; reload the page and try again.")
				return
			}
		}
		opsmetrics.NoteRole(r.Context(), string(ss.User.Role)) // for the access log
		ctx := context.WithValue(store.WithActor(r.Context(), "user:"+ss.User.Email), sessionKey{}, ss)
		next(w, r.WithContext(ctx))
	})
}

// sameToken compares tokens in constant time; an empty token never matches.
func sameToken(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) secure(r *http.Request) bool { return s.SecureCookies || r.TLS != nil }

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	_, ok, err := s.session(r)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if ok {
		http.Redirect(w, r, "/tasks", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
