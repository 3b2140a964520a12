// Package web holds the browser UI that the binary serves: plain HTML, CSS
// and JavaScript, embedded so the single binary is the whole product.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var assets embed.FS

// Assets returns the UI files rooted at static/.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
