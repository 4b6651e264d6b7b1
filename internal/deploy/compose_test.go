package deploy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"

	"github.com/followup-engine/followup/internal/config"
)

// No Docker engine runs on our machines, so the compose file is checked by loading it with
// compose-go (the loader docker compose itself uses: schema, interpolation and consistency)
// and asserting what the stack needs on top of that. Each check returns its problems, so
// TestComposeChecksCatchBrokenStacks can show that every one of them fails when it should.

// searchAttributes are the ones the deal workflow sets; the namespace script must create
// each with this type.
var searchAttributes = map[string]string{
	"DealStage":      "Keyword",
	"DealOwner":      "Keyword",
	"CadenceVersion": "Int",
	"NextActionAt":   "Datetime",
}

var wantServices = []string{
	"mailpit", "migrate", "postgresql", "prometheus", "starter", "temporal", "temporal-admin-tools",
	"temporal-create-namespace", "temporal-ui", "worker",
}

// workerEnv are the variables of the README configuration table the worker cannot run
// without in the stack (the others have defaults that fit it).
var workerEnv = []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "SMTP_HOST", "SMTP_PORT", "MESSAGE_ID_SECRET"}

// pinnedTag is a version of at least major.minor (16.13, 1.30.1, v1.31.2, 1.26.8-bookworm):
// not latest, not a floating major like postgres:16.
var pinnedTag = regexp.MustCompile(`^v?[0-9]+\.[0-9]+(\.[0-9]+)?([-.+_][0-9A-Za-z.-]+)?$`)

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

func loadCompose(ctx context.Context, root, file string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithWorkingDirectory(root), cli.WithOsEnv)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(ctx)
}

