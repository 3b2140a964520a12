package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/setsuden/setsuden/server"
)

// cmdHashPassword reads a password from standard input (one line) and
// prints its bcrypt hash for server.operators[].password_hash. The password
// never appears in arguments, so it stays out of shell history and ps.
func cmdHashPassword(stdin io.Reader, stdout, stderr io.Writer) int {
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(stderr, "password (input is shown; pipe it in to avoid that): ")
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(stderr, "setsuden hash-password: no password on standard input")
		return 2
	}
	h, err := server.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		fmt.Fprintln(stderr, "setsuden hash-password:", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}
