#!/usr/bin/env python3
"""tests/faults/faults.py - `make test-faults`: the whole pipeline under
faults, then every output checked against the input.

A private Kafka 3.9.2 broker (KRaft, jars from .run/kafka/lib) and a
private PostgreSQL cluster (initdb as the postgres user) are started in a
scratch directory, so restarting them disturbs no one.  komek-gen makes
the city and FAULTS_COMPLAINTS complaint lines (duplicates and malformed
lines included; truth.csv says which); komek-directory imports the city.
Then, for a window of about FAULTS_WINDOW seconds:
  - komek-intake publishes every line, paced over the window (one
    process, never killed; its idempotent producer rides out the broker
    restart), and kcat writes a few hundred invalid messages straight to
    `complaints` (bypassing intake) in bursts;
  - staff work tasks with komek-inbox during the faults: open tasks are
    acknowledged, then resolved with a note (a failed command is retried
    until the task shows the change);
  - komek-gateway takes Open311 POSTs paced over the window (one client,
    each request retried with the same external_id after a 503 or a lost
    connection until it is answered 201);
  - 2 komek-router, 1 komek-tasksink, 2 komek-analytics, komek-escalator
    (a pass every 3 s) and komek-gateway run, and a
    driver seeded by FAULTS_SEED SIGKILLs each of them FAULTS_KILLS times
    at random moments and restarts it after a random pause, SIGKILLs the
    broker once and restarts it, and stops PostgreSQL once with
    `pg_ctl -m immediate` (a crash) and restarts it.  A worker that exits
    by itself (any exit the driver did not cause: a crash, an exit 1 on a
    lost broker or database, even an exit 0) is a FAILURE: its exit status
    and the tail of its log are printed.  It is restarted (as systemd's
    Restart= would) only so that the run goes on and the other checks
    still say what they see.  One documented exception: komek-escalator
    exits 1 when it loses its database session (and so its advisory
    lock), which is expected while PostgreSQL is down or just back.
When the input is in and the faults are over, a marker complaint is
written to every partition of `complaints`; the pipeline has converged
when every marker is a task (so the routers have committed everything
before them) and the task sink's and analytics' stored offsets are past
the last message of every partition of their input topics, as read then
(so nothing more can arrive: no fixed wait decides it).  Then every
worker gets SIGTERM (each must exit 0), and the test
checks, against truth.csv / complaints.jsonl / buildings.csv with its own
code:
  - tasks: every valid complaint (distinct source + external_id) is
    exactly one task, at the organisation its true building's row gives
    for the category's kind (ksk_id or lift_operator_id; triage when the
    building has none or is unknown); no task that is not in the input;
    the gateway's complaints too (their building and category are the
    POST's); every POST was answered 201 in the end, never anything but
    201 or 503, and a complaint is on `complaints` more than once only if
    its POST saw a 503 or a lost connection first;
  - task events: every task the inbox worked is resolved with its note;
    its outbox holds exactly one acknowledged and one resolved event, all
    published, each on `task-events`; analytics holds exactly those
    events (an_task_events), nothing else;
  - escalations: every row of the table is published, and the topic
    (read_committed) holds exactly one message per row, nothing else;
  - dispatch (read_committed): exactly one message per valid message on
    `complaints` (a duplicate line is dispatched again, by design; the
    sink keeps one task), so no kill or restart doubled or lost one;
  - complaints.dlq (read_committed): exactly one dead letter per invalid
    input line with truth.csv's reason, and, from komek-router, exactly
    one per raw invalid message with its reason; komek-analytics' own
    dead letters (topic complaints.dlq.analytics, at least once by
    design) name every raw invalid message, and their repeats are counted;
  - analytics: an_complaints and an_tasks hold exactly the distinct valid
    complaints; complaints_weekly (n, prev_n, wow_pct of every week x
    category), channels_weekly, complaints_ytd and
    complaints_weekly_district equal a recomputation from the input
    (local days at UTC+5, ISO weeks; the district is truth.csv's: the true
    building's, or, when the building is unknown, the one its structured
    address names, as the generator meant it; never the router's output).
With --cluster (make test-cluster, FAULTS_CLUSTER=1) the same pipeline
runs on three replicated brokers (deploy/kafka/cluster.sh: replication 3,
min.insync.replicas 2) and a PostgreSQL primary with a pg_basebackup
standby (tests/faults/cluster.py), two task sinks in one group, and every
client names both PostgreSQL servers with target_session_attrs=read-write.
The broker fault becomes: SIGKILL the broker leading the busiest
complaints partition, restart it, then restart the other two one at a time
with SIGTERM, each once every partition's replicas are in sync again; the
PostgreSQL fault becomes a failover (the primary stopped with -m
immediate, the standby promoted).  The same checks follow, and the
measured figures (re-election, replica catch-up, standby lag, promotion).
Prints the counts and "N passed, N failed"; exit 1 on any difference.
Needs root (initdb/pg_ctl as postgres), Java 17, kcat, psql.
"""
import argparse
import collections
import csv
import datetime
import decimal
import json
import os
import random
import re
import shutil
import signal
import hashlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.environ.get("KOMEK_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("KOMEK_BIN") or os.path.join(ROOT, "bin")
LIB = os.path.join(ROOT, ".run", "kafka", "lib")
LOG4J = os.path.join(ROOT, "deploy", "kafka", "log4j.properties")
T0 = time.time()
PG_WINDOW = [None, None]  # when PostgreSQL was crashed, when it was back
GW_SOURCE = "faults-gw"
MARKER_SOURCE = "faults-marker"


def derived_id(source, external_id):
    """The complaint id for (source, external_id): UUIDv5-style SHA-1 of
    the komek namespace, source, a newline and the external id (the
    model's rule, tests/unit/test_id.c pins it)."""
    ns = bytes([0x6f, 0x1c, 0x2a, 0x4e, 0x8b, 0x1d, 0x5c, 0x3e,
                0x9a, 0x70, 0x6b, 0x6f, 0x6d, 0x65, 0x6b, 0x31])
    md = bytearray(hashlib.sha1(ns + source.encode() + b"\n" + external_id.encode()).digest()[:16])
    md[6] = (md[6] & 0x0F) | 0x50
    md[8] = (md[8] & 0x3F) | 0x80
    h = md.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def partitions(broker, topic):
    r = run(["kcat", "-b", broker, "-L", "-t", topic])
    return len(re.findall(r"^\s+partition \d+", r.stdout, re.M))


def say(msg):
    print("%6.1f s  %s" % (time.time() - T0, msg), flush=True)


class Result:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, msg):
        if cond:
            self.passed += 1
            print("ok    " + msg, flush=True)
        else:
            self.failed += 1
            print("FAIL  " + msg, flush=True)
        return cond


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def free_block(n, lo=29600, hi=39000):
    """The first of n consecutive free ports (deploy/kafka/cluster.sh)."""
    for base in range(lo, hi, n + 4):
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no %d consecutive free ports" % n)


