package shed

import "testing"

func TestL2(t *testing.T) {
	cases := []struct {
		w    []float64
		c    float64
		want int
	}{
		{nil, 10, 0},
		{[]float64{5, 5, 5, 5}, 10, 2},
		{[]float64{6, 6, 6}, 10, 3},                   // all > c/2
		{[]float64{6, 6, 6, 4, 4, 4}, 10, 3},          // each 4 pairs with a 6
		{[]float64{6, 6, 6, 4, 4, 4, 4}, 10, 4},       // one 4 left over
		{[]float64{7, 7, 4, 4, 4}, 10, 4},             // L1 = 3, L2 sees the 4s cannot join the 7s
		{[]float64{3, 3, 3, 3, 3, 3, 3, 3, 3}, 10, 3}, // L1 = 3
		{[]float64{11}, 10, 1},
	}
	for _, c := range cases {
		if got := L2(append([]float64(nil), c.w...), c.c); got != c.want {
			t.Errorf("L2(%v, %v) = %d, want %d", c.w, c.c, got, c.want)
		}
	}
}

func TestCoverCount(t *testing.T) {
	if got := coverCount([]float64{10, 20, 5}, 25); got != 2 {
		t.Errorf("coverCount = %d, want 2", got)
	}
	if got := coverCount([]float64{10}, 25); got != 2 {
		t.Errorf("coverCount short = %d, want 2 (len+1)", got)
	}
}

func TestMediumBound(t *testing.T) {
	// Twenty items of 0.45 pair up leaving 0.1, too small for the five
	// 0.2s: OPT is 11 (10 pairs + 1, or 9 pairs and two 0.45+0.2+0.2).
	// L2 sees only the total (10).
	var w []float64
	for range 20 {
		w = append(w, 0.45)
	}
	for range 5 {
		w = append(w, 0.2)
	}
	if got := L2(append([]float64(nil), w...), 1); got != 10 {
		t.Errorf("L2 = %d, want 10", got)
	}
	if got := mediumBound(append([]float64(nil), w...), 1); got != 11 {
		t.Errorf("mediumBound = %d, want 11", got)
	}
	// Six 0.47 and six 0.3: OPT 5 (three pairs, two bins of three 0.3).
	w = []float64{0.47, 0.47, 0.47, 0.47, 0.47, 0.47, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3}
	if got := mediumBound(w, 1); got > 5 {
		t.Errorf("mediumBound = %d, above OPT 5", got)
	}
}
