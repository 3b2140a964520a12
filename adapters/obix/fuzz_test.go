package obix

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to Parse and to everything that reads a
// parsed tree. Nothing may panic; a tree that parses must encode to a
// document that parses again.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`<obj><list name="values"><err href="x" is="obix:BadUriErr"/></list></obj>`))
	f.Add([]byte(`<reltime val="-P1DT2H3M4.5S"/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := parseTree(bytes.NewReader(data))
		if err != nil {
			if root != nil {
				t.Fatalf("error %v with a tree", err)
			}
			return
		}
		if _, err := Parse(bytes.NewReader(data)); err != nil && root.Kind != KindErr {
			t.Fatalf("parseTree accepted what Parse refused: %v", err)
		}
		if err := root.Resolve("https://station.example/obix/config/"); err != nil {
			t.Fatal(err)
		}
		root.walk(func(o *Obj) bool {
			_, _ = ValueOf(o, time.Time{})
			_ = o.Contracts()
			_ = StatusOf(o)
			_, _ = UnitSuffix(o.Unit)
			return true
		})
		_, _ = historyRecords(root)
		w := &Watch{obj: &Obj{Kind: KindObj}}
		_, _, _ = w.values(root)
		var buf bytes.Buffer
		if err := Encode(&buf, root); err != nil {
			return // element names outside what Encode writes
		}
		again, err := parseTree(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("encoded tree does not parse: %v\n%s", err, buf.Bytes())
		}
		if again.Kind != root.Kind || len(again.Children) != len(root.Children) {
			t.Fatalf("round trip changed the tree: <%s> with %d children became <%s> with %d", root.Kind, len(root.Children), again.Kind, len(again.Children))
		}
	})
}