// loadStack loads the top-level docker-compose.yml with the documented defaults in force:
// the secrets it defaults are cleared from the test's environment.
func loadStack(t *testing.T) (*types.Project, string) {
	t.Helper()
	root := repoRoot(t)
	for _, k := range []string{"MESSAGE_ID_SECRET", "MESSAGE_ID_DOMAIN", "API_TOKEN", "COMPOSE_PROFILES",
		"PUBLIC_BASE_URL", "UNSUBSCRIBE_SECRET", "DKIM_DOMAIN", "DKIM_SELECTOR"} {
		t.Setenv(k, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := loadCompose(ctx, root, filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p, root
}

func TestComposeFile(t *testing.T) {
	p, root := loadStack(t)

	got := p.ServiceNames()
	sort.Strings(got)
	if !slices.Equal(got, wantServices) {
		t.Fatalf("services = %v, want %v", got, wantServices)
	}

	checks := []struct {
		name string
		run  func(*types.Project, string) []string
	}{
		{"images pinned or built", checkImages},
		{"dependencies gated on health or completion", checkDependsOn},
		{"published ports do not clash", checkPorts},
		{"worker scalable", checkScalable},
		{"mounted support files under internal/deploy", checkMounts},
		{"search attributes created", checkSearchAttributes},
		{"engine database created at init", checkEngineDatabase},
		{"worker configured", checkWorkerEnv},
		{"starter and migrate configured", checkStarterEnv},
		{"unsubscribe links shared by worker and starter", checkUnsubscribeEnv},
		{"prometheus scrapes the API and every worker", checkPrometheus},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			for _, problem := range c.run(p, root) {
				t.Error(problem)
			}
		})
	}
}

// TestComposeChecksCatchBrokenStacks breaks the loaded stack one way at a time and expects
// the matching check to object, so a green TestComposeFile means something.
func TestComposeChecksCatchBrokenStacks(t *testing.T) {
	cases := []struct {
		name  string
		check func(*types.Project, string) []string
		edit  func(p *types.Project)
	}{
		{"latest tag", checkImages, func(p *types.Project) { setImage(p, "temporal-ui", "temporalio/ui:latest") }},
		{"no tag", checkImages, func(p *types.Project) { setImage(p, "mailpit", "axllent/mailpit") }},
		{"floating major", checkImages, func(p *types.Project) { setImage(p, "postgresql", "postgres:16") }},
		{"unknown build target", checkImages, func(p *types.Project) {
			s := p.Services["worker"]
			s.Build.Target = "nope"
			p.Services["worker"] = s
		}},
		{"ungated dependency", checkDependsOn, func(p *types.Project) { setDep(p, "worker", "migrate", types.ServiceConditionStarted) }},
		{"healthy without healthcheck", checkDependsOn, func(p *types.Project) {
			setDep(p, "worker", "temporal-ui", types.ServiceConditionHealthy)
		}},
		{"completion of a long-running service", checkDependsOn, func(p *types.Project) {
			setDep(p, "starter", "worker", types.ServiceConditionCompletedSuccessfully)
		}},
		{"port clash", checkPorts, func(p *types.Project) {
			s := p.Services["mailpit"]
			s.Ports = append(s.Ports, types.ServicePortConfig{Target: 80, Published: "8080", Protocol: "tcp"})
			p.Services["mailpit"] = s
		}},
		{"worker container name", checkScalable, func(p *types.Project) {
			s := p.Services["worker"]
			s.ContainerName = "followup-worker"
			p.Services["worker"] = s
		}},
		{"worker host port", checkScalable, func(p *types.Project) {
			s := p.Services["worker"]
			s.Ports = []types.ServicePortConfig{{Target: 9090, Published: "9090", Protocol: "tcp"}}
			p.Services["worker"] = s
		}},
		{"mount outside internal/deploy", checkMounts, func(p *types.Project) {
			s := p.Services["temporal"]
			s.Volumes[0].Source = filepath.Join(repoRoot(t), "README.md")
			p.Services["temporal"] = s
		}},
		{"missing support file", checkMounts, func(p *types.Project) {
			s := p.Services["temporal-create-namespace"]
			s.Command = types.ShellCommand{"/scripts/no-such-script.sh"}
			p.Services["temporal-create-namespace"] = s
		}},
		{"namespace script not run", checkSearchAttributes, func(p *types.Project) {
			s := p.Services["temporal-create-namespace"]
			s.Command = types.ShellCommand{"/scripts/setup-postgres.sh"}
			p.Services["temporal-create-namespace"] = s
		}},
		{"worker without secret", checkWorkerEnv, func(p *types.Project) { delete(p.Services["worker"].Environment, "MESSAGE_ID_SECRET") }},
		{"worker secret too short", checkWorkerEnv, func(p *types.Project) { setEnv(p, "worker", "MESSAGE_ID_SECRET", "abcd") }},
		{"worker SMTP host not a service", checkWorkerEnv, func(p *types.Project) { setEnv(p, "worker", "SMTP_HOST", "localhost") }},
		{"starter on loopback", checkStarterEnv, func(p *types.Project) { setEnv(p, "starter", "HTTP_ADDR", "127.0.0.1:8088") }},
		{"starter without token", checkStarterEnv, func(p *types.Project) { delete(p.Services["starter"].Environment, "API_TOKEN") }},
		{"worker without public base URL", checkUnsubscribeEnv, func(p *types.Project) { delete(p.Services["worker"].Environment, "PUBLIC_BASE_URL") }},
		{"starter without unsubscribe secret", checkUnsubscribeEnv, func(p *types.Project) { delete(p.Services["starter"].Environment, "UNSUBSCRIBE_SECRET") }},
		{"unsubscribe secrets differ", checkUnsubscribeEnv, func(p *types.Project) {
			setEnv(p, "starter", "UNSUBSCRIBE_SECRET", strings.Repeat("ab", 32))
		}},
		// On both services, so that only the port is wrong (not that the two differ), and only
		// the port objection counts.
		{"public base URL on an unpublished port", objectionsWith(checkUnsubscribeEnv, "port 9999 is not where the starter's API is published"), func(p *types.Project) {
			setEnv(p, "worker", "PUBLIC_BASE_URL", "http://localhost:9999")
			setEnv(p, "starter", "PUBLIC_BASE_URL", "http://localhost:9999")
		}},
		{"public base URLs differ", checkUnsubscribeEnv, func(p *types.Project) {
			setEnv(p, "starter", "PUBLIC_BASE_URL", "http://127.0.0.1:8088")
		}},
		{"worker metrics on another port", checkPrometheus, func(p *types.Project) {
			setEnv(p, "worker", "METRICS_ADDR", ":9999")
			s := p.Services["worker"]
			s.Expose = []string{"9999"}
			p.Services["worker"] = s
		}},
		{"worker metrics off", checkPrometheus, func(p *types.Project) { delete(p.Services["worker"].Environment, "METRICS_ADDR") }},
		{"API moved from the scraped port", checkPrometheus, func(p *types.Project) { setEnv(p, "starter", "HTTP_ADDR", ":8089") }},
		{"engine database elsewhere", checkEngineDatabase, func(p *types.Project) {
			setEnv(p, "migrate", "DATABASE_URL", "postgres://followup:followup@postgresql:5432/other?sslmode=disable")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, root := loadStack(t)
			if problems := c.check(p, root); len(problems) != 0 {
				t.Fatalf("the intact stack already fails this check: %v", problems)
			}
			c.edit(p)
			if problems := c.check(p, root); len(problems) == 0 {
				t.Fatal("the check accepted the broken stack")
			} else {
				t.Logf("objection: %s", strings.Join(problems, "; "))
			}
		})
	}
}

// objectionsWith narrows check to its objections that contain text, for a broken stack that
// the check must object to for one reason in particular.
func objectionsWith(check func(*types.Project, string) []string, text string) func(*types.Project, string) []string {
	return func(p *types.Project, root string) []string {
		var matching []string
		for _, problem := range check(p, root) {
			if strings.Contains(problem, text) {
				matching = append(matching, problem)
			}
		}
		return matching
	}
}

// TestComposeLoaderRejectsBrokenFiles shows the loader itself fails on the mistakes a schema
// or consistency check must catch, on a copy of the real file.
func TestComposeLoaderRejectsBrokenFiles(t *testing.T) {
	root := repoRoot(t)
	orig, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, old, new, wantErr string
	}{
		{"unknown key", "    restart: unless-stopped\n    depends_on:\n      migrate:",
			"    restartz: unless-stopped\n    depends_on:\n      migrate:", "restartz"},
		{"dangling depends_on", "      mailpit:\n        condition: service_healthy",
			"      mailhog:\n        condition: service_healthy", "undefined service"},
		{"bad condition", "        condition: service_completed_successfully",
			"        condition: service_finished", "condition"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(orig), c.old) {
				t.Fatalf("docker-compose.yml no longer contains %q; update this case", c.old)
			}
			broken := strings.Replace(string(orig), c.old, c.new, 1)
			// Same directory layout, so relative mounts and the build context still resolve.
			file := filepath.Join(t.TempDir(), "docker-compose.yml")
			if err := os.WriteFile(file, []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := loadCompose(ctx, root, file)
			if err == nil {
				t.Fatal("LoadProject accepted the broken file")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
}

// TestNamespaceScriptIsIdempotent runs the namespace script against a fake temporal CLI:
// it creates the four attributes with their types, succeeds again when they already exist,
// and fails (without retrying) when one exists with another type.
func TestNamespaceScriptIsIdempotent(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	script := filepath.Join(repoRoot(t), "internal", "deploy", "scripts", "create-namespace.sh")
	bin := t.TempDir()
	writeExec(t, filepath.Join(bin, "nc"), "#!/bin/sh\nexit 0\n")
	writeExec(t, filepath.Join(bin, "temporal"), fakeTemporal)

	run := func(t *testing.T, existing, wrongType string) (creates map[string]string, calls int, err error) {
		t.Helper()
		log := filepath.Join(t.TempDir(), "calls.log")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, sh, script)
		cmd.Env = []string{
			"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
			"TEMPORAL_ADDRESS=temporal:7233",
			"DEFAULT_NAMESPACE=default",
			"TEMPORAL_HEALTH_CHECK_MAX_ATTEMPTS=3",
			"TEMPORAL_HEALTH_CHECK_SLEEP_SECONDS=0",
			"FAKE_LOG=" + log,
			"FAKE_EXISTING=" + existing,
			"FAKE_WRONG_TYPE=" + wrongType,
		}
		out, err := cmd.CombinedOutput()
		t.Logf("script output:\n%s", out)
		creates = map[string]string{}
		f, ferr := os.Open(log)
		if ferr != nil {
			t.Fatal(ferr)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 || fields[0] != "operator" || fields[1] != "search-attribute" || fields[2] != "create" {
				continue
			}
			calls++
			var name, typ string
			for i := 3; i+1 < len(fields); i++ {
				switch fields[i] {
				case "--name":
					name = fields[i+1]
				case "--type":
					typ = fields[i+1]
				}
			}
			creates[name] = typ
		}
		return creates, calls, err
	}

	t.Run("fresh", func(t *testing.T) {
		creates, _, err := run(t, "", "")
		if err != nil {
			t.Fatalf("script failed: %v", err)
		}
		if fmt.Sprint(creates) != fmt.Sprint(searchAttributes) {
			t.Fatalf("created %v, want %v", creates, searchAttributes)
		}
	})
	t.Run("rerun", func(t *testing.T) {
		creates, calls, err := run(t, "DealStage DealOwner CadenceVersion NextActionAt", "")
		if err != nil {
			t.Fatalf("a rerun with every attribute present failed: %v", err)
		}
		if len(creates) != len(searchAttributes) || calls != len(searchAttributes) {
			t.Fatalf("rerun made %d create calls for %v, want one each for %d attributes", calls, creates, len(searchAttributes))
		}
	})
	t.Run("different type", func(t *testing.T) {
		_, calls, err := run(t, "", "CadenceVersion")
		if err == nil {
			t.Fatal("the script accepted CadenceVersion existing with another type")
		}
		if calls > len(searchAttributes) {
			t.Fatalf("%d create calls: a type conflict must not be retried", calls)
		}
	})
}

// fakeTemporal stands in for the temporal CLI: it logs its arguments, answers health and
// namespace calls, and refuses creates the way CLI and server do.
const fakeTemporal = `#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$*" in
  "operator cluster health"*|"operator namespace describe"*) exit 0 ;;
  "operator search-attribute create"*) ;;
  *) echo "fake temporal: unexpected call: $*" >&2; exit 2 ;;
esac
name=
while [ $# -gt 0 ]; do
  if [ "$1" = --name ]; then name=$2; fi
  shift
done
if [ -n "$FAKE_WRONG_TYPE" ] && [ "$name" = "$FAKE_WRONG_TYPE" ]; then
  echo "Error: search attribute $name already exists and has different type Text" >&2
  exit 1
fi
for e in $FAKE_EXISTING; do
  if [ "$e" = "$name" ]; then
    echo "Error: unable to add search attributes: Search attribute $name already exists." >&2
    exit 1
  fi
done
echo "Search attributes have been added"
`

func writeExec(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// checkImages: every service runs a pinned image or one built from ./Dockerfile, whose
// base images are pinned too and whose Go matches go.mod.
func checkImages(p *types.Project, root string) []string {
	var problems []string
	stages, fromImages, err := dockerfileStages(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return []string{err.Error()}
	}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Build != nil {
			ctxDir := s.Build.Context
			if !filepath.IsAbs(ctxDir) {
				ctxDir = filepath.Join(root, ctxDir)
			}
			if filepath.Clean(ctxDir) != filepath.Clean(root) {
				problems = append(problems, fmt.Sprintf("%s: build context %s, want the repository root", name, s.Build.Context))
			}
			if df := s.Build.Dockerfile; df != "" && filepath.Base(df) != "Dockerfile" {
				problems = append(problems, fmt.Sprintf("%s: builds %s, want ./Dockerfile", name, df))
			}
			if !slices.Contains(stages, s.Build.Target) {
				problems = append(problems, fmt.Sprintf("%s: build target %q is not a stage of the Dockerfile (%v)", name, s.Build.Target, stages))
			}
			continue
		}
		if tagProblem := imageTagProblem(s.Image); tagProblem != "" {
			problems = append(problems, fmt.Sprintf("%s: %s", name, tagProblem))
		}
	}
	goVersion, err := goModVersion(filepath.Join(root, "go.mod"))
	if err != nil {
		return append(problems, err.Error())
	}
	sawGo := false
	for _, img := range fromImages {
		if tagProblem := imageTagProblem(img); tagProblem != "" {
			problems = append(problems, "Dockerfile: "+tagProblem)
		}
		if repo, tag, ok := strings.Cut(img, ":"); ok && (repo == "golang" || strings.HasSuffix(repo, "/golang")) {
			sawGo = true
			if tag != goVersion && !strings.HasPrefix(tag, goVersion+"-") {
				problems = append(problems, fmt.Sprintf("Dockerfile: %s does not match go.mod's Go %s", img, goVersion))
			}
		}
	}
	if !sawGo {
		problems = append(problems, "Dockerfile: no golang build stage")
	}
	return problems
}

func imageTagProblem(image string) string {
	if image == "" {
		return "neither image nor build"
	}
	ref, _, _ := strings.Cut(image, "@")
	last := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	switch {
	case !ok || tag == "":
		return fmt.Sprintf("image %s has no tag", image)
	case tag == "latest":
		return fmt.Sprintf("image %s uses latest", image)
	case !pinnedTag.MatchString(tag):
		return fmt.Sprintf("image %s: tag %q is not a pinned major.minor[.patch] version", image, tag)
	}
	return ""
}

// dockerfileStages returns the stage names and the external images of FROM lines, and
// checks that the stages compose runs drop root.
func dockerfileStages(path string) (stages, images []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	user := map[string]string{} // stage -> effective USER
	var current string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			var base string
			for _, a := range f[1:] {
				if !strings.HasPrefix(a, "--") {
					base = a
					break
				}
			}
			current = ""
			if len(f) >= 4 && strings.EqualFold(f[len(f)-2], "AS") {
				current = f[len(f)-1]
			}
			if slices.Contains(stages, base) {
				user[current] = user[base] // inherits the parent stage's USER
			} else {
				images = append(images, base)
			}
			stages = append(stages, current)
		case "USER":
			if len(f) > 1 {
				user[current] = f[1]
			}
		}
	}
	for _, st := range []string{"worker", "starter"} {
		u, _, _ := strings.Cut(user[st], ":")
		if u == "" || u == "root" || u == "0" {
			return nil, nil, fmt.Errorf("Dockerfile: stage %s runs as root (USER %q)", st, user[st])
		}
	}
	return stages, images, nil
}

