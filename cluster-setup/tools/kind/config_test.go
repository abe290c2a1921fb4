// Package kindconfig checks the kind backend's cluster configs with kind's own code, at the kind
// release pinned in cluster-setup/versions.yaml, without needing a container engine.
//
// Two layers are checked:
//
//   - kind's decoder and validation: each config goes through kind's public
//     cluster.Provider.Create, which decodes it strictly (an unknown or misspelt field is an
//     error), applies defaults and runs kind's validation. A stand-in `docker` (this test binary)
//     answers kind's first questions and stops it at the first step that would create something,
//     so reaching that step proves kind accepted the config.
//   - the course's own promises: node names and roles, the host ports, Calico's Pod range.
//
// Run with `go test ./...` here; tests/test_kind_backend.py runs it too, and points KIND_CONFIGS
// at configs the course renders (with other host ports) so that those are checked as well.
package kindconfig

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	kindversion "sigs.k8s.io/kind/pkg/cmd/kind/version"
)

const (
	// fakeDockerLog names the file where the stand-in docker records what kind asked of it.
	fakeDockerLog = "KIND_CONFIG_TEST_DOCKER_LOG"
	// stopHere is what the stand-in docker says when kind tries to create something.
	stopHere = "stand-in docker: nothing is created in this test"
)

// TestMain lets this test binary play `docker` when kind runs it under that name.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "docker" {
		os.Exit(fakeDocker(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeDocker answers just enough for kind to get past its checks: an engine with cgroup v2, no
// existing cluster, node images already present. Anything else is refused.
func fakeDocker(args []string) int {
	if log := os.Getenv(fakeDockerLog); log != "" {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintln(f, strings.Join(args, " "))
			f.Close()
		}
	}
	switch {
	case len(args) > 0 && args[0] == "info":
		fmt.Println(`{"CgroupDriver":"systemd","CgroupVersion":"2","MemoryLimit":true,"PidsLimit":true,"CPUShares":true}`)
		return 0
	case len(args) > 0 && args[0] == "ps":
		return 0 // no containers: no cluster of that name exists yet
	case len(args) > 1 && args[0] == "inspect" && args[1] == "--type=image":
		return 0 // "present locally", so kind does not pull
	}
	fmt.Fprintln(os.Stderr, stopHere)
	return 1
}

type pins struct {
	Kind struct {
		Version   string `yaml:"version"`
		NodeImage string `yaml:"node-image"`
	} `yaml:"kind"`
}

func setupDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadPins(t *testing.T) pins {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(setupDir(t), "versions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p pins
	if err := yaml.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// configFiles are the configs to check: KIND_CONFIGS (a path list) when set, else every
// cluster*.yaml in cluster-setup/kind/.
func configFiles(t *testing.T) []string {
	t.Helper()
	if list := os.Getenv("KIND_CONFIGS"); list != "" {
		return filepath.SplitList(list)
	}
	files, err := filepath.Glob(filepath.Join(setupDir(t), "kind", "cluster*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no kind configs found: %v", err)
	}
	return files
}

// decodeStrict reads a config the way kind's loader does: v1alpha4, unknown fields are errors.
func decodeStrict(raw []byte) (*v1alpha4.Cluster, error) {
	decoder := yaml.NewDecoder(bytes.NewReader(raw))
	decoder.KnownFields(true)
	var config v1alpha4.Cluster
	if err := decoder.Decode(&config); err != nil {
		return nil, err
	}
	if config.APIVersion != "kind.x-k8s.io/v1alpha4" || config.Kind != "Cluster" {
		return nil, fmt.Errorf("not a kind v1alpha4 Cluster: %s %s", config.APIVersion, config.Kind)
	}
	return &config, nil
}

// createWithStandInDocker runs kind's cluster creation on the config file, with this test binary
// as `docker`, and returns kind's error and the docker commands kind ran.
func createWithStandInDocker(t *testing.T, path, image string) (error, []string) {
	t.Helper()
	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "docker")); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "docker.log")
	t.Setenv("PATH", bin)
	t.Setenv(fakeDockerLog, log)
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	provider := cluster.NewProvider(cluster.ProviderWithDocker())
	createErr := provider.Create("course",
		cluster.CreateWithConfigFile(path),
		cluster.CreateWithNodeImage(image),
		cluster.CreateWithKubeconfigPath(filepath.Join(t.TempDir(), "kubeconfig")),
	)
	raw, _ := os.ReadFile(log)
	return createErr, strings.Split(strings.TrimSpace(string(raw)), "\n")
}

func TestKindAcceptsEachConfig(t *testing.T) {
	image := loadPins(t).Kind.NodeImage
	for _, path := range configFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			err, commands := createWithStandInDocker(t, path, image)
			if err == nil || !strings.Contains(err.Error(), "network") {
				t.Fatalf("kind should stop at creating its network, after accepting the config; got: %v", err)
			}
			if !slices.Contains(commands, "inspect --type=image "+image) {
				t.Errorf("kind did not ask for the pinned node image %s; it ran: %q", image, commands)
			}
		})
	}
}

