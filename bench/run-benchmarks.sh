#!/usr/bin/env bash
# Reproduces the chat-server figures in BENCHMARKS.md on one machine: builds release chat-server
# and chat-bench, starts one redis-server and two chat-server instances on loopback, then runs
#   1. fanout 10 rooms x 50 members at increasing rates until delivery stops keeping up,
#   2. fanout at half the highest sustained rate (the p99 figure),
#   3. idle with 10,000 connections on freshly started instances (RSS per connection),
#   4. the whiteboard: strokes/s fanned out to 50 viewers (one board of 51 members, 5 drawing),
#      each rate run with the whiteboard protocol and then the chat protocol with the same 50
#      deliveries per send (one room of 50), side by side, until the whiteboard stops keeping up.
# Every JSON line goes to $OUT with the load average around it. Knobs (environment):
#   SCENARIOS="fanout idle whiteboard" (which of the above run), RATES="2000 4000 ..." (messages/s),
#   WHITEBOARD_RATES="500 1000 ..." (strokes/s), DURATION=10, WARMUP=3, SENDERS=100, IDLE=10000, SETTLE=40,
#   SIGNIN_DELAY=0, SKIP_BUILD=1, PROFILE=release, OUT=target/bench/results.jsonl,
#   REDIS_PORT/PORT_A/PORT_B.
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS=${SCENARIOS:-"fanout idle whiteboard"}
RATES=${RATES:-"2000 4000 6000 8000 9000 10000 12000"}
WHITEBOARD_RATES=${WHITEBOARD_RATES:-"1000 2000 3000 4000 5000 6000 8000"}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
SENDERS=${SENDERS:-100}
IDLE=${IDLE:-10000}
SETTLE=${SETTLE:-40} # longer than one ping interval (25 s), so ping traffic is in the RSS
SIGNIN_DELAY=${SIGNIN_DELAY:-0}
OUT=${OUT:-target/bench/results.jsonl}
REDIS_PORT=${REDIS_PORT:-26379}
PORT_A=${PORT_A:-28081}
PORT_B=${PORT_B:-28082}
LOGS=$(dirname "$OUT")
mkdir -p "$LOGS"

PROFILE=${PROFILE:-release}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --profile "$PROFILE" -p chat-server -p bench
fi
dir=target/$PROFILE
[ "$PROFILE" = dev ] && dir=target/debug
BENCH=$dir/chat-bench
SERVER=$dir/chat-server

pids=()
stop_all() { # the chat-servers first (newest first), so they drain while Redis is still up
  local index
  for ((index = ${#pids[@]} - 1; index >= 0; index--)); do
    kill "${pids[index]}" 2>/dev/null || true
    wait "${pids[index]}" 2>/dev/null || true
  done
  pids=()
}
trap stop_all EXIT

wait_ready() { # port
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "chat-server on port $1 did not become ready; see $LOGS/server-$1.log" >&2
  exit 1
}

start_all() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    >"$LOGS/redis.log" 2>&1 &
  REDIS_PID=$!
  pids+=("$REDIS_PID")
  sleep 0.3
  for port in "$PORT_A" "$PORT_B"; do
    # Benchmarks send far faster than one person types or draws: lift the per-socket rate limits.
    PORT=$port REDISHOST=127.0.0.1 REDISPORT=$REDIS_PORT RATE_LIMIT=off WHITEBOARD_RATE_LIMIT=off RUST_LOG=warn \
      "$SERVER" >"$LOGS/server-$port.log" 2>&1 &
    pids+=("$!")
  done
  SERVER_A=${pids[1]}
  SERVER_B=${pids[2]}
  wait_ready "$PORT_A"
  wait_ready "$PORT_B"
}

record() { # label, then the chat-bench arguments
  local label=$1
  shift
  local before line
  before=$(cut -d' ' -f1-3 /proc/loadavg)
  line=$("$BENCH" "$@" --signin-delay "$SIGNIN_DELAY") || return 1
  jq -c --arg run "$label" --arg up "$(uptime)" --arg load "$before" \
    '{"label": $run, "uptime": $up, "load_before": $load} + .' <<<"$line" | tee -a "$OUT"
}

targets=(--url "http://127.0.0.1:$PORT_A" --url "http://127.0.0.1:$PORT_B")
wants() { [[ " $SCENARIOS " == *" $1 "* ]]; }
# Sustained: nothing lost, the generator kept the schedule, and p99 stays under a second.
sustained() { # rate, then the JSON line on stdin
  jq -e --argjson rate "$1" '.lost_deliveries == 0 and .send_errors == 0
    and .send_rate >= 0.97 * $rate and .latency.p99_ms < 1000' >/dev/null
}

if wants fanout; then
echo "== fanout sweep (results in $OUT)" >&2
start_all
pid_args=(--pid "$SERVER_A" --pid "$SERVER_B" --pid "$REDIS_PID")
best=0
for rate in $RATES; do
  sleep 3 # let the servers finish closing the previous run's 500 sockets
  line=$(record "sweep-$rate" fanout "${targets[@]}" "${pid_args[@]}" --rooms 10 --members 50 \
    --senders "$SENDERS" --rate "$rate" --warmup "$WARMUP" --duration "$DURATION") || break
  if sustained "$rate" <<<"$line"; then
    best=$rate
  else
    break
  fi
done
echo "highest sustained rate: $best messages/s ($((best * 50)) deliveries/s)" >&2

if [ "$best" -gt 0 ]; then
  half=$((best / 2))
  echo "== fanout at half rate: $half messages/s" >&2
  sleep 3
  record "half-$half" fanout "${targets[@]}" "${pid_args[@]}" --rooms 10 --members 50 \
    --senders "$SENDERS" --rate "$half" --warmup "$WARMUP" --duration $((DURATION * 2)) >/dev/null
fi
stop_all
fi

if wants idle; then
echo "== idle: $IDLE connections on fresh instances" >&2
start_all
record "idle-$IDLE" idle "${targets[@]}" --pid "$SERVER_A" --pid "$SERVER_B" \
  --connections "$IDLE" --room-size 50 --settle "$SETTLE" >/dev/null
stop_all
fi

if wants whiteboard; then
echo "== whiteboard: strokes/s to 50 viewers, beside chat with 50 deliveries per message" >&2
start_all
pid_args=(--pid "$SERVER_A" --pid "$SERVER_B" --pid "$REDIS_PID")
best=0
for rate in $WHITEBOARD_RATES; do
  sleep 3
  line=$(record "whiteboard-$rate" fanout --protocol whiteboard "${targets[@]}" "${pid_args[@]}" \
    --rooms 1 --members 51 --senders 5 --rate "$rate" --warmup "$WARMUP" --duration "$DURATION") || break
  sleep 3
  record "chat-$rate" fanout --protocol chat "${targets[@]}" "${pid_args[@]}" \
    --rooms 1 --members 50 --senders 5 --rate "$rate" --warmup "$WARMUP" --duration "$DURATION" >/dev/null || true
  if sustained "$rate" <<<"$line"; then best=$rate; else break; fi
done
echo "highest sustained whiteboard rate: $best strokes/s ($((best * 50)) deliveries/s)" >&2
stop_all
fi