// goModVersion is the Go the project builds with: go.mod's toolchain line (go1.27.3 is
// 1.27.3) when it has one, else its go line.
func goModVersion(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	goLine := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "toolchain go"); ok {
			return strings.TrimSpace(v), nil
		}
		if v, ok := strings.CutPrefix(line, "go "); ok && goLine == "" {
			goLine = strings.TrimSpace(v)
		}
	}
	if goLine == "" {
		return "", fmt.Errorf("%s has no go line", path)
	}
	return goLine, nil
}

// oneShot reports whether a service is a job that exits (and may be waited on with
// service_completed_successfully): no restart-always policy, no healthcheck, no ports.
func oneShot(s types.ServiceConfig) bool {
	switch {
	case s.Restart == types.RestartPolicyAlways, s.Restart == types.RestartPolicyUnlessStopped:
		return false
	case hasHealthcheck(s), len(s.Ports) > 0:
		return false
	}
	return true
}

func hasHealthcheck(s types.ServiceConfig) bool {
	return s.HealthCheck != nil && !s.HealthCheck.Disable && len(s.HealthCheck.Test) > 0 &&
		s.HealthCheck.Test[0] != "NONE"
}

// checkDependsOn: every dependency waits for health (of a service with a healthcheck) or
// for completion (of a one-shot job).
func checkDependsOn(p *types.Project, _ string) []string {
	var problems []string
	for _, name := range p.ServiceNames() {
		for dep, d := range p.Services[name].DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s depends on unknown service %s", name, dep))
				continue
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if !hasHealthcheck(target) {
					problems = append(problems, fmt.Sprintf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep))
				}
			case types.ServiceConditionCompletedSuccessfully:
				if !oneShot(target) {
					problems = append(problems, fmt.Sprintf("%s waits for %s to complete, but %s is long-running", name, dep, dep))
				}
			default:
				problems = append(problems, fmt.Sprintf("%s depends on %s with condition %q, want service_healthy or service_completed_successfully", name, dep, d.Condition))
			}
		}
	}
	return problems
}