FIGURES = collections.OrderedDict()  # measured in a cluster run, printed at the end


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---- the private broker -------------------------------------------------------
class Broker:
    def __init__(self, tmp, port, cport):
        self.tmp, self.port = tmp, port
        self.addr = "127.0.0.1:%d" % port
        self.props = os.path.join(tmp, "server.properties")
        self.log = open(os.path.join(tmp, "broker.log"), "ab")
        self.proc = None
        with open(self.props, "w") as f:
            f.write("""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%d
listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d
advertised.listeners=PLAINTEXT://127.0.0.1:%d
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=%s/kafka-data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
transaction.abort.timed.out.transaction.cleanup.interval.ms=2000
""" % (cport, port, cport, port, tmp))
        self.java = ["java", "-Xmx384m", "-Xms128m", "-XX:+UseSerialGC",
                     "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
                     "-Dlog4j.configuration=file:" + LOG4J, "-cp", LIB + "/*"]

    def format(self):
        uid = run(self.java + ["kafka.tools.StorageTool", "random-uuid"]).stdout.split()[-1]
        r = run(self.java + ["kafka.tools.StorageTool", "format", "-t", uid, "-c", self.props])
        if r.returncode:
            raise RuntimeError("StorageTool format: " + r.stdout + r.stderr)

    def start(self):
        self.proc = subprocess.Popen(self.java + ["kafka.Kafka", self.props],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_up(self, limit=90):
        t = time.time()
        while time.time() - t < limit:
            r = run(["kcat", "-b", self.addr, "-L", "-m", "2"])
            if "broker 1 at" in r.stdout:
                return time.time() - t
            if self.proc.poll() is not None:
                break
            time.sleep(0.3)
        raise RuntimeError("broker did not come up (see %s/broker.log)" % self.tmp)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---- the private PostgreSQL ------------------------------------------------------
class Postgres:
    def __init__(self, tmp, port):
        bins = sorted(d for d in os.listdir("/usr/lib/postgresql"))
        self.bin = "/usr/lib/postgresql/%s/bin" % bins[-1]
        self.home = tempfile.mkdtemp(prefix="komek-faults-pg.")
        self.data = os.path.join(self.home, "data")
        self.port = port
        shutil.chown(self.home, "postgres", "postgres")
        os.chmod(self.home, 0o700)
        self.conninfo = "host=127.0.0.1 port=%d dbname=komek user=komek" % port
        self.started = False

    def as_pg(self, *args):
        return run(["runuser", "-u", "postgres", "--"] + list(args), cwd="/")

    def init(self):
        r = self.as_pg(self.bin + "/initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8",
                       "--locale=C", "--auth-local=reject", "--auth-host=trust")
        if r.returncode:
            raise RuntimeError("initdb: " + r.stderr[-500:])
        self.start()
        r = run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                 "host=127.0.0.1 port=%d user=postgres dbname=postgres" % self.port,
                 "-c", "CREATE ROLE komek LOGIN SUPERUSER", "-c", "CREATE DATABASE komek OWNER komek"])
        if r.returncode:
            raise RuntimeError("create database: " + r.stderr)
        # the group roles and one login per program, as `make up` makes
        # them: deploy/pg.sh's own SQL, so the two cannot drift
        r = run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                 "host=127.0.0.1 port=%d user=postgres dbname=postgres" % self.port],
                input=pg_sh_roles_sql())
        if r.returncode:
            raise RuntimeError("roles: " + r.stderr)

    def start(self):
        r = self.as_pg(self.bin + "/pg_ctl", "-D", self.data, "-l", self.home + "/log", "-w",
                       "-t", "60", "-o", "-p %d -c listen_addresses=127.0.0.1 "
                       "-c unix_socket_directories='' -c fsync=off -c max_connections=80 "
                       "-c shared_buffers=64MB" % self.port, "start")
        if r.returncode:
            raise RuntimeError("pg_ctl start: " + r.stdout + r.stderr)
        self.started = True

    def crash(self):
        self.as_pg(self.bin + "/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        self.started = False

    def stop(self):
        if self.started:
            self.as_pg(self.bin + "/pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop")
            self.started = False
        shutil.rmtree(self.home, ignore_errors=True)

    def query(self, sql):
        r = run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", self.conninfo, "-c", sql])
        if r.returncode:
            raise RuntimeError("psql: " + r.stderr)
        return r.stdout

    def copy(self, sql):
        r = run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.conninfo, "-c",
                 "COPY (%s) TO STDOUT WITH (FORMAT csv)" % sql])
        if r.returncode:
            raise RuntimeError("psql copy: " + r.stderr)
        return list(csv.reader(r.stdout.splitlines()))


# ---- supervised komek workers ---------------------------------------------------------
class Worker:
    def __init__(self, name, argv, tmp, exits_on_pg=False):
        self.name, self.argv, self.tmp = name, argv, tmp
        self.exits_on_pg = exits_on_pg  # documented: exit 1 on a lost session
        self.pg_exits = 0
        self.proc = None
        self.starts = 0
        self.kills = 0
        self.self_exits = []  # (exit code, log tail) of exits nobody asked for
        self.logpath = None
        self.lock = threading.Lock()

    def start(self):
        self.starts += 1
        self.logpath = os.path.join(self.tmp, "%s-%d.log" % (self.name, self.starts))
        log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()

    def kill(self):
        with self.lock:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                self.kills += 1
            self.proc = None

    def tail(self, n=15):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read().splitlines()[-n:]
        except OSError as e:
            return ["(no log: %s)" % e]

    def note_self_exit(self):
        """Record an exit the driver did not cause (the caller holds lock)."""
        rc = self.proc.returncode
        tail = self.tail()
        now = time.time()
        if self.exits_on_pg and rc == 1 and PG_WINDOW[0] and now >= PG_WINDOW[0] and \
                (PG_WINDOW[1] is None or now <= PG_WINDOW[1] + 60):
            self.pg_exits += 1
            say("%s exited 1 around the PostgreSQL crash (documented); restarting: %s"
                % (self.name, tail[-1] if tail else ""))
            return
        self.self_exits.append((rc, tail))
        say("FAILURE: %s exited by itself with %s (%s); last lines of %s:"
            % (self.name, rc, "signal %d" % -rc if rc < 0 else "status %d" % rc,
               os.path.basename(self.logpath)))
        for line in tail:
            print("        " + line, flush=True)

    def supervise(self):
        """A worker that exited by itself is a failure; restart it
        (Restart=always) so that the run goes on."""
        with self.lock:
            if self.proc is not None and self.proc.poll() is not None:
                self.note_self_exit()
                self.start()

    def stop(self, timeout=60):
        with self.lock:
            if self.proc is None:
                return None
            if self.proc.poll() is not None:  # gone before we asked
                self.note_self_exit()
                return self.proc.returncode
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9


def pace_lines(path, stdin, seconds):
    """Write the file into stdin evenly over seconds, then close it."""
    with open(path, "rb") as f:
        lines = f.readlines()
    t = time.time()
    n = len(lines)
    i = 0
    try:
        while i < n:
            due = min(n, int((time.time() - t) / seconds * n) + 1)
            if due > i:
                stdin.write(b"".join(lines[i:due]))
                stdin.flush()
                i = due
            time.sleep(0.01)
    finally:
        stdin.close()


