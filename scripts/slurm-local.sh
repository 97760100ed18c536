#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the Slurm executor's tests and for trying
# `ccll sweep --executor slurm` without a cluster. Needs root and Debian's packages
# `munge slurmctld slurmd slurm-client` (setup.sh installs them).
#
#   scripts/slurm-local.sh start    # write the config, start munged/slurmctld/slurmd, wait for idle
#   scripts/slurm-local.sh status   # exit 0 when the node is up and idle/allocated
#   scripts/slurm-local.sh stop     # stop the daemons this script started (by pid file)
#   scripts/slurm-local.sh env      # print `export SLURM_CONF=...` for the client commands
#
# Everything lives in $CCLL_SLURM_DIR (default /tmp/ccll-slurm): slurm.conf, state, spool, logs,
# pid files. /etc/slurm is not touched, so the client commands need SLURM_CONF pointing at that
# slurm.conf (`eval "$(scripts/slurm-local.sh env)"`). Daemons are stopped by their pid files
# only, never by name.
set -euo pipefail

DIR=${CCLL_SLURM_DIR:-/tmp/ccll-slurm}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF
MUNGE_PID=/run/munge/munged.pid

say() { printf 'slurm-local: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

alive() { # alive PIDFILE
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

node_state() {
  sinfo -h -N -n localhost -o '%T' 2>/dev/null | head -n1 || true
}

check_prereqs() {
  [ "$(id -u)" = 0 ] || die "needs root (slurmd runs jobs as their owner and must be root)"
  local missing=()
  for p in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing programs: ${missing[*]} (apt-get install munge slurmctld slurmd slurm-client)"
}

write_conf() {
  mkdir -p "$DIR/state" "$DIR/spool"
  local layout
  # e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
  layout=$(slurmd -C | head -n1 | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=' | tr '\n' ' ')
  [ -n "$layout" ] || die "slurmd -C did not describe this machine"
  cat >"$CONF" <<EOF
# Written by scripts/slurm-local.sh (ccll): a one-node cluster on localhost.
ClusterName=ccll-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
MinJobAge=3600
MailProg=/bin/true
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 ${layout}State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return 0 # a munged is already serving
  fi
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating the munge key"
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile=/etc/munge/munge.key
    else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge 2>/dev/null || true
  runuser -u munge -- /usr/sbin/munged
  touch "$DIR/munged.ours"
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "munged did not start"
}

status() {
  alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid" || return 1
  case "$(node_state)" in
    idle | idle~ | mixed | allocated | completing) return 0 ;;
    *) return 1 ;;
  esac
}

start() {
  check_prereqs
  if [ -f "$CONF" ] && status; then
    say "already running ($(node_state)); SLURM_CONF=$CONF"
    return 0
  fi
  mkdir -p "$DIR"
  write_conf
  start_munge
  alive "$DIR/slurmctld.pid" || /usr/sbin/slurmctld -f "$CONF"
  alive "$DIR/slurmd.pid" || /usr/sbin/slurmd -f "$CONF" -N localhost
  local state=""
  for _ in $(seq 120); do
    state=$(node_state)
    case "$state" in
      idle | mixed | allocated) say "up: node localhost is $state; SLURM_CONF=$CONF"; return 0 ;;
      down* | drain* | fail*) scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  say "the node did not become idle (state: ${state:-unknown}); logs: $DIR/slurmctld.log $DIR/slurmd.log"
  tail -n 20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 2>/dev/null || true
  exit 1
}

stop_pidfile() { # stop_pidfile FILE NAME
  if alive "$1"; then
    local pid
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    say "stopped $2 (pid $pid)"
  fi
  rm -f "$1"
}

stop() {
  stop_pidfile "$DIR/slurmd.pid" slurmd
  stop_pidfile "$DIR/slurmctld.pid" slurmctld
  if [ -f "$DIR/munged.ours" ]; then
    stop_pidfile "$MUNGE_PID" munged
    rm -f "$DIR/munged.ours"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if [ -f "$CONF" ] && status; then
      echo "up: node localhost is $(node_state); SLURM_CONF=$CONF"
    else
      echo "down"
      exit 1
    fi
    ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