// checkPorts: no two published ports collide on the host.
func checkPorts(p *types.Project, _ string) []string {
	type binding struct{ service, ip string }
	seen := map[string][]binding{} // "port/proto" -> bindings
	var problems []string
	for _, name := range p.ServiceNames() {
		for _, port := range p.Services[name].Ports {
			if port.Published == "" {
				continue // ephemeral host port
			}
			proto := port.Protocol
			if proto == "" {
				proto = "tcp"
			}
			key := port.Published + "/" + proto
			for _, b := range seen[key] {
				if ipsOverlap(b.ip, port.HostIP) {
					problems = append(problems, fmt.Sprintf("host port %s is published by both %s and %s", key, b.service, name))
				}
			}
			seen[key] = append(seen[key], binding{name, port.HostIP})
		}
	}
	return problems
}

func ipsOverlap(a, b string) bool {
	wild := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	return wild(a) || wild(b) || a == b
}

// checkScalable: the worker can run as many replicas as asked.
func checkScalable(p *types.Project, _ string) []string {
	w, ok := p.Services["worker"]
	if !ok {
		return []string{"no worker service"}
	}
	var problems []string
	if w.ContainerName != "" {
		problems = append(problems, fmt.Sprintf("worker has container_name %q: --scale worker=3 would clash", w.ContainerName))
	}
	for _, port := range w.Ports {
		if port.Published != "" {
			problems = append(problems, fmt.Sprintf("worker publishes host port %s: a second replica could not bind it", port.Published))
		}
	}
	if w.Hostname != "" {
		problems = append(problems, "worker has a fixed hostname")
	}
	return problems
}