class GatewayClient:
    """POSTs paced over a window; each retried with the same external_id
    until answered 201 (or the deadline)."""

    def __init__(self, port, key, posts, seconds):
        self.url = "http://127.0.0.1:%d/requests.json" % port
        self.key, self.posts, self.seconds = key, posts, seconds
        self.answers = {}  # external_id -> list of statuses (0: no answer)
        self.ids = {}      # external_id -> service_request_id
        self.deadline = None

    def post_one(self, ext, code, bid):
        body = urllib.parse.urlencode({
            "api_key": self.key, "service_code": code, "address_id": bid,
            "description": "faults test: complaint %s" % ext,
            "external_id": ext}).encode()
        got = self.answers.setdefault(ext, [])
        while True:
            st = 0
            try:
                req = urllib.request.Request(self.url, data=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded"})
                with urllib.request.urlopen(req, timeout=60) as r:
                    st = r.status
                    ans = json.loads(r.read().decode())
                    self.ids[ext] = ans[0]["service_request_id"]
            except urllib.error.HTTPError as e:
                st = e.code
            except (OSError, ValueError, KeyError, IndexError):
                st = 0  # refused, reset, cut: retry
            got.append(st)
            if st == 201 or (st not in (0, 503)):
                return
            if self.deadline and time.time() > self.deadline:
                return
            time.sleep(0.5)

    def run(self):
        t = time.time()
        for i, (ext, code, bid) in enumerate(self.posts):
            due = t + self.seconds * i / max(1, len(self.posts))
            while time.time() < due:
                time.sleep(0.02)
            self.post_one(ext, code, bid)


class InboxDriver:
    """komek-inbox during the faults: ack, then resolve, open tasks."""

    def __init__(self, pg, conf, start, seconds, want):
        self.pg, self.conf = pg, conf
        self.start, self.seconds, self.want = start, seconds, want
        self.worked = {}  # complaint_id -> (org, note)
        self.failures = collections.Counter()  # commands that failed (retried)
        self.stop = False

    def status(self, cid):
        try:
            return self.pg.query("SELECT status FROM tasks WHERE complaint_id = '%s'" % cid).strip()
        except RuntimeError:
            return None

    def change(self, org, cid, verb, done, extra):
        for _ in range(60):
            if self.status(cid) in done:
                return True
            r = run([BIN + "/komek-inbox", "--config", self.conf, "--log-level", "warn",
                     "--org", org, verb, cid] + extra)
            if r.returncode != 0:
                self.failures[verb] += 1
                time.sleep(1)
        return self.status(cid) in done

    def run(self):
        while time.time() < self.start:
            time.sleep(0.1)
        end = self.start + self.seconds
        while not self.stop and len(self.worked) < self.want and time.time() < end + 60:
            try:
                row = self.pg.query("SELECT complaint_id, org_id FROM tasks WHERE status = 'open' "
                                    "AND org_id <> 'triage' ORDER BY complaint_id LIMIT 1 OFFSET %d"
                                    % (len(self.worked) * 7)).strip()
            except RuntimeError:
                row = ""
            if "|" not in row:
                time.sleep(0.5)
                continue
            cid, org = row.split("|")
            note = "faults: fixed %d" % len(self.worked)
            self.worked[cid] = (org, note)
            self.change(org, cid, "ack", ("acknowledged", "resolved"), [])
            self.change(org, cid, "resolve", ("resolved",), ["--note", note])
            # paced over the window; a command takes seconds (a process,
            # a session, a producer), so only wait when ahead of schedule
            due = self.start + self.seconds * len(self.worked) / self.want
            time.sleep(max(0.0, min(5.0, due - time.time())))


def escalator_last_pass(port_file):
    """komek_escalator_last_pass_timestamp_seconds from the escalator's
    /metrics (None while it is down, restarting or has not passed)."""
    try:
        port = int(open(port_file).read().strip())
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("komek_escalator_last_pass_timestamp_seconds "):
                    v = float(line.split()[1])
                    return v if v > 0 else None
    except (OSError, ValueError):
        pass
    return None


def healthz(port_file):
    """(status, body) of a program's /healthz; (None, reason) when it does
    not answer (down, restarting)."""
    try:
        port = int(open(port_file).read().strip())
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=5) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ValueError) as e:
        return None, str(e)


def read_topic(broker, topic, committed=True):
    args = ["kcat", "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q",
            "-f", "%p\t%o\t%s\n"]
    if committed:
        args += ["-X", "isolation.level=read_committed"]
    r = subprocess.run(args, capture_output=True)
    out = []
    for line in r.stdout.split(b"\n"):
        if not line:
            continue
        p, o, s = line.split(b"\t", 2)
        out.append((int(p), int(o), s.decode("utf-8", "replace")))
    return out


def pg_sh_roles_sql():
    """The roles and databases deploy/pg.sh up creates: the SQL of its
    ensure_objects (its heredoc), verbatim."""
    text = open(os.path.join(ROOT, "deploy", "pg.sh"), encoding="utf-8").read()
    m = re.search(r"^ensure_objects\(\) \{.*?<<'EOF'\n(.*?)^EOF$", text, re.S | re.M)
    if not m or "komek_router_app" not in m.group(1):
        raise RuntimeError("deploy/pg.sh: ensure_objects' SQL not found")
    return m.group(1)


def pg_users():
    """{program group: login role}: deploy/komek.conf's <prog>.pg_user, each
    program's own PostgreSQL login."""
    text = open(os.path.join(ROOT, "deploy", "komek.conf"), encoding="utf-8").read()
    users, group = {}, None
    for line in text.splitlines():
        g = re.match(r"(\w+) = \{", line)
        if g:
            group = g.group(1)
        u = re.match(r'\s*pg_user = "(\w+)";', line)
        if u and group:
            users[group] = u.group(1)
    if "router" not in users or "escalator" not in users:
        raise RuntimeError("deploy/komek.conf: no <prog>.pg_user keys found")
    return users


def login_check(sessions):
    """(ok, text): each (application_name, user) session of a komek program
    is its program's pg_user, and the long-running workers have one."""
    users = pg_users()
    seen, wrong = {}, []
    for app, user in sessions:
        prog = re.match(r"komek-([a-z]+)", app).group(1)
        seen.setdefault(prog, set()).add(user)
        if prog in users and user != users[prog]:
            wrong.append((app, user))
    need = ("router", "tasksink", "analytics", "escalator")
    missing = [p for p in need if p not in seen]
    return (not wrong and not missing,
            "every worker's session logs in as its own role (%s), none as the owner "
            "(wrong: %s; missing: %s)"
            % (", ".join("%s %s" % (p, "/".join(sorted(seen[p]))) for p in sorted(seen)),
               wrong[:5], missing))


def category_kinds():
    kinds = {}
    text = open(os.path.join(ROOT, "deploy", "komek.conf"), encoding="utf-8").read()
    for m in re.finditer(r'code\s*=\s*"([^"]+)";\s*kind\s*=\s*"([^"]+)"', text):
        kinds[m.group(1)] = m.group(2)
    return kinds


def local_day(received_at):
    t = datetime.datetime.fromisoformat(received_at.replace("Z", "+00:00"))
    return (t.astimezone(datetime.timezone.utc) + datetime.timedelta(hours=5)).date()


def week_start(d):
    return d - datetime.timedelta(days=d.weekday())


def wow(n, p):
    """round(100.0 * (n - p) / p, 1) as PostgreSQL's numeric does it."""
    if p == 0:
        return None
    return float((decimal.Decimal(100 * (n - p)) / decimal.Decimal(p)).quantize(
        decimal.Decimal("0.1"), rounding=decimal.ROUND_HALF_UP))


