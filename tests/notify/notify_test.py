#!/usr/bin/python3
"""tests/notify/notify_test.py - komek-notify against real receivers on
loopback, the real broker and PostgreSQL (tests/notify/test_notify.sh runs
it with Debian's python3, which has python3-aiosmtpd).

Receivers:
  - an HTTPS webhook receiver (http.server + ssl, a throw-away CA made with
    openssl) that verifies X-Signature (HMAC-SHA256 over timestamp "." body
    with the organisation's secret) and records every event id it accepted;
    it can answer 500, be slow (longer than notify.timeout_ms) or be down
    (its socket closed);
  - an SMTP server (aiosmtpd) that requires STARTTLS and AUTH and records
    every message.
Checks: every task reaches every channel of its organisation, the log has
exactly one row per (event, channel) however often komek-notify was killed
(SIGKILL mid-batch) or the receivers failed, the stored offsets reach the
topic's end, e-mail carries Russian and Kazakh, the inbox link, a
Message-ID from the event id and no resident contact or text; non-urgent
e-mail of a digest channel arrives as one digest; an undeliverable webhook
is dead-lettered (reason, origin) after notify.max_age_s and counted on
/metrics; an open task due soon gets one SLA warning; a re-route is sent
as task.rerouted; task-events: an acknowledgement cancels a pending SLA
warning (never received), a task acknowledged before its dispatch message
was read has its e-mail logged cancelled, a reopened one not, an invalid
task event is dead-lettered, the task-events offsets reach the end.  Waits poll against deadlines; nothing sleeps for a
result.  Prints "N passed, N failed".
"""
import base64
import email
import email.header
import email.policy
import glob
import hashlib
import hmac
import http.server
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

# aiosmtpd 1.4 logs a warning about its own use of a deprecated attribute
logging.getLogger("mail.log").setLevel(logging.ERROR)
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

ROOT = os.environ.get("KOMEK_ROOT", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("KOMEK_BIN", os.path.join(ROOT, "bin"))
BROKERS = os.environ["KOMEK_BROKERS"]
PG = os.environ["KOMEK_PG_TEST_CONNINFO"]
TAG = "nt%d" % os.getpid()
SCHEMA = "komek_test_" + TAG
DISPATCH = "test-%s-dispatch" % TAG
DLQ = "test-%s-dlq" % TAG
EVENTS = "test-%s-task-events" % TAG
SECRET1 = "s3cret-ksk-1-0123456789"
SECRET3 = "s3cret-ksk-3-0123456789"
RESIDENT_PHONE = "+77015550199"
RESIDENT_NAME = "Секретова"
RESIDENT_TEXT = "ТЕКСТЖИТЕЛЯ"
INBOX = "https://inbox.komek.test"

passed = failed = 0


def ok(msg):
    global passed
    passed += 1
    print("ok    " + msg, flush=True)


def bad(msg):
    global failed
    failed += 1
    print("FAIL  " + msg, flush=True)


def check(cond, msg):
    (ok if cond else bad)(msg)
    return cond


def wait_until(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    bad("timed out after %d s: %s" % (timeout, what))
    return None


def psql(sql, *args):
    """Run sql (psql variables :'v1'... for args) in the test schema."""
    cmd = ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1",
           PG + " options='-csearch_path=%s'" % SCHEMA]
    for i, a in enumerate(args):
        cmd += ["-v", "v%d=%s" % (i + 1, a)]
    r = subprocess.run(cmd, input=sql, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql: " + r.stderr.strip())
    return r.stdout.strip()


def scalar(sql, *args):
    return psql(sql, *args).split("\n")[-1]


# ---- receivers -------------------------------------------------------------

class Hook:
    mode = "ok"       # ok, 500, slow
    fails_left = 0    # with mode 500: answer 500 this many times, then ok
    events = []       # (event_id, event, org, body) accepted
    late = []         # (event_id, body) taken but answered too late
    bad_sigs = 0
    requests = 0
    lock = threading.Lock()
    secrets = {"/ksk-1": SECRET1, "/ksk-3": SECRET3}
    refuse = set()    # event ids answered 500 whatever the mode


class HookHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        ts = self.headers.get("X-Komek-Timestamp", "")
        sig = self.headers.get("X-Signature", "")
        secret = Hook.secrets.get(self.path, "")
        want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
        with Hook.lock:
            Hook.requests += 1
            mode = Hook.mode
            if mode == "500" and Hook.fails_left <= 0:
                mode = "ok"
            if mode == "500":
                Hook.fails_left -= 1
        if not hmac.compare_digest(want, sig) or \
                abs(time.time() - int(ts or 0)) > 300:
            with Hook.lock:
                Hook.bad_sigs += 1
            self.send_response(401)
            self.end_headers()
            return
        if mode == "500":
            self.send_response(500)
            self.end_headers()
            return
        doc = json.loads(body)
        if doc["event_id"] in Hook.refuse:
            self.send_response(500)
            self.end_headers()
            return
        if doc["event_id"] != self.headers.get("Idempotency-Key"):
            with Hook.lock:
                Hook.bad_sigs += 1
        if mode == "slow":
            # taken, but the answer comes after notify.timeout_ms: to the
            # sender a failure, so it sends again
            with Hook.lock:
                Hook.late.append((doc["event_id"], body))
            time.sleep(2.5)
            self.send_response(204)
            self.end_headers()
            return
        with Hook.lock:
            Hook.events.append((doc["event_id"], doc["event"],
                                doc["task"]["org_id"], doc))
        self.send_response(204)
        self.end_headers()


class HookServer:
    def __init__(self, ctx, port=0):
        self.ctx, self.port, self.srv = ctx, port, None

    def start(self):
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port),
                                                   HookHandler)
        self.srv.daemon_threads = True
        self.srv.socket = self.ctx.wrap_socket(self.srv.socket,
                                               server_side=True)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class Mail:
    messages = []
    lock = threading.Lock()


