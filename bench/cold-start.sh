#!/usr/bin/env bash
# Cold start: latency of the first 3 s of load (wrk, 50 connections) on a proxy that has just started, for
# canaryd, the bare undici proxy and http-proxy; and canaryd's RSS over 60 s of load (the transient before
# V8's first full GC). Needs `npm run build` and wrk (`npm run bench` installs it). 127.0.0.1 only, bounded.
#   bash bench/cold-start.sh [trials]      (NODE_FLAGS overrides the container's --max-semi-space-size=4)
set -eu
cd "$(dirname "$0")/.."
trials=${1:-3}
flags=${NODE_FLAGS:---max-semi-space-size=4}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
up=$(free_port); px=$(free_port); adm=$(free_port)
taskset -c 0 node -e "require('http').createServer((q,s)=>s.end('ok')).listen($up,'127.0.0.1')" & sleep 0.3
cat > "$dir/c.yaml" <<YAML
listen: 127.0.0.1:$px
admin: { listen: 127.0.0.1:$adm }
upstreams:
  baseline: { url: http://127.0.0.1:$up, version: v1 }
  canary: { url: http://127.0.0.1:$up, version: v2 }
routing:
  canaryWeight: 50
  sticky: { header: x-user-id }
  rules:
    - { name: beta-testers, match: { header: { x-beta: "1" } }, to: canary }
state: { dir: "$dir/state" }
YAML
cat > "$dir/s.lua" <<'LUA'
local i = 0
request = function() i = (i + 1) % 1000; return wrk.format("GET", "/", { ["x-user-id"] = "u" .. i }) end
LUA
burst() { taskset -c 0 wrk -t1 -c50 -d3s -s "$dir/s.lua" --latency "$1" | awk '/^    Latency/{m=$4} / 99%/{p=$2} /Requests\/sec/{r=$2} END{printf "max %s  p99 %s  req/s %s\n", m, p, r}'; }
wait_port() { until curl -s -o /dev/null --max-time 0.05 "http://127.0.0.1:$1/"; do sleep 0.01; done; }
for t in $(seq 1 "$trials"); do
  taskset -c 1 node $flags dist/cli/canaryd.js --config "$dir/c.yaml" > "$dir/cd.log" 2>&1 & pid=$!
  wait_port "$px"; echo "canaryd      $(burst "http://127.0.0.1:$px/")"; kill $pid; wait $pid 2>/dev/null || true
  for s in bare-undici-server http-proxy-server; do
    taskset -c 1 node $flags "dist/bench/$s.js" "http://127.0.0.1:$up" > "$dir/p.log" 2>&1 & pid=$!
    until grep -q listening "$dir/p.log"; do sleep 0.01; done
    port=$(grep -o 'listening [0-9]*' "$dir/p.log" | awk '{print $2}')
    printf '%-12s %s\n' "${s%-server}" "$(burst "http://127.0.0.1:$port/")"; kill $pid; wait $pid 2>/dev/null || true
  done
done
taskset -c 1 node $flags dist/cli/canaryd.js --config "$dir/c.yaml" > "$dir/cd.log" 2>&1 & pid=$!
wait_port "$px"
echo "canaryd RSS: idle $(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status) MB"
taskset -c 0 wrk -t1 -c50 -d60s -s "$dir/s.lua" "http://127.0.0.1:$px/" > /dev/null & w=$!
line=""
for i in $(seq 1 12); do sleep 5; line="$line $((i * 5))s:$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status)"; done
wait $w || true
echo "canaryd RSS under load, MB:$line; high-water $(awk '/VmHWM/{print int($2/1024)}' /proc/$pid/status) MB"
kill $pid