// checkMounts: bind mounts come from internal/deploy and exist; the scripts services run
// from them exist too.
func checkMounts(p *types.Project, root string) []string {
	var problems []string
	support := filepath.Join(root, "internal", "deploy")
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			src := hostPath(root, v.Source)
			if rel, err := filepath.Rel(support, src); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				problems = append(problems, fmt.Sprintf("%s mounts %s, outside internal/deploy", name, v.Source))
				continue
			}
			if _, err := os.Stat(src); err != nil {
				problems = append(problems, fmt.Sprintf("%s mounts %s: %v", name, v.Source, err))
			}
		}
		for _, arg := range append(slices.Clone(s.Entrypoint), s.Command...) {
			if !strings.HasPrefix(arg, "/") {
				continue
			}
			if src, ok := mountedHostPath(root, s, arg); ok {
				if _, err := os.Stat(src); err != nil {
					problems = append(problems, fmt.Sprintf("%s runs %s, which is missing from its mount: %v", name, arg, err))
				}
			}
		}
	}
	return problems
}

func hostPath(root, src string) string {
	if !filepath.IsAbs(src) {
		src = filepath.Join(root, src)
	}
	return filepath.Clean(src)
}

// mountedHostPath maps a container path to the host file of the bind mount holding it.
func mountedHostPath(root string, s types.ServiceConfig, containerPath string) (string, bool) {
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if containerPath == v.Target {
			return hostPath(root, v.Source), true
		}
		if rest, ok := strings.CutPrefix(containerPath, strings.TrimSuffix(v.Target, "/")+"/"); ok {
			return filepath.Join(hostPath(root, v.Source), filepath.FromSlash(rest)), true
		}
	}
	return "", false
}

var saLine = regexp.MustCompile(`(?m)^SEARCH_ATTRIBUTES="([^"]*)"`)

