package cadencefile

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"

	"github.com/invopop/jsonschema"
)

// Schema is the JSON Schema (draft 2020-12) of cadence files, generated from the same types
// the loader decodes, for editors' completion and checks. cadences/cadence.schema.json is
// this, committed; a test keeps it current.
func Schema() []byte {
	return bytes.Clone(schemaOnce())
}

var schemaOnce = sync.OnceValue(func() []byte {
	r := &jsonschema.Reflector{
		Anonymous:                  true, // no $id: the schema is found through the file's modeline
		ExpandedStruct:             true,
		RequiredFromJSONSchemaTags: true,
		Namer:                      schemaName,
	}
	s := r.Reflect(&fileCadence{})
	define(r, s, &fileStaleRule{}, &fileStaleRung{})
	s.Title = "Cadence"
	s.Description = "A sales pipeline of the follow-up engine: stages, their steps and time limits. Email templates live in templates/ beside the file."
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep <name> readable in descriptions
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		panic(err) // the schema is built from fixed types; this cannot fail at run time
	}
	return b.Bytes()
})

// define adds the definitions of types that a custom JSONSchema method names (fileStale's
// two shapes), which the reflector does not reach on its own.
func define(r *jsonschema.Reflector, root *jsonschema.Schema, values ...any) {
	for _, v := range values {
		d := r.Reflect(v)
		for name, sub := range d.Definitions {
			root.Definitions[name] = sub
		}
		d.Version, d.Definitions = "", nil
		root.Definitions[schemaName(reflect.TypeOf(v).Elem())] = d
	}
}

// schemaName names definitions after what they are in the file: fileStage → Stage.
func schemaName(t reflect.Type) string {
	name := strings.TrimSuffix(strings.TrimPrefix(t.Name(), "file"), "Text")
	if name == "" {
		return t.Name()
	}
	return strings.ToUpper(name[:1]) + name[1:]
}
