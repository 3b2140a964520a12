//go:build !unix

package influx

import (
	"math"
	"os"
)

// Without flock and statfs the queue directory is not locked and its free
// space is not checked (setsuden is built for Linux; this keeps other
// builds compiling).
func lockDir(string) (*os.File, error) { return nil, nil }
func unlockDir(*os.File)               {}
func freeBytes(string) (int64, error)  { return math.MaxInt64 / 2, nil }
func syncDir(string) error             { return nil }