// checkSearchAttributes: temporal-create-namespace runs a mounted script that creates the
// four search attributes with their types and tolerates their existing already.
func checkSearchAttributes(p *types.Project, root string) []string {
	s, ok := p.Services["temporal-create-namespace"]
	if !ok {
		return []string{"no temporal-create-namespace service"}
	}
	var script string
	for _, arg := range append(slices.Clone(s.Entrypoint), s.Command...) {
		if src, ok := mountedHostPath(root, s, arg); ok && strings.HasSuffix(arg, ".sh") {
			script = src
		}
	}
	if script == "" {
		return []string{"temporal-create-namespace runs no mounted script"}
	}
	b, err := os.ReadFile(script)
	if err != nil {
		return []string{err.Error()}
	}
	text := string(b)
	var problems []string
	for _, want := range []string{"temporal operator namespace create", "temporal operator search-attribute create", `*"already exists"*`} {
		if !strings.Contains(text, want) {
			problems = append(problems, fmt.Sprintf("%s does not contain %q", filepath.Base(script), want))
		}
	}
	m := saLine.FindStringSubmatch(text)
	if m == nil {
		return append(problems, fmt.Sprintf("%s has no SEARCH_ATTRIBUTES=\"…\" line", filepath.Base(script)))
	}
	got := map[string]string{}
	for _, pair := range strings.Fields(m[1]) {
		n, typ, _ := strings.Cut(pair, "=")
		got[n] = typ
	}
	for n, typ := range searchAttributes {
		if got[n] != typ {
			problems = append(problems, fmt.Sprintf("%s creates %s as %q, want %s", filepath.Base(script), n, got[n], typ))
		}
	}
	return problems
}

// checkEngineDatabase: the postgres init mount creates the database the engine's services
// connect to, on the postgresql service.
func checkEngineDatabase(p *types.Project, root string) []string {
	pg, ok := p.Services["postgresql"]
	if !ok {
		return []string{"no postgresql service"}
	}
	initDir, ok := mountedHostPath(root, pg, "/docker-entrypoint-initdb.d")
	if !ok {
		return []string{"postgresql mounts nothing at /docker-entrypoint-initdb.d"}
	}
	files, _ := filepath.Glob(filepath.Join(initDir, "*.sql"))
	var sql strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return []string{err.Error()}
		}
		sql.Write(b)
	}
	var problems []string
	for _, name := range []string{"migrate", "worker", "starter"} {
		u, err := url.Parse(envValue(p, name, "DATABASE_URL"))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: DATABASE_URL: %v", name, err))
			continue
		}
		db := strings.TrimPrefix(u.Path, "/")
		if u.Hostname() != "postgresql" {
			problems = append(problems, fmt.Sprintf("%s: DATABASE_URL host %q, want the postgresql service", name, u.Hostname()))
		}
		if db == "" || !strings.Contains(sql.String(), "CREATE DATABASE "+db) {
			problems = append(problems, fmt.Sprintf("%s: database %q is not created by %s", name, db, initDir))
		}
		if user := u.User.Username(); user != "" && user != envValue(p, "postgresql", "POSTGRES_USER") && !strings.Contains(sql.String(), "CREATE ROLE "+user) {
			problems = append(problems, fmt.Sprintf("%s: role %q is not created by %s", name, user, initDir))
		}
	}
	return problems
}

func envValue(p *types.Project, service, key string) string {
	v := p.Services[service].Environment[key]
	if v == nil {
		return ""
	}
	return *v
}

