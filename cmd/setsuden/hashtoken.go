package main

import (
	"fmt"
	"io"

	"github.com/setsuden/setsuden/server"
)

// cmdHashToken makes a random API token and prints it once, with the
// SHA-256 to put in server.tokens[].sha256 (the token itself is never
// configured or stored).
func cmdHashToken(stdout io.Writer) int {
	tok, sum := server.NewToken()
	fmt.Fprintf(stdout, "token:  %s\nsha256: %s\n", tok, sum)
	return 0
}
