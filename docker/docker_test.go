// Package docker_test checks docker/Dockerfile without a Docker engine (the CI machines have
// none): every file and script it copies or runs exists, and what it asks of them is there.
package docker_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}()

// instructions returns the Dockerfile's instructions with continuation lines joined.
func instructions(t *testing.T) [][2]string {
	f, err := os.Open(filepath.Join(repoRoot, "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		kw, rest, _ := strings.Cut(cur.String(), " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(rest)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(filepath.Join(repoRoot, path))
	return err == nil
}

func TestDockerfileReferencesExist(t *testing.T) {
	ins := instructions(t)
	if len(ins) == 0 || ins[0][0] != "FROM" {
		t.Fatalf("the Dockerfile must start with FROM, got %v", ins)
	}
	// The image's Go must be the go.mod's (go 1.26.x needs a 1.26 image).
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVer == nil || !strings.Contains(ins[0][1], "golang:"+string(goVer[1])) {
		t.Errorf("FROM %s: want a golang:%s image (go.mod)", ins[0][1], goVer[1])
	}
	// Paths inside the repository that RUN lines use: kernel/install.sh, ./cmd/flowers, ...
	repoPath := regexp.MustCompile(`(?:^|\s)(\./)?((?:kernel|docker|notebooks|flowerlib|cmd)/[\w./-]*[\w-])`)
	var copied, ran []string
	for _, in := range ins {
		switch in[0] {
		case "COPY", "ADD":
			fields := strings.Fields(in[1])
			var srcs []string
			for _, f := range fields[:len(fields)-1] {
				if !strings.HasPrefix(f, "--") {
					srcs = append(srcs, f)
				}
			}
			for _, s := range srcs {
				if !exists(s) {
					t.Errorf("%s %s: %q does not exist in the repository", in[0], in[1], s)
				}
				copied = append(copied, s)
			}
		case "RUN":
			for _, m := range repoPath.FindAllStringSubmatch(in[1], -1) {
				if !exists(m[2]) {
					t.Errorf("RUN uses %q, which does not exist in the repository", m[2])
				}
				ran = append(ran, m[2])
			}
		}
	}
	if len(copied) == 0 || copied[0] != "." {
		t.Errorf("the Dockerfile must COPY the repository (.), copies %q", copied)
	}
	for _, want := range []string{"kernel/install.sh", "cmd/flowers"} {
		found := false
		for _, r := range ran {
			found = found || r == want
		}
		if !found {
			t.Errorf("no RUN uses %s (ran %q)", want, ran)
		}
	}
	// The image installs the XLA CPU plugin at build time, with the command users run.
	setup := false
	for _, in := range ins {
		setup = setup || (in[0] == "RUN" && regexp.MustCompile(`go run \./cmd/flowers setup -dir /usr/local/lib\b`).MatchString(in[1]))
	}
	if !setup {
		t.Error("no RUN installs the XLA CPU plugin with `go run ./cmd/flowers setup -dir /usr/local/lib`")
	}
	// JupyterLab comes from kernel/install.sh, pinned as users get it, not from a pip line of its own.
	pinned := false
	for _, in := range ins {
		if in[0] == "RUN" && regexp.MustCompile(`pip3? install[^&]*jupyterlab`).MatchString(in[1]) {
			t.Errorf("RUN %s: JupyterLab must come from kernel/install.sh (pinned by .ci/requirements-test.txt)", in[1])
		}
		pinned = pinned || (in[0] == "RUN" && strings.Contains(in[1], "FLOWERS_JUPYTERLAB_DIR=/opt/jupyter") && strings.Contains(in[1], "kernel/install.sh"))
	}
	if !pinned {
		t.Error("no RUN makes JupyterLab in /opt/jupyter (on the image's PATH) with FLOWERS_JUPYTERLAB_DIR=/opt/jupyter bash kernel/install.sh")
	}
}

func TestDockerfileInstallFlags(t *testing.T) {
	help, err := exec.Command("bash", filepath.Join(repoRoot, "kernel", "install.sh"), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("kernel/install.sh --help: %v\n%s", err, help)
	}
	for _, in := range instructions(t) {
		if in[0] != "RUN" || !strings.Contains(in[1], "kernel/install.sh") {
			continue
		}
		_, args, _ := strings.Cut(in[1], "kernel/install.sh")
		for _, f := range regexp.MustCompile(`--[a-z-]+`).FindAllString(args, -1) {
			if !strings.Contains(string(help), f) {
				t.Errorf("the Dockerfile passes %s to kernel/install.sh, which does not document it", f)
			}
		}
	}
}

func TestDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker", "Dockerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		for _, needed := range []string{"go.mod", "go.sum", "kernel", "kernel/install.sh", "kernel/tools", "docker", "flowerlib", "notebooks", "notebooks/flowers.ipynb", "cmd"} {
			if ok, _ := filepath.Match(p, needed); ok || p == needed {
				t.Errorf("Dockerfile.dockerignore excludes %s, which the image needs", needed)
			}
		}
	}
}
