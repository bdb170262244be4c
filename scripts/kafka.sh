#!/usr/bin/env bash
# Apache Kafka, one KRaft node on 127.0.0.1, from Maven Central jars (no Docker, no tarball).
#   scripts/kafka.sh fetch|start|stop|status
# KAFKA_PORT (9092), KAFKA_HOME (.bifrost/kafka) and KAFKA_DATA (KAFKA_HOME/data-PORT) select the node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=${KAFKA_PORT:-9092}
ctl_port=$((port + 1))
home=${KAFKA_HOME:-$here/../.bifrost/kafka}
libs=$home/libs
data=${KAFKA_DATA:-$home/data-$port}
pidfile=$data/broker.pid

fetch() {
  [ -f "$libs/.complete" ] && return 0
  mkdir -p "$libs"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs"
  touch "$libs/.complete"
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

wait_port() {
  local deadline=$((SECONDS + ${1:-60}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    running || { echo "kafka: broker exited; see $data/broker.log" >&2; tail -20 "$data/broker.log" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { echo "kafka: port $port not open after ${1:-60}s" >&2; return 1; }
    sleep 0.2
  done
}

java_run() {
  java -Xms256m -Xmx768m -XX:+UseG1GC -Dkafka.log.file="$data/broker.log" \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -cp "$libs/*" "$@"
}

start() {
  fetch
  if running; then echo "kafka: already running on 127.0.0.1:$port"; return 0; fi
  mkdir -p "$data/logs"
  cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctl_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctl_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/logs
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
PROPS
  if [ ! -f "$data/logs/meta.properties" ]; then
    java_run kafka.tools.StorageTool format -t "$(java_run kafka.tools.StorageTool random-uuid)" \
      -c "$data/server.properties" >/dev/null
  fi
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -Dkafka.log.file="$data/broker.log" \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -cp "$libs/*" \
    kafka.Kafka "$data/server.properties" >"$data/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  wait_port 90
  echo "kafka: running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

stop() {
  running || { echo "kafka: not running"; return 0; }
  local pid; pid=$(cat "$pidfile")
  kill "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { kill -9 "$pid"; break; }
    sleep 0.2
  done
  rm -f "$pidfile"
  echo "kafka: stopped"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) running && echo "kafka: running on 127.0.0.1:$port" || { echo "kafka: not running"; exit 1; } ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