# ---- the test ------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--complaints", type=int,
                    default=int(os.environ.get("FAULTS_COMPLAINTS", "40000")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FAULTS_SEED", "6")))
    ap.add_argument("--kills", type=int, default=int(os.environ.get("FAULTS_KILLS", "3")))
    ap.add_argument("--window", type=float, default=float(os.environ.get("FAULTS_WINDOW", "0")))
    ap.add_argument("--keep", action="store_true", default=bool(os.environ.get("FAULTS_KEEP")))
    ap.add_argument("--cluster", action="store_true",
                    default=bool(os.environ.get("FAULTS_CLUSTER")),
                    help="three replicated brokers and a PostgreSQL standby "
                         "(make test-cluster; tests/faults/cluster.py)")
    a = ap.parse_args()
    n = a.complaints
    window = a.window or max(60.0, n / 800.0)
    rng = random.Random(a.seed)
    res = Result()
    if os.geteuid() != 0:
        res.check(False, "needs root (initdb and pg_ctl as the postgres user)")
        return finish(res)
    for p in ("admin", "gen", "directory", "intake", "router", "tasksink", "analytics"):
        if not os.access(os.path.join(BIN, "komek-" + p), os.X_OK):
            res.check(False, "missing %s/komek-%s" % (BIN, p))
            return finish(res)
    tmp = tempfile.mkdtemp(prefix="komek-faults.")
    kport, cport, pport, gport, sport = free_ports(5)
    standby = None
    if a.cluster:
        import cluster  # tests/faults/cluster.py
        broker = cluster.Cluster(tmp, free_block(6))
    else:
        broker = Broker(tmp, kport, cport)
    pg = Postgres(tmp, pport)
    workers = []
    intake = None
    env = dict(os.environ)
    for k in ("KOMEK_BROKERS", "KOMEK_PG_CONNINFO", "KOMEK_PG_TEST_CONNINFO"):
        env.pop(k, None)
    os.environ.clear()
    os.environ.update(env)
    try:
        say("seed %d, %d complaint lines, window %.0f s, %d kills per worker, scratch %s"
            % (a.seed, n, window, a.kills, tmp))
        broker.format()
        broker.start()
        pg.init()
        broker.wait_up()
        if a.cluster:
            # a streaming standby; every client (workers, checks) names both
            # and takes the one that writes, so a promotion is followed
            standby = cluster.Standby(pg, sport)
            standby.create()
            pg.conninfo = ("host=127.0.0.1,127.0.0.1 port=%d,%d dbname=komek user=komek "
                           "target_session_attrs=read-write connect_timeout=5"
                           % (pport, sport))
            say("3 brokers on %s (replication 3, min.insync.replicas 2); PostgreSQL "
                "primary %d, standby %d" % (broker.addr, pport, sport))
        conf = os.path.join(tmp, "komek.conf")
        with open(conf, "w") as f:
            f.write('kafka = { bootstrap_servers = "%s"; };\n' % broker.addr)
            if a.cluster:
                f.write('topics = { replication_factor = 3; min_insync_replicas = 2; };\n')
            f.write('pg = { conninfo = "%s"; };\n' % pg.conninfo)
            f.write('admin = { sql_dir = "%s/deploy/sql"; };\n' % ROOT)
            groups = {"intake": "progress = false; delivery_timeout_ms = 300000;",
                      "gateway": 'port = %d; metrics_port = -1; metrics_port_file = "%s";'
                                 % (gport, os.path.join(tmp, "gateway.port"))}
            # each program logs in as its own role, as deploy/komek.conf says
            for g, u in sorted(pg_users().items()):
                groups[g] = ('pg_user = "%s"; ' % u) + groups.get(g, "")
            for g, v in sorted(groups.items()):
                f.write("%s = { %s };\n" % (g, v.strip()))
        os.environ["KOMEK_CONFIG"] = conf
        C = ["--config", conf]
        big = n >= 100000
        gen = [BIN + "/komek-gen", "--out", tmp + "/data", "--seed", str(a.seed),
               "--complaints", str(n), "--days", "365", "--from", "2025-01-01",
               "--votes", "0"]
        if not big:
            gen += ["--buildings", "5000", "--ksks", "250", "--lift-operators", "30"]
        for cmd in ([BIN + "/komek-admin"] + C + ["--log-level", "warn", "all"], gen,
                    [BIN + "/komek-directory"] + C + ["--log-level", "warn", "import", tmp + "/data"],
                    [BIN + "/komek-admin"] + C + ["--log-level", "warn", "--set",
                     "topics.dlq=complaints.dlq.analytics", "topics"],
                    [BIN + "/komek-admin"] + C + ["--log-level", "warn", "topics"]):
            r = run(cmd)
            if r.returncode:
                res.check(False, "setup: %s: %s" % (" ".join(cmd[:2]), (r.stdout + r.stderr)[-400:]))
                return finish(res)
        say("broker on %s, PostgreSQL on %d, city and %d lines generated, directory imported"
            % (broker.addr, pport, n))
        r = run([BIN + "/komek-keys"] + C + ["--log-level", "warn", "add", "--source", GW_SOURCE,
                                             "--channel", "web", "--rate", "1000000"])
        gwkey = r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else ""
        if not gwkey.startswith("km_"):
            res.check(False, "setup: komek-keys add: %s" % (r.stdout + r.stderr)[-400:])
            return finish(res)

        common = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=1000"]
        for i in (1, 2):
            workers.append(Worker("router%d" % i, [BIN + "/komek-router"] + C + [
                "--set", "router.transactional_id=faults-router-%d" % i,
                "--set", "router.instance=%d" % i, "--set", "router.batch_ms=200",
                "--set", "router.txn_timeout_ms=10000"] + common, tmp))
        workers.append(Worker("tasksink", [BIN + "/komek-tasksink"] + C + common, tmp))
        if a.cluster:  # two task sinks in one group
            workers.append(Worker("tasksink2", [BIN + "/komek-tasksink"] + C + common, tmp))
        for i in (1, 2):
            workers.append(Worker("analytics%d" % i, [BIN + "/komek-analytics"] + C + [
                "--set", "topics.dlq=complaints.dlq.analytics"] + common, tmp))
        esc_port_file = os.path.join(tmp, "escalator.port")
        workers.append(Worker("escalator", [BIN + "/komek-escalator"] + C + [
            "--set", "escalator.interval_s=3", "--set", "escalator.metrics_port=-1",
            "--set", "escalator.metrics_port_file=" + esc_port_file], tmp, exits_on_pg=True))
        workers.append(Worker("gateway", [BIN + "/komek-gateway"] + C, tmp))
        for w in workers:
            w.start()

        # the schedule, from the seed
        events = []
        for w in workers:
            for _ in range(a.kills):
                events.append((rng.uniform(3, window), "kill", w.name, rng.uniform(0.2, 2.0)))
        tb = rng.uniform(0.25 * window, 0.45 * window)
        events.append((tb, "leader" if a.cluster else "broker", None, rng.uniform(1, 4)))
        events.append((tb + rng.uniform(0.2, 0.35) * window,
                       "failover" if a.cluster else "pg", None, rng.uniform(1, 4)))
        if a.cluster:  # two of three brokers down while the producers run
            events.append((rng.uniform(0.08, 0.15) * window, "minority", None, 0))
        nraw = max(50, n // 200)
        for k in range(4):
            events.append((rng.uniform(0.05, 0.9) * window, "raw", k, 0))
        events.sort(key=lambda e: e[0])

        # raw invalid messages: unique markers, half not a complaint object
        raws = {}
        for k in range(4):
            lines = []
            for j in range(nraw // 4):
                mark = "raw-%d-%d" % (k, j)
                if j % 2:
                    lines.append("%s this is not JSON {" % mark)
                    raws[mark] = "invalid_json"
                else:
                    lines.append(json.dumps({"source": "raw", "external_id": mark,
                                             "received_at": "2025-03-01T10:00:00Z",
                                             "category": "heating", "description": "x",
                                             "address": {"text": "x"}}))
                    raws[mark] = "missing_field:schema_version"
            with open(os.path.join(tmp, "raw-%d.txt" % k), "w") as f:
                f.write("\n".join(lines) + "\n")

        # the gateway's complaints: own PRNG, so the fault schedule stays
        bids = [r["id"] for r in csv.DictReader(open(tmp + "/data/buildings.csv", encoding="utf-8"))]
        grng = random.Random(a.seed * 1000 + 1)
        codes = sorted(category_kinds())
        posts = [("gw-%d" % i, grng.choice(codes), grng.choice(bids))
                 for i in range(max(100, n // 200))]
        gw = GatewayClient(gport, gwkey, posts, 0.7 * window)
        poster = threading.Thread(target=gw.run)
        poster.start()
        inbox = InboxDriver(pg, conf, time.time() + 0.2 * window, 0.6 * window, max(6, n // 5000))
        staff = threading.Thread(target=inbox.run)
        staff.start()

        ilog = open(os.path.join(tmp, "intake.log"), "wb")
        intake = subprocess.Popen([BIN + "/komek-intake"] + C + ["-"], stdin=subprocess.PIPE,
                                  stdout=ilog, stderr=subprocess.STDOUT)
        pacer = threading.Thread(target=pace_lines,
                                 args=(tmp + "/data/complaints.jsonl", intake.stdin, 0.7 * window))
        pacer.start()
        start = time.time()
        pending = []  # (time, worker) restarts
        done = collections.Counter()
        raw_procs = []
        def tend():  # restarts due, workers that exited by themselves
            for w in workers:
                if not any(p[1] is w for p in pending):
                    w.supervise()
            for p in list(pending):
                if time.time() >= p[0]:
                    p[1].start()
                    pending.remove(p)

        for ev in events + [(window, "end", None, 0)]:
            while time.time() - start < ev[0]:
                tend()
                time.sleep(0.05)
            kind = ev[1]
            if kind == "kill":
                w = next(x for x in workers if x.name == ev[2])
                while any(p[1] is w for p in pending):  # still down: kill it once it is back
                    for p in list(pending):
                        if time.time() >= p[0]:
                            p[1].start()
                            pending.remove(p)
                    time.sleep(0.05)
                w.kill()
                pending.append((time.time() + ev[3], w))
                done["kill " + w.name] += 1
            elif kind == "broker":
                say("SIGKILL the broker (down %.1f s)" % ev[3])
                broker.kill()
                time.sleep(ev[3])
                broker.start()
                up = broker.wait_up()
                say("broker back after %.1f s more" % up)
                done["broker restart"] += 1
            elif kind == "leader":
                # SIGKILL the broker leading the busiest complaints
                # partition; later the other two are restarted one at a
                # time with SIGTERM, each after the replicas are whole
                part = broker.busiest("complaints")
                node = broker.leader("complaints", part)
                t0 = time.time()
                say("SIGKILL broker %s, leader of complaints/%d (down %.1f s)"
                    % (node, part, ev[3]))
                broker.kill_node(node)
                while time.time() - t0 < 60 and broker.leader("complaints", part) in (node, -1, None):
                    time.sleep(0.2)  # polling the metadata for the new leader
                FIGURES["leader re-elected after the SIGKILL (s)"] = round(time.time() - t0, 1)
                time.sleep(ev[3])
                broker.start_node(node)
                FIGURES["replicas whole after the killed broker returned (s)"] = round(broker.isr_whole(), 1)
                for other in (1, 2, 3):
                    if other == node:
                        continue
                    t1 = time.time()
                    broker.stop_node(other)
                    broker.start_node(other)
                    broker.isr_whole()
                    FIGURES["broker %d SIGTERM, restart, replicas whole (s)" % other] = round(time.time() - t1, 1)
                say("brokers: " + ", ".join("%s %s" % kv for kv in FIGURES.items()))
                done["broker leader killed"] += 1
                done["broker rolling restart"] += 2
            elif kind == "minority":
                # Two of three brokers SIGKILLed while intake and the
                # gateway publish: with min.insync.replicas 2 (and the
                # controllers' quorum gone) nothing can be acknowledged;
                # the producers must wait, not lose, and the gateway's
                # /healthz must say so; one broker back and it resumes.
                gport_file = os.path.join(tmp, "gateway.port")
                first, second = rng.sample((1, 2, 3), 2)
                say("SIGKILL brokers %d and %d (two of three)" % (first, second))
                t0 = time.time()
                broker.kill_node(first)
                broker.kill_node(second)
                seen = None
                while time.time() - t0 < 90:
                    tend()  # a gateway killed before is restarted
                    code, body = healthz(gport_file)
                    if code == 503 and "delivery:" in body:
                        seen = body
                        break
                    time.sleep(0.5)
                res.check(seen is not None,
                          "two of three brokers down: the gateway's /healthz says delivery waits "
                          "(%s)" % (seen or "not seen in 90 s").strip()[:200])
                FIGURES["two brokers down: /healthz 503 after (s)"] = round(time.time() - t0, 1)
                t1 = time.time()
                broker.start_node(first)
                back = None
                while time.time() - t1 < 180:
                    tend()
                    code, body = healthz(gport_file)
                    if code == 200:
                        back = time.time() - t1
                        break
                    time.sleep(0.5)
                res.check(back is not None,
                          "one broker back: the gateway's /healthz is 200 again (%s)"
                          % ("%.1f s" % back if back is not None else "not in 180 s"))
                FIGURES["one broker back: /healthz 200 after (s)"] = round(back or -1, 1)
                broker.start_node(second)
                FIGURES["both back: replicas whole after (s)"] = round(broker.isr_whole(), 1)
                done["brokers two of three down"] += 1
            elif kind == "failover":
                FIGURES["standby lag before the failover (bytes)"] = standby.lag_bytes()
                say("PostgreSQL: primary stopped (immediate), standby promoted")
                PG_WINDOW[0] = time.time()
                pg.crash()
                t0 = time.time()
                standby.promote()
                FIGURES["standby promoted (s)"] = round(time.time() - t0, 1)
                PG_WINDOW[1] = time.time()
                done["postgres failover"] += 1
            elif kind == "pg":
                say("PostgreSQL: pg_ctl stop -m immediate (down %.1f s)" % ev[3])
                PG_WINDOW[0] = time.time()
                pg.crash()
                time.sleep(ev[3])
                pg.start()
                PG_WINDOW[1] = time.time()
                say("PostgreSQL back")
                done["postgres restart"] += 1
            elif kind == "raw":
                raw_procs.append(subprocess.Popen(
                    ["kcat", "-P", "-b", broker.addr, "-t", "complaints", "-X",
                     "enable.idempotence=true", "-l", os.path.join(tmp, "raw-%d.txt" % ev[2])],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                done["raw burst"] += 1
        for p in pending:
            p[1].start()
        say("faults done: " + ", ".join("%s %d" % kv for kv in sorted(done.items())))
        pacer.join()
        gw.deadline = time.time() + 120
        poster.join()
        staff.join()
        res.check(len(inbox.worked) == inbox.want,
                  "komek-inbox worked %d of %d tasks during the faults (failed commands retried: %s)"
                  % (len(inbox.worked), inbox.want, dict(inbox.failures)))
        statuses = collections.Counter(st for v in gw.answers.values() for st in v)
        unanswered = [e for e, v in gw.answers.items() if not v or v[-1] != 201]
        odd = [(e, v) for e, v in gw.answers.items() if any(st not in (0, 201, 503) for st in v)]
        res.check(len(gw.answers) == len(posts) and not unanswered and not odd,
                  "komek-gateway: each of %d POSTs answered 201 in the end (answers %s); "
                  "not 201 %s, other than 201/503/no answer %s"
                  % (len(posts), dict(statuses), unanswered[:3], odd[:3]))
        irc = intake.wait()
        ilog.close()
        itail = open(os.path.join(tmp, "intake.log"), errors="replace").read().strip().splitlines()
        res.check(irc == 0 and "not delivered 0" in (itail[-1] if itail else ""),
                  "komek-intake rode out the faults: exit %d, %s" % (irc, itail[-1] if itail else ""))
        for p in raw_procs:
            res.check(p.wait() == 0, "kcat wrote a burst of %d raw invalid messages" % (nraw // 4))

        # ---- the truth ----------------------------------------------------------
        kinds = category_kinds()
        blds = {r["id"]: r for r in csv.DictReader(open(tmp + "/data/buildings.csv", encoding="utf-8"))}
        lines = open(tmp + "/data/complaints.jsonl", "rb").read().split(b"\n")
        truth = list(csv.DictReader(open(tmp + "/data/truth.csv", encoding="utf-8")))
        want_task = {}  # (source, external_id) -> expected org
        first = {}      # (source, external_id) -> parsed first occurrence
        valid_lines = 0
        invalid = {}    # line -> reason
        for t in truth:
            ln = int(t["line"])
            if t["valid"] != "1":
                invalid[ln] = t["reason"]
                continue
            valid_lines += 1
            key = (t["source"], t["external_id"])
            if key in want_task:
                continue
            c = json.loads(lines[ln - 1])
            first[key] = c
            b = blds.get(t["building_id"]) if t["building_id"] else None
            org = "triage"
            if b:
                kind = kinds.get(t["category"], "ksk")
                org = (b["lift_operator_id"] if kind == "lift_operator" else b["ksk_id"]) or "triage"
            want_task[key] = org
        gw_keys = {}
        for ext, code, bid in posts:
            key = (GW_SOURCE, ext)
            b = blds.get(bid)
            kind = kinds.get(code, "ksk")
            org = (b["lift_operator_id"] if kind == "lift_operator" else b["ksk_id"]) or "triage"
            want_task[key] = org
            gw_keys[key] = bid
        in_distinct = len(want_task) - len(gw_keys)
        say("input: %d lines, %d valid (%d distinct complaints, %d repeated), %d invalid; "
            "%d raw invalid messages; %d complaints through the gateway"
            % (len(truth), valid_lines, in_distinct, valid_lines - in_distinct, len(invalid),
               len(raws), len(gw_keys)))

        # ---- a marker on every partition of complaints, behind everything ---------------
        ncp = partitions(broker.addr, "complaints")
        res.check(ncp > 0, "complaints has %d partitions" % ncp)
        marker_keys = {}
        mfail = []
        for p in range(ncp):
            ext = "m-%d" % p
            bid = bids[p % len(bids)]
            c = {"schema_version": 1, "id": derived_id(MARKER_SOURCE, ext),
                 "source": MARKER_SOURCE, "external_id": ext,
                 "received_at": "2025-06-02T10:00:00Z", "category": "heating",
                 "description": "drain marker", "address": {"text": "marker"},
                 "building_id": bid, "emergency": False}
            r = subprocess.run(["kcat", "-P", "-b", broker.addr, "-t", "complaints", "-p", str(p),
                                "-k", bid], input=(json.dumps(c) + "\n").encode(),
                               capture_output=True)
            if r.returncode:
                mfail.append((p, r.stderr[-200:]))
            key = (MARKER_SOURCE, ext)
            b = blds[bid]
            want_task[key] = b["ksk_id"] or "triage"
            first[key] = c
            marker_keys[key] = bid
        res.check(not mfail, "a marker complaint written to each of the %d partitions of "
                  "complaints %s" % (ncp, mfail))
        distinct = len(want_task)

        # ---- converge ------------------------------------------------------------------
        deadline = time.time() + max(240, n / 300)
        an = tasks = ant = -1
        while time.time() < deadline:
            for w in workers:
                w.supervise()
            try:
                tasks = int(pg.query("SELECT count(*) FROM tasks"))
                an = int(pg.query("SELECT count(*) FROM an_complaints"))
                ant = int(pg.query("SELECT count(*) FROM an_tasks"))
            except RuntimeError:
                pass
            if tasks >= distinct and an >= distinct and ant >= distinct:
                break
            time.sleep(2)
        # drained: every marker a task (the routers committed all before
        # them), then the sink and analytics past the end of their topics
        drained = False
        while time.time() < deadline and not drained:
            try:
                m = int(pg.query("SELECT count(*) FROM tasks WHERE complaint->>'source' = '%s'"
                                 % MARKER_SOURCE))
            except RuntimeError:
                m = -1
            if m == ncp:
                drained = True
            else:
                time.sleep(1)
        while drained and time.time() < deadline:  # the outbox relayed
            try:
                if int(pg.query("SELECT count(*) FROM task_outbox WHERE published_at IS NULL")) == 0:
                    break
            except RuntimeError:
                pass
            time.sleep(1)
        ends = {}  # topic -> {partition: last offset}
        for topic in ("complaints", "dispatch", "task-events"):
            ends[topic] = {}
            for p_, o_, _ in read_topic(broker.addr, topic):
                ends[topic][p_] = max(o_, ends[topic].get(p_, -1))
        behind = None
        while drained and time.time() < deadline:
            try:
                stored = {(r[0], r[1], int(r[2])): int(r[3]) for r in pg.copy(
                    "SELECT consumer, topic, partition, next_offset FROM consumer_offsets")}
            except RuntimeError:
                stored = {}
            behind = [(who, t_, p_) for who, topics in (("komek-tasksink", ("dispatch",)),
                                                       ("komek-analytics", ("complaints", "dispatch", "task-events")))
                      for t_ in topics for p_, last in ends[t_].items()
                      if stored.get((who, t_, p_), 0) <= last]
            if not behind:
                break
            time.sleep(1)
        res.check(drained and behind == [],
                  "drained: all %d markers are tasks, the sink and analytics are past the last "
                  "message of every partition (still behind: %s)" % (ncp, behind))
        # The escalator judges only once analytics has read every partition:
        # rows it has yet to find are not "unpublished" yet.  So wait for two
        # passes that ended after analytics drained (the second began after
        # it), then for the table to have no unpublished row.
        t_drained = time.time()
        passes = []
        while drained and behind == [] and len(passes) < 2 and time.time() < deadline:
            v = escalator_last_pass(esc_port_file)
            if v is not None and v > t_drained and (not passes or v > passes[-1]):
                passes.append(v)
            time.sleep(0.5)
        esc_unpub = None
        while passes and time.time() < deadline:
            try:
                esc_unpub = int(pg.query("SELECT count(*) FROM escalations WHERE published_at IS NULL"))
            except RuntimeError:
                esc_unpub = None
            if esc_unpub == 0:
                break
            time.sleep(1)
        res.check(len(passes) == 2 and esc_unpub == 0,
                  "escalator: two whole passes after analytics drained (%d seen), then no "
                  "escalation row unpublished (%s)" % (len(passes), esc_unpub))
        tasks = int(pg.query("SELECT count(*) FROM tasks"))
        an = int(pg.query("SELECT count(*) FROM an_complaints"))
        ant = int(pg.query("SELECT count(*) FROM an_tasks"))
        say("converged: %d tasks, %d complaint facts, %d task facts (want %d)" % (tasks, an, ant, distinct))
        # each running program is logged in as its own role, not the owner
        res.check(*login_check(pg.copy("SELECT application_name, usename FROM pg_stat_activity "
                                       "WHERE application_name LIKE 'komek-%'")))
        for w in workers:
            rc = w.stop()
            res.check(rc == 0, "%s: stopped by SIGTERM with exit %s (started %d times, SIGKILLed %d)"
                      % (w.name, rc, w.starts, w.kills))
            if rc != 0 and not w.self_exits:
                for line in w.tail():
                    print("        " + line, flush=True)
        for w in workers:
            res.check(not w.self_exits, "%s never exited by itself (only the driver's SIGKILLs and "
                      "the final SIGTERM ended it): %d exits %s%s"
                      % (w.name, len(w.self_exits), [e[0] for e in w.self_exits],
                         "; last lines before the first: " + " | ".join(w.self_exits[0][1][-4:])
                         if w.self_exits else ""))
        bad_logs = []
        for fn in os.listdir(tmp):
            if fn.endswith(".log") and fn != "broker.log":
                for line in open(os.path.join(tmp, fn), errors="replace"):
                    if "Sanitizer" in line or "runtime error" in line:
                        bad_logs.append(fn + ": " + line.strip())
        res.check(not bad_logs, "no sanitizer report in any worker log %s" % bad_logs[:3])

        # ---- tasks ---------------------------------------------------------------------
        rows = pg.copy("SELECT complaint->>'source', complaint->>'external_id', org_id, "
                       "route_reason, attempt FROM tasks")
        got = collections.Counter((r[0], r[1]) for r in rows)
        org_of = {(r[0], r[1]): r[2] for r in rows}
        lost = [k for k in want_task if k not in got]
        doubled = [k for k, c in got.items() if c > 1]
        extra = [k for k in got if k not in want_task]
        wrong = [(k, org_of[k], want_task[k]) for k in want_task if k in org_of and org_of[k] != want_task[k]]
        print("      tasks: %d rows for %d distinct valid complaints: lost %d, doubled %d, "
              "not in the input %d, at the wrong organisation %d"
              % (len(rows), distinct, len(lost), len(doubled), len(extra), len(wrong)))
        res.check(not lost and not doubled and not extra,
                  "every valid complaint is exactly one task (%d); lost %s doubled %s extra %s"
                  % (len(rows), lost[:3], doubled[:3], extra[:3]))
        res.check(not wrong, "every task is at its building's organisation for its category "
                  "(%d triage); wrong: %s" % (sum(1 for v in want_task.values() if v == "triage"), wrong[:3]))

        # ---- dispatch ------------------------------------------------------------------
        # A complaint published once must be dispatched exactly once; one
        # published k times (a resubmission) 1..k times: the router may
        # skip a resubmission it has seen, the task sink keeps one task.
        disp = read_topic(broker.addr, "dispatch")
        ids = collections.Counter(json.loads(m[2])["complaint_id"] for m in disp)
        cpl = read_topic(broker.addr, "complaints")
        pub = collections.Counter()
        id_of = {}  # (source, external_id) -> complaint id
        gw_first = {}  # (source, external_id) -> first published copy
        for m in cpl:
            try:
                c = json.loads(m[2])
                pub[c["id"]] += 1
                id_of[(c["source"], c.get("external_id"))] = c["id"]
                if c["source"] == GW_SOURCE:
                    gw_first.setdefault((c["source"], c.get("external_id")), c)
            except (ValueError, KeyError, TypeError):
                pass  # the raw invalid ones
        gw_ids = {id_of.get(k) for k in gw_keys}
        gw_twice = [k for k in gw_keys if pub.get(id_of.get(k), 0) > 1]
        gw_bad = [k for k in gw_twice if all(st == 201 for st in gw.answers.get(k[1], []))]
        gw_missing = [k for k in gw_keys if k not in gw_first]
        gw_wrongid = [k for k in gw_keys if k[1] in gw.ids and gw.ids[k[1]] != id_of.get(k)]
        res.check(not gw_missing and not gw_bad and not gw_wrongid,
                  "gateway: each of its %d complaints on `complaints` under the id it answered; "
                  "%d more than once, each after a 503 or a lost connection (published again "
                  "after a plain 201: %s; missing %s; other id %s)"
                  % (len(gw_keys), len(gw_twice), gw_bad[:3], gw_missing[:3], gw_wrongid[:3]))
        first.update(gw_first)
        once = [i for i, k in pub.items() if k == 1]
        bad1 = [i for i in once if ids.get(i, 0) != 1]
        badk = [i for i, k in pub.items() if k > 1 and not 1 <= ids.get(i, 0) <= k]
        stray = [i for i in ids if i not in pub]
        mk_ids = {id_of.get(k) for k in marker_keys}
        npub_in = sum(v for i, v in pub.items() if i not in gw_ids and i not in mk_ids)
        res.check(len(pub) == distinct and npub_in == valid_lines and
                  all(pub.get(i) == 1 for i in mk_ids),
                  "complaints: %d valid messages from komek-intake for %d valid lines, %d "
                  "distinct complaints with the gateway's and the %d markers (%d)"
                  % (npub_in, valid_lines, len(pub), len(mk_ids), distinct))
        res.check(not bad1 and not badk and not stray,
                  "dispatch (read_committed): %d messages; each of the %d complaints published once "
                  "dispatched exactly once (%d not), each of the %d published more often 1..k times "
                  "(%d not), none unknown (%d)" % (len(disp), len(once), len(bad1),
                                                   len(pub) - len(once), len(badk), len(stray)))

        # ---- dead letters ----------------------------------------------------------------
        dlq = [json.loads(m[2]) for m in read_topic(broker.addr, "complaints.dlq")]
        by_line = collections.defaultdict(list)
        by_raw = collections.defaultdict(list)
        other = []
        for d in dlq:
            o = d.get("origin", {})
            if "file" in o:
                by_line[o["line"]].append(d["reason"])
            elif o.get("topic") == "complaints":
                m = re.search(r"raw-\d+-\d+", d.get("original", ""))
                by_raw[m.group(0) if m else "?"].append(d["reason"])
            else:
                other.append(d)
        miss = [l for l in invalid if l not in by_line]
        dup = [l for l, v in by_line.items() if len(v) > 1]
        wrongr = [(l, by_line[l], r) for l, r in invalid.items() if l in by_line and by_line[l][0] != r]
        extra = [l for l in by_line if l not in invalid]
        print("      dead letters from komek-intake: %d for %d invalid lines: missing %d, doubled %d, "
              "wrong reason %d, not invalid %d" % (sum(len(v) for v in by_line.values()),
                                                   len(invalid), len(miss), len(dup), len(wrongr), len(extra)))
        res.check(not miss and not dup and not wrongr and not extra,
                  "every invalid line is exactly one dead letter with truth.csv's reason (%s)"
                  % ", ".join("%s %d" % kv for kv in collections.Counter(invalid.values()).most_common(4)))
        rmiss = [k for k in raws if k not in by_raw]
        rdup = [k for k, v in by_raw.items() if len(v) > 1]
        rwrong = [(k, by_raw[k], raws[k]) for k in raws if k in by_raw and by_raw[k][0] != raws[k]]
        rextra = [k for k in by_raw if k not in raws]
        res.check(not rmiss and not rdup and not rwrong and not rextra and not other,
                  "komek-router: exactly one dead letter per raw invalid message (%d; missing %d, "
                  "doubled %d, wrong reason %d, unknown %d, other origins %d)"
                  % (len(raws), len(rmiss), len(rdup), len(rwrong), len(rextra), len(other)))
        adlq = [json.loads(m[2]) for m in read_topic(broker.addr, "complaints.dlq.analytics", False)]
        araw = collections.Counter()
        for d in adlq:
            m = re.search(r"raw-\d+-\d+", d.get("original", ""))
            if m and d.get("origin", {}).get("topic") == "complaints":
                araw[m.group(0)] += 1
        res.check(all(araw[k] >= 1 for k in raws),
                  "komek-analytics dead-lettered every raw invalid message at least once "
                  "(%d messages for %d; %d repeats after kills, by design)"
                  % (sum(araw.values()), len(raws), sum(araw.values()) - len(araw)))

        # ---- task events ------------------------------------------------------------------
        st = {r[0]: (r[1], r[2]) for r in pg.copy(
            "SELECT complaint_id, status, coalesce(status_note, '') FROM tasks WHERE status <> 'open'")}
        wrong_st = [(c, st.get(c), note) for c, (org, note) in inbox.worked.items()
                    if st.get(c) != ("resolved", note)]
        others = [c for c in st if c not in inbox.worked]
        res.check(not wrong_st and not others,
                  "tasks: the %d worked by the inbox are resolved with their note (wrong %s), "
                  "no other task changed (%d)" % (len(inbox.worked), wrong_st[:3], len(others)))
        ob = pg.copy("SELECT event_id, complaint_id, event, published_at IS NOT NULL FROM task_outbox "
                     "WHERE topic = 'task_events'")
        ob_ev = collections.Counter((r[1], r[2]) for r in ob)
        want_ev = {(c, e) for c in inbox.worked for e in ("acknowledged", "resolved")}
        res.check(set(ob_ev) == want_ev and all(v == 1 for v in ob_ev.values()) and
                  all(r[3] == "t" for r in ob),
                  "task outbox: exactly one acknowledged and one resolved event per worked task "
                  "(%d rows for %d), all published (%d not)"
                  % (len(ob), len(want_ev), sum(1 for r in ob if r[3] != "t")))
        tev = collections.Counter()
        for m in read_topic(broker.addr, "task-events"):
            try:
                tev[json.loads(m[2])["event_id"]] += 1
            except (ValueError, KeyError, TypeError):
                tev["?"] += 1
        obids = {r[0] for r in ob}
        res.check(obids <= set(tev) and set(tev) <= obids,
                  "task-events: every outbox event on the topic (%d messages for %d events; "
                  "missing %d, unknown %d; a relayed one may repeat: %d)"
                  % (sum(tev.values()), len(obids), len(obids - set(tev)), len(set(tev) - obids),
                     sum(tev.values()) - len(tev)))
        aev = pg.copy("SELECT event_id, complaint_id, event FROM an_task_events")
        res.check(sorted(r[0] for r in aev) == sorted(obids) and
                  {(r[1], r[2]) for r in aev} == want_ev,
                  "analytics: an_task_events holds exactly the %d events (%d rows)"
                  % (len(obids), len(aev)))

        # ---- escalations: exactly once on the topic ---------------------------------------
        erows = pg.copy("SELECT escalation_id, published_at IS NOT NULL FROM escalations")
        emsgs = collections.Counter(json.loads(m[2]).get("escalation_id")
                                    for m in read_topic(broker.addr, "escalations"))
        unpub = [r[0] for r in erows if r[1] != "t"]
        rowids = {r[0] for r in erows}
        # Exactly once: every row on the topic once, none that is not a
        # row, none left unpublished (the drain above waited for two whole
        # passes after analytics had read everything; nothing new is found
        # after that, since every due time left is hours ahead).
        pubids = {r[0] for r in erows if r[1] == "t"}
        res.check(erows and set(emsgs) <= rowids and pubids <= set(emsgs) and not unpub and
                  all(v == 1 for v in emsgs.values()),
                  "escalations: every row published, exactly one message per row (%d rows, %d "
                  "messages; unpublished %d, doubled %d, not in the table %d, published but "
                  "missing %d)"
                  % (len(erows), sum(emsgs.values()), len(unpub),
                     sum(1 for v in emsgs.values() if v > 1), len(set(emsgs) - rowids),
                     len(pubids - set(emsgs))))

        # ---- analytics against our own recomputation ----------------------------------------
        an = int(pg.query("SELECT count(*) FROM an_complaints"))
        ant = int(pg.query("SELECT count(*) FROM an_tasks"))
        res.check(an == distinct and ant == distinct,
                  "analytics facts: %d complaints, %d tasks (want %d each)" % (an, ant, distinct))
        wk = collections.Counter()
        ch = collections.Counter()
        ytd = collections.Counter()
        dist = collections.Counter()
        for key, c in first.items():
            d = local_day(c["received_at"])
            ws = week_start(d)
            wk[(ws, c["category"])] += 1
            ch[(ws, c.get("channel") or "unknown")] += 1
            ytd[(d.year, c["category"])] += 1
        # the district from the generator's truth, never from the router's
        # output: the building's, or for an unknown building the district
        # its structured address names (truth.csv's district column, the
        # canonical name; '' when it names none). The gateway's and the
        # markers' buildings are known: their directory district.
        td = {k: blds[b]["district"] for k, b in list(gw_keys.items()) +
              list(marker_keys.items())}
        for t in truth:
            if t["valid"] == "1":
                td.setdefault((t["source"], t["external_id"]), t["district"])
        for key, c in first.items():
            ws = week_start(local_day(c["received_at"]))
            dist[(ws, c["category"], td[key] or None)] += 1
        bad = []
        view = pg.copy("SELECT week_start, category, n, prev_n, wow_pct FROM complaints_weekly")
        seen = set()
        for r in view:
            ws = datetime.date.fromisoformat(r[0])
            k = (ws, r[1])
            seen.add(k)
            e_n, e_p = wk.get(k, 0), wk.get((ws - datetime.timedelta(days=7), r[1]), 0)
            e_w = wow(e_n, e_p)
            g_w = float(r[4]) if r[4] else None
            if int(r[2]) != e_n or int(r[3]) != e_p or (e_w is None) != (g_w is None) or \
                    (e_w is not None and abs(e_w - g_w) > 0.0001):
                bad.append((r, e_n, e_p, e_w))
        bad += [("missing", k) for k in wk if k not in seen]
        res.check(not bad, "complaints_weekly: %d week x category rows (n, prev_n, wow_pct) equal "
                  "the recomputation from complaints.jsonl; differences %s" % (len(view), bad[:3]))
        view = pg.copy("SELECT week_start, channel, n FROM channels_weekly")
        gotc = {(datetime.date.fromisoformat(r[0]), r[1]): int(r[2]) for r in view}
        res.check(gotc == {k: v for k, v in ch.items() if v}, "channels_weekly: %d rows equal the "
                  "recomputation" % len(view))
        view = pg.copy("SELECT year, category, n FROM complaints_ytd")
        goty = {(int(r[0]), r[1]): int(r[2]) for r in view}
        res.check(goty == dict(ytd), "complaints_ytd: %d year x category rows equal the recomputation"
                  % len(view))
        view = pg.copy("SELECT week_start, category, district, n FROM complaints_weekly_district WHERE n > 0")
        gotd = {(datetime.date.fromisoformat(r[0]), r[1], r[2] or None): int(r[3]) for r in view}
        diff = sorted(set(gotd.items()) ^ set(dist.items()), key=str)
        res.check(not diff, "complaints_weekly_district: %d rows (district of the routed "
                  "building) equal the recomputation; %d differ %s"
                  % (len(view), len(diff), [(str(k[0]), k[1], k[2], v) for k, v in diff[:6]]))
        print("      faults: " + ", ".join("%s %d" % kv for kv in sorted(done.items())) +
              "; workers exited by themselves: " +
              ", ".join("%s %d" % (w.name, len(w.self_exits)) for w in workers) +
              "; the escalator's documented exits on the lost database session: %d"
              % sum(w.pg_exits for w in workers))
    except Exception as e:  # a setup or harness failure is a failure
        res.check(False, "harness: %s: %s" % (type(e).__name__, e))
    finally:
        for w in workers:
            w.kill()
        if intake and intake.poll() is None:
            intake.kill()
        broker.kill()
        if standby:
            standby.stop()
        pg.stop()
        if a.keep:
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return finish(res)


def finish(res):
    for k, v in FIGURES.items():
        say("figure: %s: %s" % (k, v))
    say("done")
    print("%d passed, %d failed" % (res.passed, res.failed))
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
