package archtest

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// listModule runs `go list -json` over the whole module.
func listModule(t *testing.T) []Package {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", Module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func TestModuleObeysImportRules(t *testing.T) {
	pkgs := listModule(t)
	for _, v := range CheckImports(pkgs) {
		t.Error(v)
	}
	cores := 0
	for _, p := range pkgs {
		if Classify(p.ImportPath) == Core {
			cores++
		}
		vs, err := CheckWallClock(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			t.Error(v)
		}
	}
	if cores == 0 {
		t.Error("no core package classified: the classification no longer matches the layout")
	}
}

// The checker itself must catch what it claims to: each rule broken once, by a made-up package set.
func TestViolationsNameTheRule(t *testing.T) {
	m := Module + "/"
	cases := []struct {
		name string
		pkg  Package
		want string
	}{
		{"core imports net", Package{ImportPath: m + "ntpserve", Imports: []string{"net"}}, "cores never import net, os"},
		{"core imports os", Package{ImportPath: m + "gps", Imports: []string{"os"}}, "cores never import net, os"},
		{"core imports x/sys/unix", Package{ImportPath: m + "discipline", Imports: []string{"golang.org/x/sys/unix"}}, "cores never import net, os"},
		{"core reaches an edge", Package{ImportPath: m + "pps", Deps: []string{m + "pps/gpiocdev"}}, "a core never reaches an edge"},
		{"edge reaches an edge", Package{ImportPath: m + "pps/kpps", Deps: []string{m + "ntpserve/udp"}}, "never reaches another edge"},
		{"daemon reaches an edge", Package{ImportPath: m + "internal/daemon", Deps: []string{m + "ntpserve/udp"}}, "internal/daemon never reaches a concrete edge"},
		{"webui reaches an edge", Package{ImportPath: m + "webui", Deps: []string{m + "discipline/adjtimex"}}, "webui never reaches an edge"},
		{"daemon imports sim", Package{ImportPath: m + "internal/daemon", Imports: []string{m + "internal/sim"}}, "imported only by cmd/* and tests"},
		{"timebase imports a module", Package{ImportPath: m + "internal/timebase", Imports: []string{"github.com/adrianmo/go-nmea"}}, "import only the standard library"},
	}
	for _, c := range cases {
		vs := CheckImports([]Package{c.pkg})
		if len(vs) != 1 || !strings.Contains(vs[0].String(), c.want) {
			t.Errorf("%s: got %v, want one violation naming %q", c.name, vs, c.want)
		}
	}
	// Allowed shapes stay quiet.
	ok := []Package{
		{ImportPath: m + "ntpserve", Imports: []string{"net/netip", "time", m + "internal/timebase"}},
		{ImportPath: m + "ntpserve/udp", Imports: []string{"net", "golang.org/x/sys/unix"}, Deps: []string{m + "ntpserve"}},
		{ImportPath: m + "cmd/gpsntpd", Imports: []string{m + "internal/sim", m + "ntpserve/udp"}},
	}
	if vs := CheckImports(ok); len(vs) != 0 {
		t.Errorf("allowed imports flagged: %v", vs)
	}
}

func TestWallClockDetected(t *testing.T) {
	src := `package x
import clk "time"
func f() { _ = clk.Now(); clk.Sleep(1); _ = clk.Duration(3) }`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	vs := wallClockIn(fset, f, Module+"/gps")
	if len(vs) != 2 || !strings.Contains(vs[0].String(), "time.Now") || !strings.Contains(vs[1].String(), "time.Sleep") {
		t.Errorf("got %v, want time.Now and time.Sleep flagged and time.Duration not", vs)
	}
}
