"""tests/faults/cluster.py - the replicated services of `make test-cluster`
(tests/faults/faults.py --cluster): three Kafka brokers started by
deploy/kafka/cluster.sh in the run's scratch directory, and a PostgreSQL
streaming standby made with pg_basebackup from faults.py's private primary.

Cluster has Broker's interface (format, start, wait_up, kill, addr), so the
driver runs the same pipeline on it, plus what the cluster's faults need:
one node's SIGKILL, SIGTERM and start, the leader of a partition, the
partition with the most messages, and a wait until every partition's
in-sync replicas are whole again.
"""
import json
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "deploy", "kafka", "cluster.sh")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


class Cluster:
    def __init__(self, tmp, base_port):
        self.dir = os.path.join(tmp, "cluster")
        self.env = dict(os.environ, KOMEK_CLUSTER_DIR=self.dir,
                        KOMEK_CLUSTER_PORT=str(base_port),
                        KAFKA_HEAP="-Xmx384m -Xms128m",
                        KOMEK_CLUSTER_PROPS="transaction.abort.timed.out.transaction."
                                            "cleanup.interval.ms=2000")
        self.ports = [base_port + 2 * i for i in range(3)]
        self.addr = ",".join("127.0.0.1:%d" % p for p in self.ports)

    def sh(self, *args, check=True):
        r = run(["bash", SCRIPT] + list(args), env=self.env)
        if check and r.returncode:
            raise RuntimeError("cluster.sh %s: %s" % (" ".join(args), (r.stdout + r.stderr)[-600:]))
        return r

    # Broker's interface: "up" formats once and starts all three.
    def format(self):
        pass

    def start(self):
        self.sh("up")

    def wait_up(self, limit=120):
        t = time.time()
        while time.time() - t < limit:
            if self.sh("status", check=False).returncode == 0:
                return time.time() - t
            time.sleep(0.5)  # polling the brokers
        raise RuntimeError("cluster did not come up (logs under %s)" % self.dir)

    def kill(self):
        self.sh("down")

    # one node
    def kill_node(self, n):
        self.sh("kill", str(n))

    def stop_node(self, n):
        self.sh("stop", str(n))

    def start_node(self, n):
        self.sh("start", str(n))

    def isr_whole(self, timeout=180):
        t = time.time()
        self.sh("isr-whole", str(timeout))
        return time.time() - t

    def metadata(self, topic):
        r = run(["kcat", "-b", self.addr, "-L", "-J", "-t", topic])
        if r.returncode:
            raise RuntimeError("kcat -L: " + r.stderr)
        return json.loads(r.stdout)

    def leader(self, topic, partition):
        for t in self.metadata(topic)["topics"]:
            for p in t["partitions"]:
                if p["partition"] == partition:
                    return p["leader"]
        return None

    def busiest(self, topic):
        """The partition of topic with the highest end offset."""
        best, best_off = 0, -1
        for t in self.metadata(topic)["topics"]:
            for p in t["partitions"]:
                r = run(["kcat", "-b", self.addr, "-Q", "-t",
                         "%s:%d:-1" % (topic, p["partition"])])
                try:
                    off = int(r.stdout.split()[-1])
                except (ValueError, IndexError):
                    off = -1
                if off > best_off:
                    best, best_off = p["partition"], off
        return best


class Standby:
    """A streaming replica of faults.Postgres, promoted on demand."""

    def __init__(self, primary, port):
        self.p = primary
        self.port = port
        self.data = os.path.join(primary.home, "standby")
        self.started = False

    def create(self):
        r = self.p.as_pg(self.p.bin + "/pg_basebackup", "-h", "127.0.0.1", "-p",
                         str(self.p.port), "-U", "postgres", "-D", self.data, "-R",
                         "-X", "stream", "-c", "fast")
        if r.returncode:
            raise RuntimeError("pg_basebackup: " + r.stderr[-500:])
        self.start()

    def start(self):
        r = self.p.as_pg(self.p.bin + "/pg_ctl", "-D", self.data, "-l",
                         self.p.home + "/standby.log", "-w", "-t", "60", "-o",
                         "-p %d -c listen_addresses=127.0.0.1 "
                         "-c unix_socket_directories='' -c fsync=off "
                         "-c max_connections=80 -c shared_buffers=64MB "
                         "-c hot_standby=on" % self.port, "start")
        if r.returncode:
            raise RuntimeError("standby start: " + r.stdout + r.stderr)
        self.started = True

    def lag_bytes(self):
        r = run(["psql", "-X", "-At", "host=127.0.0.1 port=%d user=postgres dbname=postgres"
                 % self.p.port, "-c",
                 "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), "
                 "replay_lsn)), -1) FROM pg_stat_replication"])
        try:
            return int(float(r.stdout.strip()))
        except ValueError:
            return -1

    def promote(self):
        r = self.p.as_pg(self.p.bin + "/pg_ctl", "-D", self.data, "-w", "-t", "60",
                         "promote")
        if r.returncode:
            raise RuntimeError("promote: " + r.stdout + r.stderr)

    def stop(self):
        if self.started:
            self.p.as_pg(self.p.bin + "/pg_ctl", "-D", self.data, "-m", "fast", "-w",
                         "-t", "30", "stop")
            self.started = False
