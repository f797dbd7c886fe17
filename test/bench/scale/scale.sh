#!/usr/bin/env bash
# test/bench/scale/scale.sh measures twincrypt at many objects: it creates
# SCALE_N objects of 1 KiB in SCALE_P prefixes on two local-directory
# backends (test/bench/scale populate, straight through the namespace),
# then runs every maintenance command as an operator would (the real
# binary, peak RSS and wall time from /usr/bin/time -v) and times a
# 1,000-key listing page, a HEAD and a PROPFIND Depth 1 through a running
# `twincrypt serve`. Prints one line per measurement.
#
#   SCALE_N=100000 SCALE_P=1000 test/bench/scale/scale.sh   # from the repository root
#
# SCALE_DIR keeps the store between runs (default: a new temporary
# directory, removed at exit); populating is resumable, so a run with a
# larger SCALE_N over the same SCALE_DIR adds the missing objects.
# SCALE_OPS (default "scrub deep gc repair rebuild serve") picks the
# measurements; "redis" copies the catalog into a new redis-server
# (migrate-catalog) and measures serve and the same requests on it. That
# gateway serves the same providers with a catalog of its own: a later run
# over the same SCALE_DIR finds its records (the namespace epoch) ahead of
# the embedded catalog's, and repair takes them in. Populating skips fsync (eatmydata) when it is installed:
# it is set-up, not a measurement.
set -euo pipefail
BENCH_LOG=scale
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
: "${SCALE_N:=100000}" "${SCALE_P:=1000}" "${SCALE_OPS:=scrub deep gc repair rebuild serve}"
dir=${SCALE_DIR:-$work/store}
mkdir -p "$dir"
export TWINCRYPT_PASSPHRASE=bench-passphrase

go build -o "$work/twincrypt" ./cmd/twincrypt
go build -o "$work/scale" ./test/bench/scale
tc=$work/twincrypt

s3port=$(freeport) davport=$(freeport)
cfg() { # cfg CATALOG-FILE
	printf 'listen:\n  s3: 127.0.0.1:%s\n  webdav: 127.0.0.1:%s\nkeyring: twincrypt.keyring\ncatalog:\n  type: bolt\n  path: %s\nusers:\n  - access_key: %s\n    secret_key: %s\nbackends:\n  - {name: a, jurisdiction: DE, type: local, path: data/a}\n  - {name: b, jurisdiction: CH, type: local, path: data/b}\n' \
		"$s3port" "$davport" "$1" "$AK" "$SK"
}
cfg twincrypt.db >"$dir/gw.yaml"
cfg rebuilt.db >"$dir/rebuild.yaml"
[[ -f $dir/twincrypt.keyring ]] || "$tc" init -c "$dir/gw.yaml" >/dev/null

nosync=()
command -v eatmydata >/dev/null && nosync=(eatmydata)
log "populate $SCALE_N objects in $SCALE_P prefixes"
"${nosync[@]}" "$work/scale" populate -c "$dir/gw.yaml" -n "$SCALE_N" -p "$SCALE_P"
db=$(stat -c %s "$dir/twincrypt.db")
echo "catalog n=$SCALE_N bytes=$db bytes_per_object=$((db / SCALE_N))"

# measure NAME CMD...: peak RSS (MiB) and wall seconds of one command.
measure() {
	local name=$1; shift
	local rc=0
	/usr/bin/time -v -o "$work/time.$name" "$@" >"$work/out.$name" 2>&1 || rc=$?
	local rss wall
	rss=$(awk -F': ' '/Maximum resident/ {printf "%.1f", $2/1024}' "$work/time.$name")
	wall=$(awk -F': ' '/Elapsed \(wall/ {print $2}' "$work/time.$name")
	echo "$name n=$SCALE_N rc=$rc peak_rss_mib=$rss wall=$wall $(tail -n 1 "$work/out.$name" | tr -s ' \n' ' ')"
}