class MailHandler:
    async def handle_DATA(self, server, session, envelope):
        if not session.authenticated:
            return "530 not authenticated"
        tls = server.transport.get_extra_info("ssl_object") is not None
        msg = email.message_from_bytes(envelope.content,
                                       policy=email.policy.default)
        with Mail.lock:
            Mail.messages.append((envelope.rcpt_tos, msg, tls))
        return "250 OK"


def mail_auth(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and \
            auth_data.login == b"notify" and auth_data.password == b"pw-123":
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


# ---- komek-notify ----------------------------------------------------------

def notify_start(tmp, extra=(), name="n"):
    log = open(os.path.join(tmp, "notify-%s.log" % name), "a")
    env = dict(os.environ)
    env["KOMEK_PG_CONNINFO"] = PG + " options='-csearch_path=%s'" % SCHEMA
    args = [os.path.join(BIN, "komek-notify"),
            "--config", os.path.join(ROOT, "deploy/komek.conf"),
            "--set", "topics.dispatch=" + DISPATCH,
            "--set", "topics.dlq=" + DLQ,
            "--set", "topics.task_events=" + EVENTS,
            "--set", "notify.group=" + TAG,
            "--set", "notify.inbox_url=" + INBOX,
            "--set", "notify.batch_size=20",
            "--set", "notify.retry_base_ms=200",
            "--set", "notify.retry_max_ms=1000",
            "--set", "notify.timeout_ms=1500",
            "--set", "notify.lease_s=5",
            "--set", "notify.ca_file=" + os.path.join(tmp, "ca.pem"),
            "--set", "notify.smtp_url=smtp://localhost:%d" % SMTP_PORT,
            "--set", "notify.smtp_user=notify",
            "--set", "notify.smtp_password=pw-123",
            "--set", "notify.mail_from=komek@komek.test",
            "--set", "notify.sla_scan_ms=500",
            "--set", "notify.metrics_port=-1",
            "--set", "notify.metrics_port_file=" +
            os.path.join(tmp, "port-%s" % name)]
    for e in extra:
        args += ["--set", e]
    p = subprocess.Popen(args, stdout=log, stderr=log, env=env)
    p.logname = log.name
    return p


def notify_stop(p, what):
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        # where it hangs: its threads' kernel stacks and its log's tail
        for t in sorted(glob.glob("/proc/%d/task/*" % p.pid)):
            try:
                print("  thread %s: %s" % (os.path.basename(t),
                      open(t + "/wchan").read()))
            except OSError:
                pass
        p.kill()
        rc = "timeout"
    check(rc == 0, "%s: SIGTERM exits 0 (got %s)" % (what, rc))
    if rc != 0 and getattr(p, "logname", None):
        with open(p.logname, errors="replace") as f:
            for line in f.readlines()[-25:]:
                print("  | " + line.rstrip())


def dispatch_msg(cid, org, cat="heating", attempt=1, sla_h=24,
                 emergency=False):
    now = time.time()
    fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return {"schema_version": 1, "complaint_id": cid, "attempt": attempt,
            "org_id": org, "org_kind": "ksk", "building_id": "b-1",
            "district": "Есиль", "category": cat,
            "received_at": fmt(now - 60), "routed_at": fmt(now - 30),
            "due_at": fmt(now - 60 + sla_h * 3600),
            "route_reason": "building_id",
            "complaint": {"description": RESIDENT_TEXT + " протекает",
                          "contact": {"name": "Айгерим " + RESIDENT_NAME,
                                      "phone": RESIDENT_PHONE},
                          "emergency": emergency}}


def produce(msgs, topic=DISPATCH):
    """msgs: (key, value str) pairs, through kcat."""
    data = "".join("%s\t%s\n" % (k, v) for k, v in msgs)
    r = subprocess.run(["kcat", "-P", "-b", BROKERS, "-t", topic,
                        "-K", "\t", "-z", "none"], input=data.encode(),
                       capture_output=True)
    if r.returncode:
        raise RuntimeError("kcat: " + r.stderr.decode())


def event_id(cid, attempt, kind):
    return str(uuid.UUID(hashlib.md5(
        ("%s/%d/%s" % (cid, attempt, kind)).encode()).hexdigest()))


def task_event(cid, event, attempt=1, org="ksk-1"):
    return (cid, json.dumps({
        "schema_version": 1, "event_id": str(uuid.uuid4()),
        "complaint_id": cid, "attempt": attempt, "org_id": org,
        "event": event, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                            time.gmtime())}))


