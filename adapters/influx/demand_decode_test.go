package influx

import (
	"reflect"
	"strings"
	"testing"
)

// TestDecodeWindowsFastAgrees decodes InfluxQL responses with both
// decoders: the same windows where the fast one reads the form, and
// errNotFast (so decodeWindows decides, and names the error) otherwise.
func TestDecodeWindowsFastAgrees(t *testing.T) {
	same := []string{
		`{"results":[{"series":[{"tags":{"meter":"m"},"columns":["time","kw","kwh_total"],"values":[[ -5 , -0 , 0.1 ],[9223372036854775807,123456789012345,1234567890123456],[1720000000000000001,1.0,0.5],[3,-12.000000000001,1e-7],[4,99999.99999999999,-0.0]]}]}]}`,
		`{"results":[{"statement_id":0,"series":[{"name":"power","tags":{"category":"it","meter":"pdu-a"},"columns":["time","kw","kwh_total","kwh_reset"],"values":[[1720000000000000000,3.25,1000.125,null],[1720000010000000000,-4e-3,1000.5,true]]},{"name":"power","tags":{"category":"","meter":"p\"q\\u00e9"},"columns":["time","kw","kwh_total","kwh_reset"],"values":[[1720000000000000000,1E2,null,false],[1720000010000000000,"x",7,null]]}]}]}`,
		`{"results":[{"statement_id":0}]}`,
		"{ \"results\" : [ { \"series\" : [ { \"tags\" : { \"meter\" : \"m\" } , \"columns\" : [ \"time\" , \"kw\" ] , \"values\" : [ [ 5 , 0.1 ] ] , \"partial\" : true } ] } ] }\n",
		`{"results":[{"series":[{"tags":{"meter":"m","category":"c"},"columns":["time","kw"],"values":[[20,1]]},{"tags":{"meter":"m","category":"c"},"columns":["time","kw"],"values":[[10,2]]}]}]}`,
	}
	for _, body := range same {
		want, err := decodeWindows(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		got, err := decodeWindowsFast([]byte(body))
		if err != nil {
			t.Fatalf("%s: fast: %v", body, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d series, want %d", body, len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(*got[i], *want[i]) {
				t.Errorf("%s: series %d\n got %+v\nwant %+v", body, i, *got[i], *want[i])
			}
		}
	}
	notFast := []string{
		`{"error":"database not found"}`,
		`{"results":[{"statement_id":0,"error":"bad"}]}`,
		`{"results":[{"series":[{"tags":{"meter":"m"},"columns":["time","kw"],"values":[[5]]}]}]}`,
		`{"results":[{"series":[{"tags":{"meter":"m"},"columns":["time","kw"],"values":[[5,1,2]]}]}]}`,
		`{"results":[{"series":[{"tags":{"meter":"m"},"columns":["time","kw"],"values":[["5",1]]}]}]}`,
		`{"results":[{"series":[{"tags":{"meter":"m"},"columns":["time","kw"],"values":[[5,Inf]]}]}]}`,
		`{"results":[{"series":[{"columns":["time","kw"],"values":[[5,1]],"tags":{"meter":"m"}}]}]}`,
		`{"results":[{"series":[{"tags":{"meter":"m"},"columns":["time","kw"],"values":[[5,1]]}]}`,
		`{"results":[]} trailing`,
	}
	for _, body := range notFast {
		if _, err := decodeWindowsFast([]byte(body)); err != errNotFast {
			t.Errorf("%s: fast decoder said %v, want errNotFast", body, err)
		}
	}
}