func TestKindRejectsAMisspeltField(t *testing.T) {
	raw, err := os.ReadFile(configFiles(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	// A learner's classic typo: hostport instead of hostPort.
	broken := strings.Replace(string(raw), "hostPort:", "hostport:", 1)
	if broken == string(raw) {
		t.Fatal("the config has no hostPort to misspell")
	}
	path := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	err, commands := createWithStandInDocker(t, path, loadPins(t).Kind.NodeImage)
	if err == nil || !strings.Contains(err.Error(), "hostport") {
		t.Fatalf("kind should refuse the unknown field hostport, got: %v", err)
	}
	if _, strictErr := decodeStrict([]byte(broken)); strictErr == nil {
		t.Error("decodeStrict accepted an unknown field")
	}
	if slices.ContainsFunc(commands, func(c string) bool { return strings.HasPrefix(c, "inspect") }) {
		t.Errorf("kind went on after a decoding error: %q", commands)
	}
}

func TestKindRejectsAnInvalidValue(t *testing.T) {
	raw, err := os.ReadFile(configFiles(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(raw), "role: worker", "role: minion", 1)
	path := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	err, _ = createWithStandInDocker(t, path, loadPins(t).Kind.NodeImage)
	if err == nil || !strings.Contains(err.Error(), "not a valid node role") {
		t.Fatalf("kind's validation should refuse role minion, got: %v", err)
	}
}

func TestConfigsGiveTheCourseCluster(t *testing.T) {
	for _, path := range configFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			config, err := decodeStrict(raw)
			if err != nil {
				t.Fatal(err)
			}
			if config.Name != "course" {
				t.Errorf("cluster name %q: Nodes must be called course-control-plane, course-worker, ...", config.Name)
			}
			var roles []string
			for _, node := range config.Nodes {
				roles = append(roles, string(node.Role))
				if node.Image != "" {
					t.Errorf("a node pins image %q: versions.yaml is the one place for it", node.Image)
				}
				if node.Labels["k8s-course/cni"] == "" {
					t.Error("every node needs the k8s-course/cni label: notebooks read capabilities from it")
				}
			}
			if want := []string{"control-plane", "worker", "worker"}; !slices.Equal(roles, want) {
				t.Errorf("roles %v, want %v", roles, want)
			}
			control := config.Nodes[0]
			if control.Labels["ingress-ready"] != "true" {
				t.Error("the control plane needs ingress-ready=true: the ingress controller runs there")
			}
			ports := map[int32]v1alpha4.PortMapping{}
			for _, mapping := range control.ExtraPortMappings {
				ports[mapping.ContainerPort] = mapping
			}
			for _, container := range []int32{80, 443} {
				mapping, ok := ports[container]
				if !ok || mapping.HostPort == 0 {
					t.Errorf("no host port for the control plane's port %d", container)
				}
				if mapping.ListenAddress != "127.0.0.1" {
					t.Errorf("port %d listens on %q: only this machine may reach it", container, mapping.ListenAddress)
				}
			}
			calico := control.Labels["k8s-course/cni"] == "calico"
			if config.Networking.DisableDefaultCNI != calico {
				t.Errorf("disableDefaultCNI is %v, but the cni label says %q", config.Networking.DisableDefaultCNI,
					control.Labels["k8s-course/cni"])
			}
			if calico && config.Networking.PodSubnet == "" {
				t.Error("the Calico variant must name its podSubnet (calico-installation.yaml uses the same)")
			}
		})
	}
}

// TestVariantsDifferOnlyInTheirNetwork keeps cluster.yaml and cluster-calico.yaml in step.
func TestVariantsDifferOnlyInTheirNetwork(t *testing.T) {
	dir := filepath.Join(setupDir(t), "kind")
	load := func(name string) *v1alpha4.Cluster {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		config, err := decodeStrict(raw)
		if err != nil {
			t.Fatal(err)
		}
		config.Networking = v1alpha4.Networking{}
		for i := range config.Nodes {
			delete(config.Nodes[i].Labels, "k8s-course/cni")
		}
		return config
	}
	plain, calico := load("cluster.yaml"), load("cluster-calico.yaml")
	plainYAML, _ := yaml.Marshal(plain)
	calicoYAML, _ := yaml.Marshal(calico)
	if !bytes.Equal(plainYAML, calicoYAML) {
		t.Errorf("cluster.yaml and cluster-calico.yaml differ beyond networking and the cni label:\n%s\n---\n%s",
			plainYAML, calicoYAML)
	}
}

// TestPinsMatchThisModule fails when versions.yaml and go.mod name different kind releases.
func TestPinsMatchThisModule(t *testing.T) {
	p := loadPins(t)
	if got := "v" + kindversion.Version(); got != p.Kind.Version {
		t.Errorf("go.mod requires kind %s, versions.yaml pins %s", got, p.Kind.Version)
	}
	if defaults.Image != p.Kind.NodeImage {
		t.Errorf("kind %s's default node image is %s, versions.yaml pins %s: check the pin",
			p.Kind.Version, defaults.Image, p.Kind.NodeImage)
	}
}