// serviceEnv is a service's environment as the configuration loaders read it (variables
// without a value left out).
func serviceEnv(p *types.Project, service string) config.MapEnv {
	env := config.MapEnv{}
	for k, v := range p.Services[service].Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// publishes lists the host ports a service publishes its container port target on.
func publishes(s types.ServiceConfig, target string) []string {
	var hostPorts []string
	for _, pc := range s.Ports {
		if fmt.Sprint(pc.Target) == target && pc.Published != "" {
			hostPorts = append(hostPorts, pc.Published)
		}
	}
	return hostPorts
}

func setEnv(p *types.Project, service, key, value string) {
	p.Services[service].Environment[key] = &value
}

func setImage(p *types.Project, service, image string) {
	s := p.Services[service]
	s.Image = image
	p.Services[service] = s
}

func setDep(p *types.Project, service, dep, condition string) {
	s := p.Services[service]
	if s.DependsOn == nil {
		s.DependsOn = types.DependsOnConfig{}
	}
	s.DependsOn[dep] = types.ServiceDependency{Condition: condition, Required: true}
	p.Services[service] = s
}

// checkWorkerEnv: the worker gets what it needs from the stack, and the real configuration
// loader accepts it (so the dev MESSAGE_ID_SECRET default is valid hex of the right size).
func checkWorkerEnv(p *types.Project, _ string) []string {
	var problems []string
	env := serviceEnv(p, "worker")
	for _, k := range workerEnv {
		if strings.TrimSpace(env[k]) == "" {
			problems = append(problems, "worker: "+k+" is not set")
		}
	}
	if len(problems) > 0 {
		return problems
	}
	cfg, err := config.LoadWorker(env)
	if err != nil {
		return append(problems, "worker: "+err.Error())
	}
	if _, ok := p.Services[cfg.SMTP.Host]; !ok {
		problems = append(problems, fmt.Sprintf("worker: SMTP_HOST %q is not a service of the stack", cfg.SMTP.Host))
	} else if !exposes(p.Services[cfg.SMTP.Host], cfg.SMTP.Port) {
		problems = append(problems, fmt.Sprintf("worker: SMTP_PORT %d is not a port mailpit listens on", cfg.SMTP.Port))
	}
	if host, _, err := net.SplitHostPort(cfg.Temporal.HostPort); err != nil || host != "temporal" {
		problems = append(problems, fmt.Sprintf("worker: TEMPORAL_ADDRESS %q, want the temporal service", cfg.Temporal.HostPort))
	}
	return problems
}

// exposes reports whether a service lists port among its container ports (the images'
// own EXPOSE lines are not visible here, so published mappings count).
func exposes(s types.ServiceConfig, port int) bool {
	for _, p := range s.Ports {
		if int(p.Target) == port {
			return true
		}
	}
	for _, e := range s.Expose {
		if e == fmt.Sprint(port) {
			return true
		}
	}
	return false
}

// checkStarterEnv: migrate and the API reach PostgreSQL and Temporal, and the API listens
// where its published port and healthcheck expect it.
func checkStarterEnv(p *types.Project, _ string) []string {
	var problems []string
	for _, name := range []string{"migrate", "starter"} {
		env := serviceEnv(p, name)
		if _, err := config.LoadStarter(env); err != nil {
			problems = append(problems, name+": "+err.Error())
		}
		if env["DATABASE_URL"] == "" || env["TEMPORAL_ADDRESS"] == "" {
			problems = append(problems, name+": DATABASE_URL and TEMPORAL_ADDRESS must be set")
		}
	}
	s := p.Services["starter"]
	if !slices.Equal([]string(s.Command), []string{"serve"}) {
		problems = append(problems, fmt.Sprintf("starter: command %v, want [serve]", s.Command))
	}
	srv, err := config.LoadServer(serviceEnv(p, "starter")) // API_TOKEN present and long enough, among others
	if err != nil {
		return append(problems, "starter: "+err.Error())
	}
	host, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		return append(problems, "starter: HTTP_ADDR: "+err.Error())
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		problems = append(problems, fmt.Sprintf("starter: HTTP_ADDR host %q is unreachable from a published port", host))
	}
	if len(publishes(s, port)) == 0 {
		problems = append(problems, "starter: HTTP_ADDR port "+port+" is not published")
	}
	if !hasHealthcheck(s) || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), ":"+port+"/healthz") {
		problems = append(problems, "starter: no healthcheck on /healthz")
	}
	return problems
}

