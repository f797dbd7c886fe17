#!/usr/bin/env bash
# test/bench/scale/resume.sh measures interrupted and resumed maintenance:
# on a store of SCALE_N objects of 1 KiB (test/bench/scale populate, two
# local-directory backends) it times `scrub` (twice, alternating with the
# binary BASE_BIN when set: the cost of the checkpoints), then a scrub sent
# SIGINT at half its time and resumed with --resume, then the same for
# `rebuild-catalog` into a new catalog file, and checks that the resumed
# reports equal the uninterrupted ones. Prints one line per run.
#
#   SCALE_N=50000 BASE_BIN=/path/to/old/twincrypt test/bench/scale/resume.sh   # from the repository root
set -euo pipefail
BENCH_LOG=resume
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
: "${SCALE_N:=50000}" "${SCALE_P:=500}"
dir=$work/store
mkdir -p "$dir"
export TWINCRYPT_PASSPHRASE=bench-passphrase
go build -o "$work/twincrypt" ./cmd/twincrypt
go build -o "$work/scale" ./test/bench/scale
tc=$work/twincrypt
cfg() { # cfg CATALOG-FILE
	printf 'listen:\n  s3: 127.0.0.1:0\n  webdav: 127.0.0.1:0\nkeyring: twincrypt.keyring\ncatalog:\n  type: bolt\n  path: %s\nusers:\n  - access_key: %s\n    secret_key: %s\nbackends:\n  - {name: a, jurisdiction: DE, type: local, path: data/a}\n  - {name: b, jurisdiction: CH, type: local, path: data/b}\n' "$1" "$AK" "$SK"
}
cfg twincrypt.db >"$dir/gw.yaml"
cfg rebuilt.db >"$dir/rebuild.yaml"
"$tc" init -c "$dir/gw.yaml" >/dev/null
nosync=()
command -v eatmydata >/dev/null && nosync=(eatmydata)
log "populate $SCALE_N objects"
"${nosync[@]}" "$work/scale" populate -c "$dir/gw.yaml" -n "$SCALE_N" -p "$SCALE_P" >/dev/null

# m NAME CMD...: wall seconds and peak RSS of one command, and its report line.
m() {
	local name=$1; shift
	local rc=0
	/usr/bin/time -f "%e %M" -o "$work/time.$name" "$@" >"$work/out.$name" 2>"$work/err.$name" || rc=$?
	if ((rc != 0)); then
		echo "$name: exit status $rc: $(tail -n 3 "$work/err.$name")" >&2
		exit 1
	fi
	echo "$name n=$SCALE_N rc=$rc wall_s=$(tail -n 1 "$work/time.$name" | cut -d' ' -f1) rss_mib=$(($(tail -n 1 "$work/time.$name" | cut -d' ' -f2) / 1024)) load=$(cut -d' ' -f1 /proc/loadavg) | $(grep -m1 -e '^checked' -e '^rebuilt' "$work/out.$name" || true)"
}
# interrupt NAME SECONDS CMD...: runs CMD, sends SIGINT after SECONDS.
interrupt() {
	local name=$1 after=$2; shift 2
	"$@" >"$work/out.$name" 2>"$work/err.$name" &
	local pid=$!
	sleep "$after"
	kill -INT "$pid"
	wait "$pid" || true
	if ! grep -q 'interrupted (.*); run again' "$work/err.$name"; then
		echo "$name: NOT INTERRUPTED after ${after}s (the run ended first: use a larger SCALE_N)" >&2
		exit 1
	fi
	echo "$name n=$SCALE_N after_s=$after | $(grep -o 'interrupted (.*); run again' "$work/err.$name")"
}
half() { awk '{printf "%.1f", $1 / 2}' <(tail -n 1 "$work/time.$1"); }

for i in 1 2; do
	[[ -n ${BASE_BIN:-} ]] && m "scrub-base-$i" "$BASE_BIN" scrub -c "$dir/gw.yaml"
	m "scrub-$i" "$tc" scrub -c "$dir/gw.yaml"
done
interrupt scrub-interrupted "$(half scrub-2)" "$tc" scrub -c "$dir/gw.yaml"
m scrub-resumed "$tc" scrub -c "$dir/gw.yaml" --resume
if diff <(grep -v '^resumed' "$work/out.scrub-resumed") "$work/out.scrub-2" >/dev/null; then echo "scrub: resumed report equals one run's"; else echo "scrub: REPORTS DIFFER" >&2; exit 1; fi

m rebuild "$tc" rebuild-catalog -c "$dir/rebuild.yaml"
rm -f "$dir/rebuilt.db"
interrupt rebuild-interrupted "$(half rebuild)" "$tc" rebuild-catalog -c "$dir/rebuild.yaml"
m rebuild-resumed "$tc" rebuild-catalog -c "$dir/rebuild.yaml" --resume
# The skipped count may differ (docs/OPERATIONS.md): compare the rest.
noskip() { grep '^rebuilt' "$1" | sed 's/, [0-9]* skipped//'; }
if diff <(noskip "$work/out.rebuild-resumed") <(noskip "$work/out.rebuild"); then echo "rebuild: resumed report equals one run's (but skipped)"; else echo "rebuild: REPORTS DIFFER" >&2; exit 1; fi
m scrub-rebuilt "$tc" scrub -c "$dir/rebuild.yaml"
