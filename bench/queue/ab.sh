#!/bin/sh
# A/B of the write queue's CPU cost through bench/collector's setsuden-only
# mode: two setsuden binaries (A = before, B = after) poll the same 500
# simulated meters into influxd, in turns, ROUNDS times each; the median
# CPU s per million points of each and the ratio B/A are printed.
#   bench/queue/ab.sh BIN_A BIN_B [ROUNDS] [SECONDS]
# (Telegraf is not run: --telegraf /bin/true only satisfies the flag.)
set -eu
a=$1 b=$2 rounds=${3:-3} secs=${4:-30}
out=$(mktemp -d)
for r in $(seq "$rounds"); do
	for side in A B; do
		bin=$a; [ "$side" = B ] && bin=$b
		go run ./bench/collector --only setsuden --setsuden "$bin" --telegraf /bin/true --cpu-rounds 1 \
			--cpu-duration "${secs}s" --steps 500 --step-duration 2s 2>&1 |
			sed -n 's/.*median of 1 rounds \([0-9.]*\) CPU s per million points.*/\1/p' >>"$out/$side"
		echo "round $r $side: $(tail -n 1 "$out/$side") CPU s per million points" >&2
	done
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ma=$(median "$out/A") mb=$(median "$out/B")
echo "A $(tr '\n' ' ' <"$out/A")-> median $ma CPU s per million points"
echo "B $(tr '\n' ' ' <"$out/B")-> median $mb CPU s per million points"
awk -v a="$ma" -v b="$mb" 'BEGIN {printf "ratio B/A %.3f\n", b/a}'
rm -r "$out"
