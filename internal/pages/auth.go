package pages

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/followup-engine/followup/internal/store"
)

// Passwords are bcrypt hashes: slow by design, salted, and bounded to 72 bytes.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 72 // bcrypt reads no further
	passwordCost   = bcrypt.DefaultCost
)

// HashPassword checks a new password's length and hashes it.
func HashPassword(pw string) (string, error) {
	switch {
	case len(pw) < MinPasswordLen:
		return "", errors.New("the password is too short: at least 10 characters")
	case len(pw) > MaxPasswordLen:
		return "", errors.New("the password is too long: at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), passwordCost)
	return string(h), err
}

// dummyHash is compared against when the email is unknown, so that a login takes as long
// whether the user exists or not.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no user has this password"), passwordCost)

// The login limiter: loginAttempts failures per email and address per loginWindow.
const (
	loginAttempts = 5
	loginWindow   = time.Minute
)

// limiter counts recent attempts per key, in memory (one process serves the pages). An
// attempt is counted as it is allowed, in one step, so parallel guesses cannot all pass the
// check before any is counted; a successful login forgets its key, so only failures add up.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	seen   map[string][]time.Time
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, seen: map[string][]time.Time{}}
}

// allow records an attempt at now and says whether it is within the limit.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.seen[key][:0]
	for _, t := range l.seen[key] {
		if now.Sub(t) < l.window {
			recent = append(recent, t)
		}
	}
	if len(l.seen) > 10000 { // forget idle keys now and then
		for k, ts := range l.seen {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= l.window {
				delete(l.seen, k)
			}
		}
	}
	if len(recent) >= l.max {
		l.seen[key] = recent
		return false
	}
	l.seen[key] = append(recent, now)
	return true
}

// succeeded forgets key's attempts.
func (l *limiter) succeeded(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.seen, key)
}

type loginPage struct {
	Email, Next, Error string
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, r, http.StatusOK, loginPage{Next: safeNext(r.URL.Query().Get("next"))})
}

// showLogin renders the login form with a fresh double-submit token.
func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, p loginPage) {
	token := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: token, Path: "/login", MaxAge: 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
	s.render(w, status, "login", view{Title: "Log in", CSRF: token, Page: p})
}

// login checks the form's token, the limiter, then the password; every failure is logged
// (never the password) and answers the same message.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	email := strings.TrimSpace(r.PostFormValue("email"))
	pw := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
		s.Logger.Warn("pages: refused a login without the form's token", "email", email, "ip", clientIP(r))
		s.fail(w, r, http.StatusForbidden, "This form has expired; reload the page and try again.")
		return
	}
	limitKey := strings.ToLower(email) + "|" + clientIP(r)
	if !s.limiter.allow(limitKey, s.Now()) {
		s.Logger.Warn("pages: login refused: too many attempts", "email", email, "ip", clientIP(r))
		w.Header().Set("Retry-After", "60")
		s.showLogin(w, r, http.StatusTooManyRequests, loginPage{Email: email, Next: next, Error: "Too many attempts; wait a minute and try again."})
		return
	}
	u, err := s.Deals.Store.UserForLogin(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.failErr(w, r, err)
		return
	}
	hash := []byte(u.PasswordHash)
	if err != nil || u.PasswordHash == "" {
		hash = dummyHash
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil && err == nil && u.PasswordHash != ""
	why := ""
	switch {
	case !match:
		why = "wrong email or password"
	case u.DisabledAt != nil:
		why = "the user is disabled"
	case u.Role == store.RoleIntegration:
		why = "an integration user may not log in to the pages"
	}
	if why != "" {
		s.Logger.Warn("pages: login failed", "email", email, "ip", clientIP(r), "why", why)
		s.showLogin(w, r, http.StatusUnauthorized, loginPage{Email: email, Next: next, Error: "Wrong email or password, or this user may not log in."})
		return
	}
	id := randomToken()
	expires := s.Now().Add(SessionTTL)
	if err := s.Deals.Store.CreateSession(r.Context(), store.HashToken(id), u.ID, randomToken(), expires); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.limiter.succeeded(limitKey)
	s.Logger.Info("pages: logged in", "email", u.Email, "role", u.Role, "ip", clientIP(r))
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Expires: expires, MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
	if next == "" {
		next = "/tasks"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.Deals.Store.DeleteSession(r.Context(), store.HashToken(c.Value)); err != nil {
			s.failErr(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login destination on this site: a path, never //host or a scheme.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/login") {
		return ""
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// clientIP is the peer's address (a proxy in front should be trusted explicitly; none is).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// opsOnly refuses a page to a user who is not ops: 403 with refusal, logged.
func (s *Server) opsOnly(refusal string, next func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, _ := sessionOf(r.Context())
		if ss.User.Role != store.RoleOps {
			s.Logger.Warn("pages: refused an ops page to a non-ops user", "user", ss.User.Email, "path", r.URL.Path)
			s.fail(w, r, http.StatusForbidden, refusal)
			return
		}
		next(w, r)
	}
}
