package main

import (
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// viewerPassword is the password of the test configurations' users.
const viewerPassword = "correct horse battery"

// viewerHash is a cheap bcrypt hash of viewerPassword for test configs.
func viewerHash(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(viewerPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// getAs is a GET with basic credentials.
func getAs(url, user, pass string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(user, pass)
	return http.DefaultClient.Do(req)
}
