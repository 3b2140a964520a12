package influx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// MissingDatabaseError says that an InfluxDB 1.x database the bucket names
// does not exist and the configured user may not create it, and what an
// administrator has to run.
type MissingDatabaseError struct {
	Database string
	User     string // "" without authentication
	Reason   string // InfluxDB's answer to CREATE DATABASE
}

// Commands are the InfluxQL statements an administrator runs to fix it.
func (e *MissingDatabaseError) Commands() string {
	c := "CREATE DATABASE " + quoteIdent(e.Database)
	if e.User != "" {
		c += "; GRANT ALL ON " + quoteIdent(e.Database) + " TO " + quoteIdent(e.User)
	}
	return c
}

func (e *MissingDatabaseError) Error() string {
	who := "setsuden"
	if e.User != "" {
		who = fmt.Sprintf("user %q", e.User)
	}
	return fmt.Sprintf("InfluxDB database %q does not exist and %s may not create it (%s): as an InfluxDB admin run: influx -execute '%s'",
		e.Database, who, e.Reason, e.Commands())
}

// EnsureDatabase makes sure the InfluxDB 1.x database of bucket ("db/rp")
// exists: it asks /ping for the server's version (2.x and later have
// buckets, not databases: nothing to do), lists the databases, and creates a missing
// one with CREATE DATABASE, which needs an admin user when authentication
// is on. token is "user:pass" or "" as for the writer. created says the
// database was created now; a *MissingDatabaseError says it is missing
// and cannot be created with these credentials. Any other error means the
// server could not be asked (it is down): try again later.
func EnsureDatabase(ctx context.Context, client *http.Client, baseURL, token, bucket string) (created bool, err error) {
	base := strings.TrimRight(baseURL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ping", nil)
	if err != nil {
		return false, fmt.Errorf("influx url %q: %w", baseURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("ping InfluxDB: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// 2.x has buckets, made by its admin. A 1.x built from source says
	// "unknown": anything but 2.x is asked as 1.x.
	if v := strings.TrimPrefix(resp.Header.Get("X-Influxdb-Version"), "v"); strings.HasPrefix(v, "2.") || strings.HasPrefix(v, "3.") {
		return false, nil
	}
	db := DatabaseOf(bucket)
	user, pass, _ := strings.Cut(token, ":")

	var names []string
	if err := influxQL(ctx, client, base, user, pass, "SHOW DATABASES", &names); err != nil {
		var qe *queryError
		if !errors.As(err, &qe) {
			return false, err
		}
		// A user without admin rights may still list the databases it can
		// use; anything else is answered by trying to create it.
	}
	for _, n := range names {
		if n == db {
			return false, nil
		}
	}
	if err := influxQL(ctx, client, base, user, pass, "CREATE DATABASE "+quoteIdent(db), nil); err != nil {
		var qe *queryError
		if errors.As(err, &qe) {
			return false, &MissingDatabaseError{Database: db, User: user, Reason: qe.msg}
		}
		return false, err
	}
	return true, nil
}

// DatabaseOf is the InfluxDB 1.x database of a bucket "db/rp".
func DatabaseOf(bucket string) string {
	db, _, _ := strings.Cut(bucket, "/")
	return db
}

// queryError is an answer of InfluxDB refusing a statement (as opposed to
// not answering).
type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

// influxQL posts one statement to the v1 /query API; names, when not nil,
// receives the first column of the first series (SHOW DATABASES).
func influxQL(ctx context.Context, client *http.Client, base, user, pass, q string, names *[]string) error {
	form := url.Values{"q": {q}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("influxql %s: %w", q, err)
	}
	defer resp.Body.Close()
	var out struct {
		Error   string `json:"error"`
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(body, &out); err != nil {
		if resp.StatusCode >= 500 {
			return fmt.Errorf("influxql %s: HTTP %s", q, resp.Status)
		}
		return &queryError{fmt.Sprintf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(body)))}
	}
	if out.Error != "" {
		return &queryError{out.Error}
	}
	for _, r := range out.Results {
		if r.Error != "" {
			return &queryError{r.Error}
		}
		if names != nil {
			for _, s := range r.Series {
				for _, v := range s.Values {
					if len(v) > 0 {
						if n, ok := v[0].(string); ok {
							*names = append(*names, n)
						}
					}
				}
			}
		}
	}
	if resp.StatusCode != http.StatusOK {
		return &queryError{"HTTP " + resp.Status}
	}
	return nil
}
