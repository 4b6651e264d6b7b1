package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// errBadRequest marks a request the API could not read; its text is safe to show.
type errBadRequest struct {
	status int
	msg    string
}

func (e *errBadRequest) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &errBadRequest{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// decode reads one JSON object of at most MaxBodyBytes, refusing unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(w, r, v, false)
}

// decodeOptional is decode for routes whose body may be empty (every field optional).
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeBody(w, r, v, true)
}

// decodeBody reads the body into v, a pointer to the route's body struct. Every refusal
// speaks of the body as the client sent it: fields by their JSON path ("contact.email"),
// JSON types (object, array, string, number, boolean), byte offsets; never Go types.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &errBadRequest{http.StatusUnsupportedMediaType, "send the body as application/json"}
		}
	}
	body, err := readBody(w, r, MaxBodyBytes, "body")
	if err != nil {
		return err
	}
	start := len(body) - len(bytes.TrimLeft(body, jsonSpace))
	switch {
	case start == len(body) && optional:
		return nil
	case start == len(body):
		return badRequest("body is empty: send a JSON object")
	case body[start] != '{' && jsonKind(body[start]) != "":
		return badRequest("body must be a JSON object, not %s", jsonKind(body[start]))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, body, reflect.TypeOf(v))
	}
	if rest := bytes.TrimLeft(body[dec.InputOffset():], jsonSpace); len(rest) > 0 {
		return badRequest("body goes on after its JSON object (at byte %d): send one object", len(body)-len(rest))
	}
	return nil
}

// readBody reads a request body of at most max bytes; what names it in the 413's message.
func readBody(w http.ResponseWriter, r *http.Request, max int64, what string) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &errBadRequest{http.StatusRequestEntityTooLarge, fmt.Sprintf("%s is larger than %d bytes", what, max)}
	case err != nil:
		return nil, badRequest("body could not be read to its end")
	}
	return body, nil
}

// jsonSpace is the white space JSON allows between tokens.
const jsonSpace = " \t\r\n"

// jsonKind names the JSON value that starts with c, with its article ("an array"), or ""
// when no value starts so.
func jsonKind(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return ""
}

// decodeError says what is wrong with a body the decoder refused; body is what it read and
// t the type it decoded into.
func decodeError(err error, body []byte, t reflect.Type) error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		timeErr *time.ParseError
	)
	switch {
	case errors.As(err, &timeErr):
		return badRequest("time %q is not RFC 3339, like 2026-11-23T10:00:00Z", timeErr.Value)
	case errors.As(err, &syntax):
		return badRequest("body is not valid JSON (at byte %d: %s)", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("body is not valid JSON (at byte %d: it ends inside its object)", len(body))
	case errors.As(err, &typeErr):
		return badRequest("%s", typeErrorText(typeErr))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		paths := unknownFields(body, t)
		if len(paths) == 0 {
			return badRequest("unknown field %s", name)
		}
		quoted := make([]string, len(paths))
		for i, p := range paths {
			quoted[i] = fmt.Sprintf("%q", p)
		}
		if len(paths) == 1 {
			return badRequest("unknown field %s", quoted[0])
		}
		return badRequest("unknown fields %s", strings.Join(quoted, ", "))
	}
	return badRequest("body is not a valid request: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// typeErrorText says which field holds the wrong kind of value, in JSON's words:
// field "owner" must be an object, not a string.
func typeErrorText(e *json.UnmarshalTypeError) string {
	want := jsonTypeOf(e.Type)
	got := e.Value // "string", "number", "number 1.5", "bool", "array", "object"
	switch {
	case strings.HasPrefix(got, "number "):
		got = strings.TrimPrefix(got, "number ") // a number that does not fit: say which
	case got == "bool":
		got = "a boolean"
	case got == "array" || got == "object":
		got = "an " + got
	case got != "":
		got = "a " + got
	}
	field := e.Field
	if field == "" {
		return fmt.Sprintf("body must be %s, not %s", want, got)
	}
	return fmt.Sprintf("field %q must be %s, not %s", field, want, got)
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	timeType        = reflect.TypeFor[time.Time]()
)

// jsonTypeOf names the JSON type a Go type decodes from, with its article.
func jsonTypeOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "a string (RFC 3339, like 2026-11-23T10:00:00Z)"
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		return "a string"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another JSON type"
}

// unknownFields lists, in the body's order, the dotted paths of the keys that t has no field
// for ("owner.phone"): the decoder names only the first, and without its path. Keys match
// fields as the decoder matches them (the tag's name, else the field's; case-insensitively).
func unknownFields(body []byte, t reflect.Type) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	var paths []string
	if walkValue(dec, t, "", &paths) != nil {
		return nil
	}
	return paths
}

// walkValue reads one value of type t from dec, adding the unknown keys of the objects it
// holds to paths.
func walkValue(dec *json.Decoder, t reflect.Type, path string, paths *[]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	opaque := t == nil || reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)
	switch {
	case delim == '[':
		var elem reflect.Type
		if !opaque && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walkValue(dec, elem, path, paths); err != nil {
				return err
			}
		}
	case delim == '{':
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			var next reflect.Type
			switch {
			case opaque:
			case t.Kind() == reflect.Map:
				next = t.Elem()
			case t.Kind() == reflect.Struct:
				if f, ok := fieldOf(t, key); ok {
					next = f
				} else {
					*paths = append(*paths, joinPath(path, key))
				}
			}
			if err := walkValue(dec, next, joinPath(path, key), paths); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldOf finds the type of struct t's field that key names, looking through embedded
// structs as the decoder does.
func fieldOf(t reflect.Type, key string) (reflect.Type, bool) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			if inner, ok := fieldOf(ft, key); ok {
				return inner, true
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.EqualFold(name, key) {
			return f.Type, true
		}
	}
	return nil, false
}
