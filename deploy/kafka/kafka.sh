#!/usr/bin/env bash
# warwire's own single-node Apache Kafka (KRaft, combined broker+controller) on 127.0.0.1.
#
#   kafka.sh fetch                              resolve the pinned broker jars with mvn, once
#   kafka.sh start  [--port P] [--data DIR]     format if new, start in the background, wait until ready
#   kafka.sh run    [--port P] [--data DIR]     the same in the foreground (used by `warwire run`)
#   kafka.sh stop   [--data DIR]                stop the broker started with this DIR, by its pid
#   kafka.sh status [--data DIR]                say whether it runs; exit 0 when it does
#
# The jars come from Maven Central through deploy/kafka/pom.xml into $WARWIRE_CACHE
# (default ~/.cache/warwire), never into the repository. Topics are created by the Python side
# (`warwire kafka start` / `warwire run`), which also works against a broker you run yourself:
# set WARWIRE_BROKER=host:port and none of this script is used.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
cache=${WARWIRE_CACHE:-$HOME/.cache/warwire}
libs="$cache/kafka-$kafka_version/libs"
port=9092
controller_port=
data=${WARWIRE_KAFKA_DATA:-$cache/kafka-data}
heap=${WARWIRE_KAFKA_HEAP:-768m}
ready_timeout=${WARWIRE_KAFKA_READY_TIMEOUT:-90}

die() { echo "kafka.sh: $*" >&2; exit 1; }

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

need_java() {
    command -v java >/dev/null 2>&1 || die "Java 17 or newer is required and 'java' is not on PATH.
  Debian/Ubuntu: apt-get install openjdk-17-jre-headless
  Or point warwire at a broker you already run: WARWIRE_BROKER=host:9092 warwire run"
    local v
    v=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    [ "${v%%.*}" -ge 17 ] 2>/dev/null || die "Java 17 or newer is required, found Java ${v:-unknown} ($(command -v java)).
  Or point warwire at a broker you already run: WARWIRE_BROKER=host:9092 warwire run"
}

fetch() {
    if [ -f "$libs/.complete" ]; then return 0; fi
    command -v mvn >/dev/null 2>&1 || die "Maven ('mvn') is required once, to fetch Apache Kafka $kafka_version from Maven Central.
  Debian/Ubuntu: apt-get install maven
  Or point warwire at a broker you already run: WARWIRE_BROKER=host:9092 warwire run"
    echo "kafka.sh: fetching Apache Kafka $kafka_version from Maven Central into $libs" >&2
    rm -rf "$libs.tmp" && mkdir -p "$libs.tmp"
    mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$libs.tmp" >&2 \
        || die "mvn could not resolve Apache Kafka $kafka_version (see the Maven output above)"
    rm -rf "$libs" && mv "$libs.tmp" "$libs" && touch "$libs/.complete"
}

parse_opts() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --port) port=$2; shift 2 ;;
            --controller-port) controller_port=$2; shift 2 ;;
            --data) data=$2; shift 2 ;;
            *) die "unknown option '$1' (try: kafka.sh help)" ;;
        esac
    done
    [ -n "$controller_port" ] || controller_port=$((port + 1))
    mkdir -p "$data"
    data=$(cd "$data" && pwd)
}

set_java_cmd() {
    java_cmd=(java -Xms128m "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
        "-Dlog4j2.configurationFile=$here/log4j2.properties" "-Dkafka.logs.dir=$data/logs"
        -cp "$libs/*")
}

prepare() {
    need_java
    fetch
    mkdir -p "$data/logs"
    set_java_cmd
    cat >"$data/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/log
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
EOF
    if [ ! -f "$data/log/meta.properties" ]; then
        "${java_cmd[@]}" kafka.tools.StorageTool format --cluster-id="$(cluster_id)" -c "$data/server.properties" \
            >"$data/logs/format.log" 2>&1 || { cat "$data/logs/format.log" >&2; die "formatting $data/log failed"; }
    fi
}

cluster_id() {
    # A fixed-length base64url id, stable per data directory.
    python3 -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))'
}

running_pid() {
    local pid
    [ -f "$data/kafka.pid" ] || return 1
    pid=$(cat "$data/kafka.pid")
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

wait_ready() {
    local pid=$1 waited=0
    while [ "$waited" -lt $((ready_timeout * 10)) ]; do
        kill -0 "$pid" 2>/dev/null || { tail -20 "$data/logs/server.log" >&2 2>/dev/null; die "the broker exited during start-up (log: $data/logs/server.log)"; }
        if grep -q "Kafka Server started" "$data/logs/server.log" 2>/dev/null \
            && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1; waited=$((waited + 1))
    done
    die "the broker did not become ready within ${ready_timeout}s (log: $data/logs/server.log)"
}

cmd=${1:-help}; shift || true
case "$cmd" in
    fetch) need_java; fetch; echo "$libs" ;;
    start)
        parse_opts "$@"
        if pid=$(running_pid); then echo "kafka.sh: already running (pid $pid) on $data" >&2; exit 0; fi
        prepare
        : >"$data/logs/server.log"
        nohup "${java_cmd[@]}" kafka.Kafka "$data/server.properties" >"$data/logs/stdout.log" 2>&1 &
        echo $! >"$data/kafka.pid"
        wait_ready "$!"
        echo "kafka.sh: broker ready on 127.0.0.1:$port (pid $(cat "$data/kafka.pid"), data $data)" >&2
        ;;
    run)
        parse_opts "$@"
        prepare
        : >"$data/logs/server.log"
        echo $$ >"$data/kafka.pid"
        exec "${java_cmd[@]}" kafka.Kafka "$data/server.properties"
        ;;
    stop)
        parse_opts "$@"
        pid=$(running_pid) || { echo "kafka.sh: not running ($data)" >&2; exit 0; }
        kill -TERM "$pid"
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "kafka.sh: broker $pid did not stop in 30s, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$data/kafka.pid"
        echo "kafka.sh: stopped (pid $pid)" >&2
        ;;
    status)
        parse_opts "$@"
        if pid=$(running_pid); then echo "running pid=$pid data=$data"; else echo "stopped data=$data"; exit 3; fi
        ;;
    help|-h|--help) usage ;;
    *) usage >&2; exit 2 ;;
esac
