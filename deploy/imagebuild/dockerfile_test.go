package imagebuild_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/guarantor/guarantor/deploy/imagebuild"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	cmd, args string
}

func parseDockerfile(t *testing.T, path string) [][]instruction {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		ins := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if ins.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], ins)
		}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if l, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

// TestDockerfiles: each Dockerfile builds the same image mkimage does: a multi-stage
// build of the static binary (CGO_ENABLED=0) onto distroless's non-root static base, at
// the same path, user, ports and entrypoint (exec form: there is no shell to run a
// shell form), and with nothing run in the final stage.
func TestDockerfiles(t *testing.T) {
	dir := filepath.Join(root(t), "deploy", "docker")
	for _, svc := range imagebuild.Names() {
		t.Run(svc, func(t *testing.T) {
			stages := parseDockerfile(t, filepath.Join(dir, svc+".Dockerfile"))
			if len(stages) < 2 {
				t.Fatalf("%d stages, want a multi-stage build", len(stages))
			}
			if _, err := os.Stat(filepath.Join(dir, svc+".Dockerfile.dockerignore")); err != nil {
				t.Errorf("no build-context ignore file: %v", err)
			}
			build, final := stages[0], stages[len(stages)-1]
			if from := final[0].args; from != "gcr.io/distroless/static:nonroot" && from != "gcr.io/distroless/static-debian12:nonroot" {
				t.Errorf("final stage FROM %s, want distroless static nonroot", from)
			}
			var buildLine string
			cgoOff := false
			for _, ins := range build {
				if (ins.cmd == "ENV" || ins.cmd == "ARG") && strings.Contains(ins.args, "CGO_ENABLED=0") {
					cgoOff = true
				}
				if ins.cmd == "RUN" && strings.Contains(ins.args, "go build") {
					buildLine = ins.args
				}
			}
			if !cgoOff {
				t.Error("the build stage does not set CGO_ENABLED=0")
			}
			pkg := imagebuild.Services[svc].Package
			if !strings.Contains(buildLine, "-o /out/"+svc+" "+pkg) {
				t.Errorf("the build stage does not build %s into /out/%s: %q", pkg, svc, buildLine)
			}
			want := map[string]string{
				"COPY":       "--from=build /out/" + svc + " " + imagebuild.Entrypoint(svc),
				"USER":       strconv.Itoa(imagebuild.User) + ":" + strconv.Itoa(imagebuild.User),
				"ENTRYPOINT": `["` + imagebuild.Entrypoint(svc) + `"]`,
			}
			got := map[string]string{}
			var exposed []int
			for _, ins := range final[1:] {
				switch ins.cmd {
				case "RUN":
					t.Errorf("the final stage runs %q: distroless has no shell", ins.args)
				case "EXPOSE":
					for _, f := range strings.Fields(ins.args) {
						n, err := strconv.Atoi(strings.TrimSuffix(f, "/tcp"))
						if err != nil {
							t.Errorf("EXPOSE %s", f)
						}
						exposed = append(exposed, n)
					}
				case "ENTRYPOINT":
					var argv []string
					if err := json.Unmarshal([]byte(ins.args), &argv); err != nil {
						t.Errorf("ENTRYPOINT %s is not in exec form", ins.args)
					}
					got[ins.cmd] = ins.args
				default:
					got[ins.cmd] = ins.args
				}
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s %q, want %q", k, got[k], v)
				}
			}
			ports := append([]int(nil), imagebuild.Services[svc].Ports...)
			slices.Sort(ports)
			slices.Sort(exposed)
			if !slices.Equal(ports, exposed) {
				t.Errorf("EXPOSE %v, the binary listens on %v", exposed, ports)
			}
		})
	}
}
