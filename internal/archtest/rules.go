package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
)

// Module is this project's module path.
const Module = "github.com/gpsntp/gpsntp"

// Package is what the checks need to know of one package, as `go list -json` reports it.
type Package struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string // direct
	Deps       []string // transitive
}

// Class is a package's role in the architecture.
type Class int

const (
	Other Class = iota
	Leaf
	Core
	Edge
	Composer
	WebUI
	Command
	Tool // simulator and load generator: for commands and tests only
)

var classNames = map[Class]string{Other: "other", Leaf: "leaf", Core: "core", Edge: "edge", Composer: "composer", WebUI: "webui", Command: "command", Tool: "tool"}

func (c Class) String() string { return classNames[c] }

// edges lists the edge packages by path below the module; everything else below a core's path is core.
var edges = []string{
	"gps/serialdev", "pps/kpps", "pps/gpiocdev", "discipline/adjtimex", "discipline/dacosc",
	"ntpserve/udp", "ntpserve/ntske", "leap/kernel", "internal/statefile",
}

var cores = []string{"gps", "pps", "discipline", "leap", "ntpserve", "board", "ota"}

// Classify names a package's role from its import path.
func Classify(path string) Class {
	if path != Module && !strings.HasPrefix(path, Module+"/") {
		return Other
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(path, Module), "/")
	under := func(p string) bool { return rel == p || strings.HasPrefix(rel, p+"/") }
	for _, e := range edges {
		if under(e) {
			return Edge
		}
	}
	switch {
	case under("internal/timebase"), under("internal/status"):
		return Leaf
	case under("internal/daemon"):
		return Composer
	case under("internal/sim"), under("internal/loadgen"), under("internal/scenario"), under("internal/servocmp"):
		return Tool
	case under("webui"):
		return WebUI
	case under("cmd"):
		return Command
	}
	for _, c := range cores {
		if under(c) {
			return Core
		}
	}
	return Other
}

// Violation is one broken rule.
type Violation struct {
	Package string
	Reached string
	Rule    string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s reaches %s: %s", v.Package, v.Reached, v.Rule)
}

// Rules, each with the reason a reader needs to fix the code rather than the test.
const (
	ruleLeafStdlib    = "rule: internal/timebase and internal/status import only the standard library and each other (they are the vocabulary every package shares; a dependency there is a dependency everywhere)"
	ruleCoreIO        = "rule: cores never import net, os, syscall, x/sys/unix or periph.io/x/host (cores are pure so they run in virtual time; I/O belongs in an edge)"
	ruleCoreNoEdge    = "rule: a core never reaches an edge (edges depend on cores, not the reverse)"
	ruleEdgeNoEdge    = "rule: an edge never reaches another edge (each edge translates one device; the daemon composes them)"
	ruleComposer      = "rule: internal/daemon never reaches a concrete edge (edges arrive as interfaces or channels, so the simulator can stand in)"
	ruleWebUI         = "rule: webui never reaches an edge or the daemon's internals' edges (it reads a status provider only and cannot touch the time path)"
	ruleToolsCmdOnly  = "rule: internal/sim, internal/scenario and internal/loadgen are imported only by cmd/* and tests (simulation must never be wired into the product by accident)"
	ruleCoreWallClock = "rule: cores never read or wait on the wall clock (time.Now, time.Sleep, timers); pass now in and return wake-up times"
)

var forbiddenInCore = map[string]bool{"net": true, "os": true, "syscall": true, "os/exec": true, "os/signal": true}

func forbiddenCoreImport(p string) bool {
	return forbiddenInCore[p] ||
		p == "golang.org/x/sys/unix" || strings.HasPrefix(p, "golang.org/x/sys/unix/") ||
		strings.HasPrefix(p, "periph.io/x/host")
}

// CheckImports applies the import rules to a package set.
func CheckImports(pkgs []Package) []Violation {
	var out []Violation
	add := func(p, reached, rule string) { out = append(out, Violation{p, reached, rule}) }
	for _, p := range pkgs {
		class := Classify(p.ImportPath)
		for _, imp := range p.Imports {
			switch class {
			case Leaf:
				// Standard library paths have no dot in their first element.
				if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && Classify(imp) != Leaf {
					add(p.ImportPath, imp, ruleLeafStdlib)
				}
			case Core:
				if forbiddenCoreImport(imp) {
					add(p.ImportPath, imp, ruleCoreIO)
				}
			}
			if Classify(imp) == Tool && class != Command && class != Tool {
				add(p.ImportPath, imp, ruleToolsCmdOnly)
			}
		}
		for _, dep := range p.Deps {
			dc := Classify(dep)
			switch class {
			case Core:
				if dc == Edge {
					add(p.ImportPath, dep, ruleCoreNoEdge)
				} else if strings.HasPrefix(dep, "golang.org/x/sys/unix") || strings.HasPrefix(dep, "periph.io/x/host") {
					add(p.ImportPath, dep, ruleCoreIO)
				}
			case Edge:
				if dc == Edge && dep != p.ImportPath {
					add(p.ImportPath, dep, ruleEdgeNoEdge)
				}
			case Composer:
				if dc == Edge {
					add(p.ImportPath, dep, ruleComposer)
				}
			case WebUI:
				if dc == Edge {
					add(p.ImportPath, dep, ruleWebUI)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

var wallClock = map[string]bool{
	"Now": true, "Sleep": true, "Since": true, "Until": true, "After": true, "AfterFunc": true,
	"Tick": true, "NewTimer": true, "NewTicker": true,
}

// CheckWallClock parses a core package's non-test Go files and reports every use of the wall clock through
// the time package, under whatever name the file imports it.
func CheckWallClock(p Package) ([]Violation, error) {
	if Classify(p.ImportPath) != Core {
		return nil, nil
	}
	var out []Violation
	fset := token.NewFileSet()
	for _, name := range p.GoFiles {
		path := filepath.Join(p.Dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		out = append(out, wallClockIn(fset, f, p.ImportPath)...)
	}
	return out, nil
}

func wallClockIn(fset *token.FileSet, f *ast.File, pkg string) []Violation {
	local := ""
	for _, imp := range f.Imports {
		if strings.Trim(imp.Path.Value, `"`) == "time" {
			local = "time"
			if imp.Name != nil {
				local = imp.Name.Name
			}
		}
	}
	if local == "" || local == "_" {
		return nil
	}
	var out []Violation
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == local && wallClock[sel.Sel.Name] {
			pos := fset.Position(sel.Pos())
			out = append(out, Violation{pkg, fmt.Sprintf("time.%s at %s:%d", sel.Sel.Name, filepath.Base(pos.Filename), pos.Line), ruleCoreWallClock})
		}
		return true
	})
	return out
}
