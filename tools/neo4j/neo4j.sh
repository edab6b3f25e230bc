#!/usr/bin/env bash
# Dev/CI Neo4j 5.26 community server (embedded, Bolt only, loopback).
# Usage: tools/neo4j/neo4j.sh {build|start|stop|restart|status|logs}
# See tools/neo4j/README.md for the environment variables.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${NTK_NEO4J_PORT:-7687}"
HOST="${NTK_NEO4J_HOST:-127.0.0.1}"
DATA_DIR="${NTK_NEO4J_DATA:-$DIR/.data}"
RUN_DIR="${NTK_NEO4J_RUN:-$DIR/.run}"
HEAP="${NTK_NEO4J_HEAP:-2g}"
TIMEOUT="${NTK_NEO4J_START_TIMEOUT:-120}"
PID_FILE="$RUN_DIR/neo4j.pid"
LOG_FILE="$RUN_DIR/neo4j.log"
JAR="$DIR/target/ntk-neo4j-launcher.jar"
LIB="$DIR/target/lib"
MAIN=dev.needtoknow.neo4j.Launcher
READY=NTK_NEO4J_READY

export NTK_NEO4J_PORT="$PORT" NTK_NEO4J_HOST="$HOST" NTK_NEO4J_DATA="$DATA_DIR"

log() { echo "neo4j.sh: $*" >&2; }

needs_build() {
  [[ -f "$JAR" && -d "$LIB" ]] || return 0
  [[ -n "$(find "$DIR/pom.xml" "$DIR/src" -newer "$JAR" -type f -print -quit)" ]]
}

cmd_build() {
  if needs_build; then
    command -v mvn >/dev/null || { log "mvn not found (need Maven 3.8+ and Java 17+)"; exit 1; }
    log "building launcher (first build downloads ~170 MB from Maven Central)..."
    (cd "$DIR" && rm -rf target/lib && mvn -q -B -Dstyle.color=never package 2>&1 \
      | sed 's/\x1b\[[0-9;]*m//g' >&2) || { log "build failed"; exit 1; }
    # Make sure the jar is newer than the sources even if mvn skipped the jar step.
    touch "$JAR"
  fi
}

# Prints the pid if our launcher is running, else returns 1.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid; pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$MAIN" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid, bolt://$HOST:$PORT)"
    return 0
  fi
  if port_open; then
    log "port $HOST:$PORT is already in use by another process; set NTK_NEO4J_PORT"
    exit 1
  fi
  cmd_build
  mkdir -p "$RUN_DIR" "$DATA_DIR"
  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  rm -f "$PID_FILE"
  # shellcheck disable=SC2086
  setsid java \
    -Xms256m -Xmx"$HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    -XX:-OmitStackTraceInFastThrow -XX:+DisableExplicitGC \
    -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true \
    -Dlog4j2.disable.jmx=true \
    --add-opens=java.base/java.nio=ALL-UNNAMED \
    --add-opens=java.base/java.io=ALL-UNNAMED \
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
    --add-opens=java.base/java.lang=ALL-UNNAMED \
    ${NTK_NEO4J_JAVA_OPTS:-} \
    -cp "$JAR:$LIB/*" "$MAIN" "$PORT" "$DATA_DIR" \
    </dev/null >"$LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid" > "$PID_FILE"
  log "starting (pid $pid, bolt://$HOST:$PORT, data $DATA_DIR, log $LOG_FILE)"
  local start=$SECONDS
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "server exited during startup; last log lines:"
      tail -n 40 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      exit 1
    fi
    if grep -q "^$READY" "$LOG_FILE" 2>/dev/null && port_open; then
      log "ready after $((SECONDS - start)) s: bolt://$HOST:$PORT"
      return 0
    fi
    if (( SECONDS - start >= TIMEOUT )); then
      log "timed out after ${TIMEOUT}s waiting for Bolt on $HOST:$PORT; last log lines:"
      tail -n 40 "$LOG_FILE" >&2 || true
      log "server left running as pid $pid; run '$0 stop' to stop it"
      exit 1
    fi
    sleep 0.5
  done
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running"
    rm -f "$PID_FILE"
    return 0
  fi
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 120; i++)); do  # up to 60 s for a clean shutdown
    kill -0 "$pid" 2>/dev/null || { rm -f "$PID_FILE"; log "stopped"; return 0; }
    sleep 0.5
  done
  log "pid $pid did not exit after 60 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 1
  rm -f "$PID_FILE"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if port_open; then
      echo "running (pid $pid, bolt://$HOST:$PORT)"
    else
      echo "starting or unhealthy (pid $pid, bolt://$HOST:$PORT not answering)"
    fi
    return 0
  fi
  echo "not running"
  return 3
}

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  logs) tail -n "${2:-100}" "$LOG_FILE" ;;
  *) echo "usage: $0 {build|start|stop|restart|status|logs [N]}" >&2; exit 2 ;;
esac
