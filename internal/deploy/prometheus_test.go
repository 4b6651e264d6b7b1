package deploy

import (
	"fmt"
	"net"
	"os"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/goccy/go-yaml"

	"github.com/followup-engine/followup/internal/config"
)

// prometheusConfig is what checkPrometheus reads of internal/deploy/prometheus/prometheus.yml.
type prometheusConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

// checkPrometheus: the prometheus service reads its mounted scrape file, which scrapes the
// starter where HTTP_ADDR listens and every worker replica (Docker's DNS) where METRICS_ADDR
// listens, and whose rule files are in the same mount.
func checkPrometheus(p *types.Project, root string) []string {
	s, ok := p.Services["prometheus"]
	if !ok {
		return []string{"no prometheus service"}
	}
	src, ok := mountedHostPath(root, s, "/etc/prometheus/prometheus.yml")
	if !ok {
		return []string{"prometheus: /etc/prometheus/prometheus.yml is not mounted from internal/deploy"}
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return []string{"prometheus: " + err.Error()}
	}
	var cfg prometheusConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return []string{"prometheus.yml: " + err.Error()}
	}
	var problems []string
	for _, rf := range cfg.RuleFiles {
		if host, ok := mountedHostPath(root, s, rf); !ok {
			problems = append(problems, fmt.Sprintf("prometheus.yml: rule file %s is not in a mount", rf))
		} else if _, err := os.Stat(host); err != nil {
			problems = append(problems, fmt.Sprintf("prometheus.yml: rule file %s: %v", rf, err))
		}
	}
	_, apiPort, _ := net.SplitHostPort(serviceEnv(p, "starter")["HTTP_ADDR"])
	var workerPort string
	if w, err := config.LoadWorker(serviceEnv(p, "worker")); err == nil && w.MetricsAddr != "" {
		_, workerPort, _ = net.SplitHostPort(w.MetricsAddr)
	}
	if workerPort == "" {
		problems = append(problems, "worker: METRICS_ADDR is not set, so Prometheus has nothing to scrape there")
	} else if !exposes(p.Services["worker"], mustAtoi(workerPort)) {
		problems = append(problems, fmt.Sprintf("worker: METRICS_ADDR port %s is not exposed", workerPort))
	}
	var scrapesAPI, scrapesWorkers bool
	for _, sc := range cfg.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			problems = append(problems, fmt.Sprintf("prometheus.yml: job %s scrapes %s, not /metrics", sc.JobName, sc.MetricsPath))
		}
		for _, st := range sc.StaticConfigs {
			scrapesAPI = scrapesAPI || slices.Contains(st.Targets, net.JoinHostPort("starter", apiPort))
		}
		for _, dns := range sc.DNSSDConfigs {
			scrapesWorkers = scrapesWorkers || (slices.Contains(dns.Names, "worker") && dns.Type == "A" && fmt.Sprint(dns.Port) == workerPort)
		}
	}
	if !scrapesAPI {
		problems = append(problems, fmt.Sprintf("prometheus.yml scrapes no starter:%s (the starter's HTTP_ADDR)", apiPort))
	}
	if !scrapesWorkers {
		problems = append(problems, fmt.Sprintf("prometheus.yml does not find the worker replicas by DNS on port %s (their METRICS_ADDR)", workerPort))
	}
	return problems
}

func mustAtoi(s string) int {
	var n int
	_, _ = fmt.Sscan(s, &n)
	return n
}