// checkUnsubscribeEnv: the worker puts unsubscribe links into emails (PUBLIC_BASE_URL), the
// starter serves them; both load the same secret, so a link the worker's configuration makes
// verifies with the starter's, and the base URL points at the starter's published port on
// the host, where a mail reader (Mailpit's page included) follows it.
func checkUnsubscribeEnv(p *types.Project, _ string) []string {
	var problems []string
	wEnv, sEnv := serviceEnv(p, "worker"), serviceEnv(p, "starter")
	for _, k := range []string{"PUBLIC_BASE_URL", "UNSUBSCRIBE_SECRET"} {
		if strings.TrimSpace(wEnv[k]) == "" {
			problems = append(problems, "worker: "+k+" is not set")
		}
		if strings.TrimSpace(sEnv[k]) == "" {
			problems = append(problems, "starter: "+k+" is not set")
		}
	}
	if len(problems) > 0 {
		return problems
	}
	if wEnv["UNSUBSCRIBE_SECRET"] != sEnv["UNSUBSCRIBE_SECRET"] {
		problems = append(problems, "worker and starter have different UNSUBSCRIBE_SECRETs: links the worker signs would not verify")
	}
	if wEnv["PUBLIC_BASE_URL"] != sEnv["PUBLIC_BASE_URL"] {
		problems = append(problems, fmt.Sprintf("worker PUBLIC_BASE_URL %q, starter %q: want the same", wEnv["PUBLIC_BASE_URL"], sEnv["PUBLIC_BASE_URL"]))
	}
	w, err := config.LoadWorker(wEnv)
	if err != nil {
		return append(problems, "worker: "+err.Error())
	}
	srv, err := config.LoadServer(sEnv)
	if err != nil {
		return append(problems, "starter: "+err.Error())
	}
	if w.Mail.Unsubscribe == nil || srv.Unsubscribe == nil {
		return append(problems, "unsubscribe links are off in the worker or the starter")
	}
	link, err := w.Mail.Unsubscribe.URL("00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", time.Now())
	if err != nil {
		return append(problems, "worker: unsubscribe link: "+err.Error())
	}
	u, err := url.Parse(link)
	if err != nil {
		return append(problems, "worker: unsubscribe link: "+err.Error())
	}
	if _, err := srv.Unsubscribe.Verify(path.Base(u.Path)); err != nil {
		problems = append(problems, "a link the worker signs does not verify in the starter: "+err.Error())
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if host := u.Hostname(); host == "localhost" || host == "127.0.0.1" || host == "::1" {
		_, apiPort, _ := net.SplitHostPort(srv.Addr)
		if !slices.Contains(publishes(p.Services["starter"], apiPort), port) {
			problems = append(problems, fmt.Sprintf("PUBLIC_BASE_URL %s: port %s is not where the starter's API is published", wEnv["PUBLIC_BASE_URL"], port))
		}
	}
	return problems
}

// TestComposeDKIMRecipe follows the worker's commented DKIM recipe: uncommented, with
// DKIM_DOMAIN set, the three variables reach the worker and the key file lies in the
// mounted, git-ignored internal/deploy/dkim; without DKIM_DOMAIN the file refuses to load.
// As committed, DKIM is off and no key is in the repository.
func TestComposeDKIMRecipe(t *testing.T) {
	p, root := loadStack(t)
	for _, k := range []string{"DKIM_DOMAIN", "DKIM_SELECTOR", "DKIM_PRIVATE_KEY_FILE"} {
		if _, ok := p.Services["worker"].Environment[k]; ok {
			t.Errorf("worker: %s is set in the committed file; DKIM must stay opt-in", k)
		}
	}

	orig, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	recipe := regexp.MustCompile(`(?m)^(\s+)# (DKIM_[A-Z_]+: .*)$`)
	if n := len(recipe.FindAllString(string(orig), -1)); n != 3 {
		t.Fatalf("found %d commented DKIM_* lines in docker-compose.yml, want 3", n)
	}
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	if err := os.WriteFile(file, recipe.ReplaceAll(orig, []byte("$1$2")), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func() (*types.Project, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return loadCompose(ctx, root, file)
	}
	if _, err := load(); err == nil || !strings.Contains(err.Error(), "DKIM_DOMAIN") {
		t.Errorf("without DKIM_DOMAIN the uncommented recipe loads (err %v); it should name the variable", err)
	}
	t.Setenv("DKIM_DOMAIN", "vendor.example")
	p, err = load()
	if err != nil {
		t.Fatal(err)
	}
	w := p.Services["worker"]
	if got := envValue(p, "worker", "DKIM_DOMAIN"); got != "vendor.example" {
		t.Errorf("worker DKIM_DOMAIN = %q", got)
	}
	if got := envValue(p, "worker", "DKIM_SELECTOR"); got == "" {
		t.Error("worker DKIM_SELECTOR has no default")
	}
	keyFile := envValue(p, "worker", "DKIM_PRIVATE_KEY_FILE")
	host, ok := mountedHostPath(root, w, keyFile)
	if !ok {
		t.Fatalf("DKIM_PRIVATE_KEY_FILE %q is not under a mount of the worker", keyFile)
	}
	if want := filepath.Join(root, "internal", "deploy", "dkim"); filepath.Dir(host) != want {
		t.Errorf("the key is read from %s, want a file in %s", host, want)
	}
	for _, v := range w.Volumes {
		if v.Target == filepath.Dir(keyFile) && !v.ReadOnly {
			t.Errorf("the key folder %s is mounted read-write", v.Target)
		}
	}

	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git: cannot check that keys stay out of the repository")
	}
	rel, _ := filepath.Rel(root, host)
	if out, err := exec.Command(git, "-C", root, "check-ignore", "-q", rel).CombinedOutput(); err != nil {
		t.Errorf("%s is not git-ignored: %v %s", rel, err, out)
	}
	out, err := exec.Command(git, "-C", root, "ls-files", "internal/deploy/dkim").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a checkout?)", err)
	}
	for _, f := range strings.Fields(string(out)) {
		if base := filepath.Base(f); base != "README.md" && base != ".gitignore" {
			t.Errorf("%s is committed; only README.md and .gitignore belong there", f)
		}
	}
}

func TestGoModVersionPrefersTheToolchainLine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ mod, want string }{
		{"module m\n\ngo 1.26.10\n\ntoolchain go1.27.3\n", "1.27.3"},
		{"module m\n\ngo 1.26.8\n", "1.26.8"},
	} {
		path := filepath.Join(t.TempDir(), "go.mod")
		require.NoError(t, os.WriteFile(path, []byte(c.mod), 0o644))
		got, err := goModVersion(path)
		require.NoError(t, err)
		require.Equal(t, c.want, got)
	}
	path := filepath.Join(t.TempDir(), "go.mod")
	require.NoError(t, os.WriteFile(path, []byte("module m\n"), 0o644))
	_, err := goModVersion(path)
	require.Error(t, err)
}
