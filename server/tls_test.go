package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// TestServesHTTPSWithACertificate: with a certificate the server speaks
// TLS only, and its session cookie is Secure.
func TestServesHTTPSWithACertificate(t *testing.T) {
	cert, key := selfSigned(t)
	r := newRig(t, func(c *Config) { c.TLSCertFile, c.TLSKeyFile = cert, key })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	base := "https://" + ln.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Post(base+"/api/v1/session", "application/json", strings.NewReader(`{"name": "vera", "password": "`+testPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var secure bool
	for _, c := range resp.Cookies() {
		secure = secure || (c.Name == sessionCookie && c.Secure)
	}
	if resp.StatusCode != 200 || !secure || resp.TLS == nil {
		t.Errorf("login over TLS: %d, Secure cookie %v", resp.StatusCode, secure)
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on the TLS port")
		}
	}
	// A missing certificate is an error naming the setting.
	r2 := newRig(t, func(c *Config) { c.TLSCertFile, c.TLSKeyFile = "/nonexistent/cert.pem", key })
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := r2.srv.Serve(context.Background(), ln2); err == nil || !strings.Contains(err.Error(), "server.tls") {
		t.Errorf("missing certificate: %v", err)
	}
	ln2.Close()
}