def topic_end(topic=DISPATCH):
    total = 0
    for p in range(3):
        r = subprocess.run(["kcat", "-Q", "-b", BROKERS,
                            "-t", "%s:%d:-1" % (topic, p)],
                           capture_output=True, text=True)
        total += int(r.stdout.split()[-1])
    return total


def stored_offsets(topic=DISPATCH):
    return int(scalar("SELECT coalesce(sum(next_offset), 0) FROM "
                      "consumer_offsets WHERE consumer = :'v1' AND "
                      "topic = :'v2'", TAG, topic))


def metrics(tmp, name):
    port = open(os.path.join(tmp, "port-%s" % name)).read().strip()
    with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port,
                                timeout=5) as r:
        return r.read().decode()


def run(tmp):
    global SMTP_PORT
    # ---- a CA and a server certificate for localhost ----
    subprocess.run(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=komek-test-ca"
        " -keyout ca.key -out ca.pem && openssl req -newkey rsa:2048 -nodes"
        " -subj /CN=localhost -keyout srv.key -out srv.csr && printf"
        " 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && openssl x509"
        " -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
        " -extfile ext -out srv.pem",
        shell=True, cwd=tmp, check=True, capture_output=True)
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(os.path.join(tmp, "srv.pem"),
                         os.path.join(tmp, "srv.key"))
    hook = HookServer(sctx)
    hook.start()
    mctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    mctx.load_cert_chain(os.path.join(tmp, "srv.pem"),
                         os.path.join(tmp, "srv.key"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        SMTP_PORT = s.getsockname()[1]
    smtp = Controller(MailHandler(), hostname="127.0.0.1", port=SMTP_PORT,
                      tls_context=mctx, require_starttls=True,
                      authenticator=mail_auth, auth_required=True,
                      server_hostname="localhost")
    smtp.start()
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]

    # ---- schema, topics, directory ----
    subprocess.run(["psql", "-X", "-q", PG, "-c", "CREATE SCHEMA " + SCHEMA],
                   check=True, capture_output=True)
    env = dict(os.environ)
    env["KOMEK_PG_CONNINFO"] = PG + " options='-csearch_path=%s'" % SCHEMA
    subprocess.run([os.path.join(BIN, "komek-admin"), "--config",
                    os.path.join(ROOT, "deploy/komek.conf"), "--sql-dir",
                    os.path.join(ROOT, "deploy/sql"), "--log-level", "warn",
                    "--set", "topics.dispatch=" + DISPATCH,
                    "--set", "topics.dispatch_partitions=3",
                    "--set", "topics.dlq=" + DLQ,
                    "--set", "topics.task_events=" + EVENTS, "all"],
                   check=True, env=env)
    d = os.path.join(tmp, "dir")
    os.mkdir(d)
    with open(os.path.join(d, "organisations.csv"), "w") as f:
        f.write("id,kind,name,district,phone\n"
                "ksk-1,ksk,КСК Береке,Есиль,\nksk-2,ksk,ОСИ Жулдыз,Есиль,\n"
                "ksk-3,ksk,КСК Пропал,Есиль,\nksk-4,ksk,КСК Тихий,Есиль,\n")
    with open(os.path.join(d, "buildings.csv"), "w") as f:
        f.write("id,district,street,house,apartments,ksk_id,lift_operator_id,"
                "lat,long\nb-1,Есиль,улица Кенесары,12,80,ksk-1,,,\n")
    with open(os.path.join(d, "channels.csv"), "w") as f:
        f.write("org_id,channel,target,secret,digest_minutes\n"
                "ksk-1,webhook,https://localhost:%d/ksk-1,%s,\n"
                "ksk-1,email,dispatch@bereke.kz,,0\n"
                "ksk-2,email,osi@zhuldyz.kz,,1\n"
                "ksk-3,webhook,https://localhost:%d/ksk-3,%s,\n"
                % (hook.port, SECRET1, dead_port, SECRET3))
    r = subprocess.run([os.path.join(BIN, "komek-directory"), "--config",
                        os.path.join(ROOT, "deploy/komek.conf"), "import", d],
                       env=env, capture_output=True, text=True)
    check(r.returncode == 0 and
          "channels: 4 in file, 4 added, 0 changed, 0 unchanged, 0 removed"
          in r.stdout, "directory imports channels.csv (%s)" % r.stdout.strip())
    r = subprocess.run([os.path.join(BIN, "komek-directory"), "--config",
                        os.path.join(ROOT, "deploy/komek.conf"), "import", d],
                       env=env, capture_output=True, text=True)
    check("channels: 4 in file, 0 added, 0 changed, 4 unchanged, 0 removed"
          in r.stdout, "a second import changes no channel")
    check(scalar("SELECT count(*) FROM org_channel_history") == "4",
          "channel history: one row per added channel")
    bad_dir = os.path.join(tmp, "bad")
    os.mkdir(bad_dir)
    for f in ("organisations.csv", "buildings.csv"):
        with open(os.path.join(d, f)) as src, \
                open(os.path.join(bad_dir, f), "w") as dst:
            dst.write(src.read())
    with open(os.path.join(bad_dir, "channels.csv"), "w") as f:
        f.write("org_id,channel,target,secret,digest_minutes\n"
                "ksk-9,email,x@y.kz,,\n"
                "ksk-1,webhook,http://plain.example/x,0123456789abcdef0,\n"
                "ksk-1,webhook,https://h.example/x,TOPSECRET,\n"
                "ksk-2,email,bad address@x.kz,,2000\n"
                "ksk-2,sms,+77010000000,,\n")
    r = subprocess.run([os.path.join(BIN, "komek-directory"), "--config",
                        os.path.join(ROOT, "deploy/komek.conf"), "import",
                        bad_dir], env=env, capture_output=True, text=True)
    errs = [x for x in r.stderr.splitlines() if "channels.csv:" in x]
    check(r.returncode == 1 and len(errs) == 6 and
          "TOPSECRET" not in r.stderr and
          scalar("SELECT count(*) FROM org_channels") == "4",
          "invalid channels: exit 1, each line named (%d), no secret "
          "printed, nothing imported" % len(errs))

    # ---- phase 1: 500s, then SIGKILL mid-batch, a restart ----
    ids1 = [str(uuid.uuid4()) for _ in range(60)]
    Hook.mode, Hook.fails_left = "500", 25
    produce([("ksk-1", json.dumps(dispatch_msg(c, "ksk-1")))
             for c in ids1] + [("ksk-1", "{not json")])
    p = notify_start(tmp)
    # killed while it sends: some rows sent (the e-mails go at once, the
    # webhooks meet the 500s first), not all
    wait_until(lambda: int(scalar("SELECT count(*) FROM notify_deliveries "
                                  "WHERE status = 'sent'")) > 0, 60,
               "first rows sent")
    p.send_signal(signal.SIGKILL)
    p.wait()
    n_sent = int(scalar("SELECT count(*) FROM notify_deliveries WHERE "
                        "status = 'sent'"))
    check(0 < n_sent < 120, "SIGKILL mid-way: %d of 120 rows sent" % n_sent)
    ids1b = [str(uuid.uuid4()) for _ in range(60)]
    produce([("ksk-1", json.dumps(dispatch_msg(c, "ksk-1"))) for c in ids1b])
    ids1 += ids1b
    p = notify_start(tmp)
    want = {event_id(c, 1, "new") for c in ids1}
    wait_until(lambda: want <= {e[0] for e in Hook.events}, 120,
               "every webhook delivered")
    wait_until(lambda: scalar("SELECT count(*) FROM notify_deliveries WHERE "
                              "status = 'sent'") == "240", 120,
               "every row sent")
    check(scalar("SELECT count(*) FROM notify_deliveries") == "240",
          "log: exactly one row per (event, channel): 120 tasks x 2")
    check(stored_offsets() == topic_end(),
          "stored offsets reach the topic's end (%d)" % topic_end())
    check(Hook.bad_sigs == 0, "receiver verified every signature")
    got = {e[0] for e in Hook.events}
    check(got == want, "webhook: every event id, nothing else")
    check(int(scalar("SELECT count(*) FROM notify_deliveries WHERE tries > 1"))
          > 0, "the 500s were retried (tries > 1)")
    print("      webhook POSTs %d for %d events (500s and the kill)" %
          (Hook.requests, len(want)), flush=True)
    r = subprocess.run(["kcat", "-C", "-b", BROKERS, "-t", DLQ, "-e", "-q",
                        "-f", "%s\n"], capture_output=True, text=True)
    check("invalid_dispatch" in r.stdout, "invalid dispatch dead-lettered")
    mails = [m for m in Mail.messages if "dispatch@bereke.kz" in m[0]]
    wait_until(lambda: len({m[1]["Message-ID"] for m in Mail.messages
                            if "dispatch@bereke.kz" in m[0]}) >= 120, 60,
               "120 e-mails")
    mails = [m for m in Mail.messages if "dispatch@bereke.kz" in m[0]]
    mids = {m[1]["Message-ID"] for m in mails}
    check(mids == {"<%s@komek-notify>" % e for e in want},
          "e-mail: Message-ID <event_id@komek-notify> for each task")
    check(all(m[2] for m in mails), "e-mail: every message over STARTTLS")
    m = mails[0][1]
    text = m.get_body().get_content()
    subj = str(m["Subject"])
    check("Новая заявка" in text and "Ұйымыңызға жаңа өтініш" in text and
          "Новая заявка" in subj, "e-mail: Russian and Kazakh")
    check(any(INBOX + "/tasks/" + c in text for c in ids1),
          "e-mail: links the task in the web inbox")
    leak = [x for x in mails if RESIDENT_PHONE in x[1].as_string() or
            RESIDENT_PHONE in x[1].get_body().get_content() or
            RESIDENT_NAME in x[1].get_body().get_content() or
            RESIDENT_TEXT in x[1].get_body().get_content()]
    check(not leak, "e-mail: no resident contact or text")
    hook_leak = [e for e in Hook.events if RESIDENT_PHONE in json.dumps(
        e[3], ensure_ascii=False) or RESIDENT_TEXT in json.dumps(
        e[3], ensure_ascii=False)]
    check(not hook_leak, "webhook: no resident contact or text")

    # ---- phase 2: a second process joins (a rebalance), the receiver
    # goes down, then is slow, then back ----
    p2 = notify_start(tmp, name="n2")
    wait_until(lambda: "assigned" in open(os.path.join(
        tmp, "notify-n2.log")).read(), 60, "the second process is assigned")
    hook.stop()
    ids2 = [str(uuid.uuid4()) for _ in range(10)]
    produce([("ksk-1", json.dumps(dispatch_msg(c, "ksk-1"))) for c in ids2])
    wait_until(lambda: int(scalar(
        "SELECT count(*) FROM notify_deliveries WHERE channel = 'webhook' AND "
        "status = 'pending' AND tries >= 2 AND last_error LIKE 'webhook:%'"))
        >= 10, 60, "webhooks retried while the receiver is down")
    hook = HookServer(sctx, hook.port)
    Hook.mode = "slow"
    hook.start()
    wait_until(lambda: int(scalar(
        "SELECT count(*) FROM notify_deliveries WHERE channel = 'webhook' AND "
        "status = 'pending' AND last_error LIKE '%imeout%'")) >= 1, 60,
        "a slow receiver times out and is retried")
    Hook.mode = "ok"
    want2 = {event_id(c, 1, "new") for c in ids2}
    wait_until(lambda: want2 <= {e[0] for e in Hook.events}, 60,
               "webhooks delivered once the receiver is back")
    late = dict(Hook.late)
    again = {e[0]: e[3] for e in Hook.events if e[0] in late}
    check(late and set(late) == set(again) and all(
        json.loads(late[k]) == again[k] for k in late),
        "an answer lost to the timeout: sent again with the same "
        "Idempotency-Key and body (%d)" % len(late))
    wait_until(lambda: scalar("SELECT count(*) FROM notify_deliveries WHERE "
                              "status = 'sent'") == "260", 60,
               "all 260 rows sent")
    check(scalar("SELECT count(*) FROM notify_deliveries") == "260",
          "log after the outage: still one row per (event, channel)")

    # ---- phase 3: digest, urgent, re-route, SLA warning ----
    ids3 = [str(uuid.uuid4()) for _ in range(3)]
    urgent = str(uuid.uuid4())
    rer = ids1[0]
    # Digests are cut at whole minutes (digest_minutes 1).  The three
    # tasks are logged early in a minute, so they normally share one
    # minute and go as one digest; see the check below for a cut.
    while time.time() % 60 > 40:
        time.sleep(0.5)
    produce([("ksk-2", json.dumps(dispatch_msg(c, "ksk-2"))) for c in ids3] +
            [("ksk-2", json.dumps(dispatch_msg(urgent, "ksk-2", "gas",
                                               sla_h=4)))] +
            [("ksk-1", json.dumps(dispatch_msg(rer, "ksk-1", attempt=2)))])
    sla_cid = str(uuid.uuid4())
    psql("INSERT INTO tasks (complaint_id, attempt, org_id, org_kind, "
         "category, route_reason, status, received_at, routed_at, due_at, "
         "description, updated_at, complaint) VALUES (:'v1', 1, 'ksk-1', "
         "'ksk', 'roof', 'building_id', 'open', now() - interval '71 hours', "
         "now() - interval '71 hours', now() + interval '20 minutes', 'x', "
         "now(), '{}')", sla_cid)
    # not warned: acknowledged, or due after the warning window (60 min)
    for status, due in (("acknowledged", "20 minutes"), ("open", "3 hours")):
        psql("INSERT INTO tasks (complaint_id, attempt, org_id, org_kind, "
             "category, route_reason, status, received_at, routed_at, "
             "due_at, description, updated_at, complaint) VALUES (:'v1', 1, "
             "'ksk-1', 'ksk', 'roof', 'building_id', :'v2', now(), now(), "
             "now() + :'v3'::interval, 'x', now(), '{}')",
             str(uuid.uuid4()), status, due)
    osi = lambda: [m for m in Mail.messages if "osi@zhuldyz.kz" in m[0]]
    wait_until(lambda: any(m[1]["Message-ID"] == "<%s@komek-notify>" %
                           event_id(urgent, 1, "new") for m in osi()), 30,
               "an urgent task goes at once, alone")
    # Should a minute's end still fall between them, the tasks of one
    # minute go as a digest and a task alone in its minute as a plain
    # e-mail (Message-ID <event_id@komek-notify>).  Each task is in
    # exactly one message, each digest counts what it holds, and at least
    # one digest holds two or more.
    def digests():
        return [m[1].get_body().get_content() for m in osi()
                if m[1]["Message-ID"].startswith("<digest-")]

    def alone():
        return [c for c in ids3 for m in osi()
                if m[1]["Message-ID"] == "<%s@komek-notify>" %
                event_id(c, 1, "new")]
    wait_until(lambda: sum(b.count(INBOX + "/tasks/" + c) for b in digests()
                           for c in ids3) + len(alone()) >= 3, 150,
               "the digest (1 minute)")
    dig, single = digests(), alone()
    held = [sum(1 for c in ids3 if INBOX + "/tasks/" + c in b) for b in dig]
    check(1 <= len(dig) <= 2 and max(held) >= 2 and len(single) <= 1 and
          all(sum(b.count(INBOX + "/tasks/" + c) for b in dig) +
              single.count(c) == 1 for c in ids3) and
          all(n > 0 and "Новые заявки: %d" % n in b for n, b in zip(held, dig)),
          "three non-urgent tasks arrive as digests, each task in one "
          "message (%d digest(s): %s; alone: %d)" % (len(dig), held,
                                                     len(single)))
    wait_until(lambda: any(e[0] == event_id(rer, 2, "reroute") and
                           e[1] == "task.rerouted" for e in Hook.events), 30,
               "a re-route is sent as task.rerouted")
    wait_until(lambda: any(e[0] == event_id(sla_cid, 1, "sla_warning") and
                           e[1] == "task.sla_warning" for e in Hook.events),
               30, "an open task due soon gets an SLA warning")
    # the digest's minute saw scans every 500 ms: they added nothing more
    n_sla = scalar("SELECT count(*) FROM notify_deliveries WHERE kind = "
                   "'sla_warning'")
    check(n_sla == "2", "SLA warning: one row per channel, once; none for "
          "an acknowledged task or one due later (%s)" % n_sla)
    notify_stop(p, "komek-notify")
    notify_stop(p2, "komek-notify (second)")
    # no crash since phase 1: two senders, leases and SKIP LOCKED, so each
    # event was accepted once and each e-mail sent once
    later = {event_id(c, 1, "new") for c in ids2 + ids3 + [urgent]} | {
        event_id(rer, 2, "reroute"), event_id(sla_cid, 1, "sla_warning")}
    acc = [e[0] for e in Hook.events if e[0] in later]
    check(len(acc) == len(set(acc)),
          "two processes: every webhook accepted once (%d)" % len(acc))
    mids = [m[1]["Message-ID"] for m in Mail.messages
            if any(x in m[1]["Message-ID"] for x in later) or
            m[1]["Message-ID"].startswith("<digest-")]
    check(len(mids) == len(set(mids)),
          "two processes: every e-mail sent once (%d)" % len(mids))

    # ---- phase 4: given up: dead letters, /metrics ----
    p = notify_start(tmp, ["notify.max_age_s=2"], name="dead")
    dead_cid, dead_sla = str(uuid.uuid4()), str(uuid.uuid4())
    produce([("ksk-3", json.dumps(dispatch_msg(dead_cid, "ksk-3")))])
    psql("INSERT INTO tasks (complaint_id, attempt, org_id, org_kind, "
         "category, route_reason, status, received_at, routed_at, due_at, "
         "description, updated_at, complaint) VALUES (:'v1', 1, 'ksk-3', "
         "'ksk', 'roof', 'building_id', 'open', now() - interval '71 hours', "
         "now() - interval '71 hours', now() + interval '20 minutes', 'x', "
         "now(), '{}')", dead_sla)
    wait_until(lambda: scalar("SELECT count(*) FILTER (WHERE status = "
                              "'dead') FROM notify_deliveries WHERE org_id = "
                              "'ksk-3'") == "2", 60,
               "undeliverable webhooks (a task, an SLA warning) given up")
    r = subprocess.run(["kcat", "-C", "-b", BROKERS, "-t", DLQ, "-e", "-q",
                        "-f", "%s\n"], capture_output=True, text=True)
    dl = [json.loads(x) for x in r.stdout.splitlines()
          if "notify_undeliverable" in x]
    by_kind = {d.get("origin", {}).get("kind"): d.get("origin", {})
               for d in dl}
    check(len(dl) == 2 and
          by_kind.get("new", {}).get("topic") == DISPATCH and
          by_kind.get("new", {}).get("org_id") == "ksk-3",
          "dead letter: reason notify_undeliverable, origin the dispatch "
          "message and the org")
    check("sla_warning" in by_kind and "topic" not in by_kind["sla_warning"]
          and by_kind["sla_warning"].get("event_id") ==
          event_id(dead_sla, 1, "sla_warning"),
          "dead letter of an SLA warning: origin the delivery, no topic")
    mt = metrics(tmp, "dead")
    check('komek_notify_deliveries_total{channel="webhook",outcome="dead"} 2'
          in mt, "/metrics counts the dead notifications")
    check(scalar("SELECT count(*) FROM notify_undelivered WHERE org_id = "
                 "'ksk-3'") == "2", "notify_undelivered lists them")
    notify_stop(p, "komek-notify (dead)")

    # ---- phase 5: task-events cancel what no longer makes sense ----
    p = notify_start(tmp, name="ev")
    # an SLA warning logged, its webhook refused (retried), then the task
    # is acknowledged: the warning is cancelled and never goes out
    ack_cid = str(uuid.uuid4())
    Hook.refuse.add(event_id(ack_cid, 1, "sla_warning"))
    psql("INSERT INTO tasks (complaint_id, attempt, org_id, org_kind, "
         "category, route_reason, status, received_at, routed_at, due_at, "
         "description, updated_at, complaint) VALUES (:'v1', 1, 'ksk-1', "
         "'ksk', 'roof', 'building_id', 'open', now() - interval '71 hours', "
         "now() - interval '71 hours', now() + interval '20 minutes', 'x', "
         "now(), '{}')", ack_cid)
    wait_until(lambda: scalar(
        "SELECT count(*) FROM notify_deliveries WHERE complaint_id = :'v1' "
        "AND channel = 'webhook' AND status = 'pending' AND tries >= 2",
        ack_cid) == "1", 60, "the SLA warning's webhook is retried")
    psql("UPDATE tasks SET status = 'acknowledged' WHERE complaint_id = "
         ":'v1'", ack_cid)
    ack = task_event(ack_cid, "acknowledged")
    # after the acknowledgement, not before: a dispatch message read after
    # its task's acknowledgement, one after its handover to another KSK
    # (komek-directory import), and one reopened after it
    late_cid, reop_cid = str(uuid.uuid4()), str(uuid.uuid4())
    hand_cid = str(uuid.uuid4())
    produce([ack, task_event(late_cid, "acknowledged"),
             task_event(reop_cid, "resolved"),
             task_event(reop_cid, "reopened"),
             task_event(hand_cid, "handed_over"),
             task_event(late_cid, "commented"), ("x", "{not json")], EVENTS)
    wait_until(lambda: scalar(
        "SELECT status || ' ' || cancelled_by || ' ' || last_error FROM "
        "notify_deliveries WHERE complaint_id = :'v1' AND channel = "
        "'webhook'", ack_cid) == "cancelled %s task acknowledged" %
        json.loads(ack[1])["event_id"], 30,
        "the acknowledgement cancels the pending SLA warning")
    wait_until(lambda: stored_offsets(EVENTS) == topic_end(EVENTS), 30,
               "task-events offsets stored with the rows")
    Hook.refuse.clear()
    produce([("ksk-1", json.dumps(dispatch_msg(c, "ksk-1")))
             for c in (late_cid, reop_cid, hand_cid)])
    wait_until(lambda: {event_id(c, 1, "new") for c in
                        (late_cid, reop_cid, hand_cid)}
               <= {e[0] for e in Hook.events}, 30,
               "webhooks of tasks acknowledged, handed over or reopened "
               "still go")
    wait_until(lambda: any(m[1]["Message-ID"] == "<%s@komek-notify>" %
                           event_id(reop_cid, 1, "new") for m in
                           Mail.messages), 30,
               "a reopened task's new-task e-mail goes")
    # a claimed row's lease (5 s) is over: no send of it can be under way
    wait_until(lambda: scalar(
        "SELECT count(*) FROM notify_deliveries WHERE complaint_id = :'v1' "
        "AND lease_until > now()", ack_cid) == "0", 30,
        "no lease left on the cancelled warning")
    check(event_id(ack_cid, 1, "sla_warning") not in
          {e[0] for e in Hook.events} and scalar(
              "SELECT status FROM notify_deliveries WHERE complaint_id = "
              ":'v1' AND channel = 'webhook'", ack_cid) == "cancelled",
          "the cancelled SLA warning never reached the receiver")
    check(scalar("SELECT status || ' ' || last_error FROM notify_deliveries "
                 "WHERE complaint_id = :'v1' AND channel = 'email'",
                 late_cid) == "cancelled task acknowledged" and
          not any(m[1]["Message-ID"] == "<%s@komek-notify>" %
                  event_id(late_cid, 1, "new") for m in Mail.messages),
          "a task acknowledged before its dispatch was read: its e-mail is "
          "logged cancelled, not sent")
    check(scalar("SELECT status || ' ' || last_error FROM notify_deliveries "
                 "WHERE complaint_id = :'v1' AND channel = 'email'",
                 hand_cid) == "cancelled task handed_over" and
          not any(m[1]["Message-ID"] == "<%s@komek-notify>" %
                  event_id(hand_cid, 1, "new") for m in Mail.messages),
          "a task handed over before its dispatch was read: the old "
          "organisation's e-mail is logged cancelled, not sent")
    check(stored_offsets(EVENTS) == topic_end(EVENTS) == 7 and
          scalar("SELECT count(*) FROM notify_task_marks") == "3",
          "task-events: offsets at the end (7), a mark per closed task "
          "(the reopened one's removed)")
    r = subprocess.run(["kcat", "-C", "-b", BROKERS, "-t", DLQ, "-e", "-q",
                        "-f", "%s\n"], capture_output=True, text=True)
    check("invalid_task_event" in r.stdout and not any(
        ack_cid in x for x in r.stdout.splitlines()
        if "notify_undeliverable" in x),
        "an invalid task event is dead-lettered; the cancelled warning is not")
    check("komek_notify_cancelled_total 3" in metrics(tmp, "ev"),
          "/metrics counts the cancelled rows (3)")
    notify_stop(p, "komek-notify (task-events)")
    check(scalar("SELECT count(*) FROM notify_deliveries GROUP BY event_id, "
                 "channel, target HAVING count(*) > 1") == "",
          "nothing doubled in the log")
    hook.stop()
    smtp.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="komek-notify-test.")
    try:
        run(tmp)
    except Exception as e:  # the failure is the test's result
        import traceback
        traceback.print_exc()
        bad("exception: %s" % e)
    finally:
        subprocess.run(["psql", "-X", "-q", PG, "-c",
                        "DROP SCHEMA IF EXISTS %s CASCADE" % SCHEMA],
                       capture_output=True)
        if os.environ.get("KOMEK_NOTIFY_KEEP"):
            print("kept " + tmp)
        else:
            subprocess.run(["rm", "-rf", tmp])
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


SMTP_PORT = 0
if __name__ == "__main__":
    main()
