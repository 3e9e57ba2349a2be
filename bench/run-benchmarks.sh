#!/usr/bin/env bash
# Reproduces the chat-server figures in BENCHMARKS.md on one machine: builds release chat-server
# and chat-bench, then for each server under test starts one redis-server (or, for a server whose
# ENV_<label> has BUS=nats, one nats-server with JetStream) and two instances on loopback and runs
#   1. fanout 10 rooms x 50 members at each rate of $CURVE (the CPU / latency curve),
#   2. fanout at increasing rates ($RATES) until delivery stops keeping up (SWEEP=1),
#   3. fanout at half the highest sustained rate (the p99 figure, with the sweep),
#   4. idle with $IDLE connections on freshly started instances (RSS per connection),
#   5. the whiteboard: strokes/s fanned out to 50 viewers (one board of 51 members, 5 drawing),
#      each rate run with the whiteboard protocol and then the chat protocol with the same 50
#      deliveries per send (one room of 50), side by side, until the whiteboard stops keeping up
#      (chat-server builds only: the Node peer has no whiteboard).
# Every JSON line goes to $OUT with the load average around it; labels start with the server's.
# Knobs (environment):
#   SCENARIOS="fanout idle whiteboard" (which of the above run; fanout is 1-3),
#   WHITEBOARD_RATES="1000 2000 ..." (strokes/s);
#   SERVERS="label=path ..." servers to compare in this run (default: chat-server=the fresh build);
#   BEFORE=path: shorthand for SERVERS="before=path after=<fresh build>";
#   ENV_<label>="NAME=value ...": extra environment for that server's instances;
#   BUSES="redis nats": run every chat-server of SERVERS once per bus, labelled <label>-<bus>
#   (BUS=nats added to the environment of the nats runs), so the two buses compare in one run;
#   NODE_PEER=1: also measure bench/node-peer (the tutorial's server in Node, socket.io 4 +
#   @socket.io/redis-adapter; its npm packages are installed from its lockfile when missing);
#   CURVE="200 1000 3000 6000" (messages/s; x50 = deliveries/s), SWEEP=1,
#   RATES="2000 4000 ..." (messages/s), DURATION=10, WARMUP=3, SENDERS=100, IDLE=10000, SETTLE=40,
#   SIGNIN_DELAY=0, SKIP_BUILD=1, PROFILE=release, OUT=target/bench/results.jsonl,
#   REDIS_PORT/NATS_PORT/PORT_A/PORT_B;
#   PERF_EVENTS="syscalls:sys_enter_sendto,context-switches": `perf stat` counts of the two
#   instances over each fanout run (sign-in, warm-up and drain included), added to its line as
#   "perf" (counts do not depend on the neighbours' load the way CPU seconds do).
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS=${SCENARIOS:-"fanout idle whiteboard"}
RATES=${RATES:-"2000 4000 6000 8000 9000 10000 12000"}
WHITEBOARD_RATES=${WHITEBOARD_RATES:-"1000 2000 3000 4000 5000 6000 8000"}
CURVE=${CURVE:-"200 1000 3000 6000"}
SWEEP=${SWEEP:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
SENDERS=${SENDERS:-100}
IDLE=${IDLE:-10000}
SETTLE=${SETTLE:-40} # longer than one ping interval (25 s), so ping traffic is in the RSS
SIGNIN_DELAY=${SIGNIN_DELAY:-0}
OUT=${OUT:-target/bench/results.jsonl}
REDIS_PORT=${REDIS_PORT:-26379}
NATS_PORT=${NATS_PORT:-24222}
PORT_A=${PORT_A:-28081}
PORT_B=${PORT_B:-28082}
LOGS=$(dirname "$OUT")
mkdir -p "$LOGS"

PROFILE=${PROFILE:-release}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --profile "$PROFILE" -p chat-server -p bench
fi
dir=${CARGO_TARGET_DIR:-target}/$PROFILE
[ "$PROFILE" = dev ] && dir=${CARGO_TARGET_DIR:-target}/debug
BENCH=$dir/chat-bench
if [ -n "${BEFORE:-}" ]; then
  SERVERS=${SERVERS:-"before=$BEFORE after=$dir/chat-server"}
fi
SERVERS=${SERVERS:-"chat-server=$dir/chat-server"}
if [ -n "${BUSES:-}" ]; then
  each_bus=""
  for entry in $SERVERS; do
    for bus in $BUSES; do
      label="${entry%%=*}-$bus"
      each_bus="$each_bus $label=${entry#*=}"
      extra_var="ENV_${entry%%=*}"
      extra_var=${extra_var//[^A-Za-z0-9_]/_}
      label_var="ENV_${label//[^A-Za-z0-9_]/_}"
      printf -v "$label_var" '%s' "${!extra_var:-} BUS=$bus"
      export "${label_var?}"
    done
  done
  SERVERS=$each_bus
fi
if [ "${NODE_PEER:-0}" = 1 ]; then
  [ -d bench/node-peer/node_modules ] ||
    npm ci --prefix bench/node-peer --no-audit --no-fund --loglevel=error
  SERVERS="$SERVERS node-peer=bench/node-peer/server.mjs"
fi

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

start_all() { # server binary, then extra NAME=value environment for its instances
  local server=$1
  shift
  local bus_env
  if [[ " $* " == *" BUS=nats "* ]]; then
    # A fresh JetStream store per start, as redis-server starts empty.
    rm -rf "$LOGS/nats-store"
    nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$LOGS/nats-store" >"$LOGS/nats.log" 2>&1 &
    bus_env=(NATS_URL="nats://127.0.0.1:$NATS_PORT")
  else
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      >"$LOGS/redis.log" 2>&1 &
    bus_env=(REDISHOST=127.0.0.1 REDISPORT="$REDIS_PORT")
  fi
  REDIS_PID=$! # the bus's process (redis-server or nats-server), for its CPU figure
  pids+=("$REDIS_PID")
  sleep 0.3
  for port in "$PORT_A" "$PORT_B"; do
    # Benchmarks send far faster than one person types or draws: lift the per-socket rate limits.
    env PORT=$port "${bus_env[@]}" RATE_LIMIT=off \
      WHITEBOARD_RATE_LIMIT=off RUST_LOG=warn "$@" \
      "$server" >"$LOGS/server-$port.log" 2>&1 &
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
  local perf_out="" perf_pid=""
  if [ -n "${PERF_EVENTS:-}" ] && [ -n "${COUNT_PIDS:-}" ]; then
    perf_out=$LOGS/perf-$label.csv
    perf stat -x, -e "$PERF_EVENTS" -p "$COUNT_PIDS" -o "$perf_out" 2>/dev/null &
    perf_pid=$!
  fi
  line=$("$BENCH" "$@" --signin-delay "$SIGNIN_DELAY") || line=""
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    # perf stat -x, lines: count,unit,event,...
    [ -z "$line" ] || line=$(jq -c --argjson perf "$(awk -F, '$1 ~ /^[0-9]+$/ { printf "%s\"%s\":%s", (n++ ? "," : "{"), $3, $1 }
      END { print (n ? "}" : "{}") }' "$perf_out")" '. + {perf: $perf}' <<<"$line") || line=""
  fi
  [ -n "$line" ] || return 1
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

fanout() { # label, rate in messages/s, duration in s
  record "$1" fanout "${targets[@]}" "${pid_args[@]}" --rooms 10 --members 50 \
    --senders "$SENDERS" --rate "$2" --warmup "$WARMUP" --duration "$3"
}

bench_server() { # label, binary
  local name=$1 server=$2 extra_var="ENV_${1//[^A-Za-z0-9_]/_}"
  local extra=()
  read -r -a extra <<<"${!extra_var:-}"
  echo "== $name: $server ${extra[*]}" >&2
  if wants fanout; then
    start_all "$server" "${extra[@]}"
    pid_args=(--pid "$SERVER_A" --pid "$SERVER_B" --pid "$REDIS_PID")
    COUNT_PIDS="$SERVER_A,$SERVER_B"
    for rate in $CURVE; do
      sleep 3 # let the servers finish closing the previous run's 500 sockets
      fanout "$name-curve-$rate" "$rate" "$DURATION" >/dev/null || true
    done

    local best=0 line
    if [ "$SWEEP" = 1 ]; then
      echo "== $name: fanout sweep (results in $OUT)" >&2
      for rate in $RATES; do
        sleep 3
        line=$(fanout "$name-sweep-$rate" "$rate" "$DURATION") || break
        if sustained "$rate" <<<"$line"; then best=$rate; else break; fi
      done
      echo "$name: highest sustained rate: $best messages/s ($((best * 50)) deliveries/s)" >&2
    fi
    if [ "$best" -gt 0 ]; then
      local half=$((best / 2))
      echo "== $name: fanout at half rate: $half messages/s" >&2
      sleep 3
      fanout "$name-half-$half" "$half" $((DURATION * 2)) >/dev/null
    fi
    COUNT_PIDS=""
    stop_all
  fi

  if wants idle; then
    echo "== $name: idle: $IDLE connections on fresh instances" >&2
    start_all "$server" "${extra[@]}"
    record "$name-idle-$IDLE" idle "${targets[@]}" --pid "$SERVER_A" --pid "$SERVER_B" \
      --connections "$IDLE" --room-size 50 --settle "$SETTLE" >/dev/null
    stop_all
  fi

  if wants whiteboard && [ "$name" != node-peer ]; then
    echo "== $name: whiteboard: strokes/s to 50 viewers, beside chat with 50 deliveries per message" >&2
    start_all "$server" "${extra[@]}"
    pid_args=(--pid "$SERVER_A" --pid "$SERVER_B" --pid "$REDIS_PID")
    local board_best=0
    for rate in $WHITEBOARD_RATES; do
      sleep 3
      line=$(record "$name-whiteboard-$rate" fanout --protocol whiteboard "${targets[@]}" \
        "${pid_args[@]}" --rooms 1 --members 51 --senders 5 --rate "$rate" \
        --warmup "$WARMUP" --duration "$DURATION") || break
      sleep 3
      record "$name-chat-$rate" fanout --protocol chat "${targets[@]}" "${pid_args[@]}" \
        --rooms 1 --members 50 --senders 5 --rate "$rate" --warmup "$WARMUP" \
        --duration "$DURATION" >/dev/null || true
      if sustained "$rate" <<<"$line"; then board_best=$rate; else break; fi
    done
    echo "$name: highest sustained whiteboard rate: $board_best strokes/s ($((board_best * 50)) deliveries/s)" >&2
    stop_all
  fi
}

for entry in $SERVERS; do
  bench_server "${entry%%=*}" "${entry#*=}"
done