# serverside LOG: p50 and p90 (ms) of the requests' durations as the
# gateway's access log records them (without the client's share: minio-go
# parsing a 1,000-key listing of 385 KB of XML takes longer than the
# gateway serving it); listing pages (over 100 KB) apart from listings of
# one prefix.
serverside() {
	python3 -c '
import json, sys
ops = {}
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("msg") != "request":
        continue
    op = r.get("operation", "")
    if op == "ListObjectsV2":
        op = "list_page_1000" if r.get("bytes_out", 0) > 100000 else "list_prefix"
    ops.setdefault(op, []).append(r["duration"] / 1e6)
out = []
for op, d in sorted(ops.items()):
    d.sort()
    out.append("%s p50=%.2fms p90=%.2fms n=%d" % (op, d[len(d) // 2], d[int(len(d) * 0.9)], len(d)))
print("; ".join(out))' "$1"
}

for op in $SCALE_OPS; do
	case $op in
	scrub) measure scrub "$tc" scrub -c "$dir/gw.yaml" ;;
	deep) measure scrub-deep "$tc" scrub --deep -c "$dir/gw.yaml" ;;
	gc) measure gc "$tc" gc -c "$dir/gw.yaml" --dry-run ;;
	repair) measure repair "$tc" repair -c "$dir/gw.yaml" --deep=false ;;
	rebuild)
		rm -f "$dir/rebuilt.db"
		measure rebuild-catalog "$tc" rebuild-catalog -c "$dir/rebuild.yaml"
		echo "rebuilt-catalog n=$SCALE_N bytes=$(stat -c %s "$dir/rebuilt.db") bytes_per_object=$(($(stat -c %s "$dir/rebuilt.db") / SCALE_N))"
		;;
	serve)
		"$tc" serve -c "$dir/gw.yaml" >"$work/serve.log" 2>&1 &
		spid=$!; pids+=("$spid")
		waitport "$s3port" serve "$work/serve.log"
		echo "probe n=$SCALE_N $("$work/scale" probe -s3 "127.0.0.1:$s3port" -dav "http://127.0.0.1:$davport/" -access "$AK" -secret "$SK" -n "$SCALE_N" -p "$SCALE_P")"
		echo "server n=$SCALE_N $(serverside "$work/serve.log")"
		echo "serve n=$SCALE_N peak_rss_mib=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$spid/status")"
		kill "$spid"; wait "$spid" || true
		;;
	redis)
		rport=$(freeport)
		mkdir -p "$work/redis"
		redis-server --bind 127.0.0.1 --port "$rport" --dir "$work/redis" --save '' --appendonly no >"$work/redis.log" 2>&1 &
		pids+=($!); waitport "$rport" redis
		measure migrate-catalog "$tc" migrate-catalog -c "$dir/gw.yaml" --to "redis://127.0.0.1:$rport/0"
		echo "redis n=$SCALE_N used_memory_bytes_per_object=$(($(redis-cli -p "$rport" info memory | awk -F: '/^used_memory:/ {print $2+0}') / SCALE_N))"
		sed "s#^  type: bolt#  type: redis#; s#^  path: twincrypt.db#  url: redis://127.0.0.1:$rport/0#" "$dir/gw.yaml" >"$dir/redis.yaml"
		"$tc" serve -c "$dir/redis.yaml" >"$work/serve-redis.log" 2>&1 &
		spid=$!; pids+=("$spid")
		waitport "$s3port" serve-redis "$work/serve-redis.log"
		echo "probe-redis n=$SCALE_N $("$work/scale" probe -s3 "127.0.0.1:$s3port" -dav "http://127.0.0.1:$davport/" -access "$AK" -secret "$SK" -n "$SCALE_N" -p "$SCALE_P")"
		echo "server-redis n=$SCALE_N $(serverside "$work/serve-redis.log")"
		echo "serve-redis n=$SCALE_N peak_rss_mib=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$spid/status")"
		kill "$spid"; wait "$spid" || true
		;;
	esac
done
