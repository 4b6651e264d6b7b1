package cadencefile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

var schemaFile = filepath.Join(examples, "cadence.schema.json")

// TestSchemaFileIsCurrent keeps the committed schema equal to the generated one; run
// `go test ./internal/cadencefile -run Schema -update` after changing the file format.
func TestSchemaFileIsCurrent(t *testing.T) {
	t.Parallel()
	if *update {
		require.NoError(t, os.WriteFile(schemaFile, Schema(), 0o644))
	}
	committed, err := os.ReadFile(schemaFile)
	require.NoError(t, err)
	require.Equal(t, string(Schema()), string(committed), "cadences/cadence.schema.json is stale: run go test ./internal/cadencefile -update")
}

// TestExamplesMatchTheSchema checks that editors using the schema accept the examples, and
// that each starts with the modeline that points editors at it.
func TestExamplesMatchTheSchema(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	for _, name := range []string{"b2b.yaml", "short-cycle.yaml", "demo.yaml"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(filepath.Join(examples, name))
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(string(src), "# yaml-language-server: $schema=./cadence.schema.json\n"))
			require.NoError(t, sch.Validate(yamlValue(t, src)))
		})
	}
}

// TestSchemaRejectsWhatTheLoaderRejects spot-checks that the schema says no where an editor
// can know it: unknown keys, a step that is both email and task, a task step without id, a
// ladder rung of the wrong shape; and that it accepts both shapes of on_stale.
func TestSchemaRejectsWhatTheLoaderRejects(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	for name, src := range map[string]string{
		"unknown key":     "pipeline: x\nstages: [{id: a, stepz: []}]\n",
		"email and task":  "pipeline: x\nstages: [{id: a, steps: [{email: a, task: {kind: call, title: t}}]}]\n",
		"task without id": "pipeline: x\nstages: [{id: a, steps: [{task: {kind: call, title: t}}]}]\n",
		"bad duration":    "pipeline: x\nstages: [{id: a, time_limit: 3 fortnights}]\n",
		"on_stale scalar": "pipeline: x\nstages: [{id: a, on_stale: b}]\n",
		"rung without at": "pipeline: x\nstages: [{id: a, on_stale: [{move_to: b, reason: r}]}]\n",
		"move below 100%": "pipeline: x\nstages: [{id: a, on_stale: [{at: 80%, move_to: b, reason: r, task: {kind: todo, title: t}}]}]\n",
		"warning no task": "pipeline: x\nstages: [{id: a, on_stale: [{at: 80%}]}]\n",
		"100% no reason":  "pipeline: x\nstages: [{id: a, on_stale: [{at: 100%, move_to: b}]}]\n",
		"at 120%":         "pipeline: x\nstages: [{id: a, on_stale: [{at: 120%, task: {kind: todo, title: t}}]}]\n",
		"unknown in rung": "pipeline: x\nstages: [{id: a, on_stale: [{at: 100%, move_to: b, reason: r, after: 1 day}]}]\n",
		"wait without id": "pipeline: x\nstages: [{id: a, steps: [{wait: 2 days}]}]\n",
		"wait and after":  "pipeline: x\nstages: [{id: a, steps: [{id: w, wait: 2 days, after: 1 day}]}]\n",
		"wait and email":  "pipeline: x\nstages: [{id: a, steps: [{id: w, wait: 2 days, email: a}]}]\n",
		"blocking email":  "pipeline: x\nstages: [{id: a, steps: [{email: a, blocking: true}]}]\n",
		"engaged bounce":  "pipeline: x\nstages: [{id: a, on_engaged: {on: [bounce], move_to: b, reason: r}}]\n",
		"exit no task":    "pipeline: x\nexits: {reply: {}}\nstages: [{id: a}]\n",
		"exit ooo":        "pipeline: x\nexits: {out_of_office: {task: {kind: todo, title: t}}}\nstages: [{id: a}]\n",
	} {
		require.Error(t, sch.Validate(yamlValue(t, []byte(src))), name)
	}
	for name, src := range map[string]string{
		"email step":     "pipeline: x\nstages: [{id: a, steps: [{email: a, after: 0}]}]\n",
		"ladder":         "pipeline: x\nstages: [{id: a, time_limit: 3 days, on_stale: [{at: 80%, task: {kind: todo, title: t}}, {at: 100, move_to: b, reason: r}]}]\n",
		"mapping":        "pipeline: x\nstages: [{id: a, time_limit: 3 days, on_stale: {move_to: b, reason: r}}]\n",
		"wait, blocking": "pipeline: x\nstages: [{id: a, steps: [{id: t, task: {kind: todo, title: t}, blocking: true}, {id: w, wait: 2 days}, {email: a, blocking: false}]}]\n",
		"engagement":     "pipeline: x\nexits: {reply: {task: {kind: todo, title: t}}}\nstages: [{id: a, on_engaged: {on: [reply, click], move_to: b, reason: r}}]\n",
	} {
		require.NoError(t, sch.Validate(yamlValue(t, []byte(src))), name)
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("cadence.schema.json", doc))
	sch, err := c.Compile("cadence.schema.json")
	require.NoError(t, err)
	return sch
}

func yamlValue(t *testing.T, src []byte) any {
	t.Helper()
	js, err := yaml.YAMLToJSON(src)
	require.NoError(t, err)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	require.NoError(t, err)
	return v
}
