"""The shipped broker configuration (deploy/mosquitto) with the real live-channel classes: nobody connects
without a password, each gate reads only its own notices and writes only its own status, and the central
service reaches every gate. A private Mosquitto per test module, on a free port, with its own password file.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cloud.live import LivePublisher, StatusListener, parse_broker, permits_topic, queue_topic, status_topic
from edge.sync.live import LiveChannel

REPO = Path(__file__).resolve().parents[1]
SITE = "kim-thanh"
PASSWORDS = {"central": "central-secret-1", "kb2_in": "kb2-secret-2", "kb1_in": "kb1-secret-3"}


class Broker(tuple):
    """(host, port) of the plain listener, plus the TLS listener's port and the CA that signed it."""

    def __new__(cls, host: str, port: int, tls_port: int, ca: Path):
        self = super().__new__(cls, (host, port))
        self.tls_port, self.ca = tls_port, ca
        return self


def _certificates(d: Path) -> None:
    """A throw-away CA and a broker certificate for 127.0.0.1, made by openssl."""
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=border-gate test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "broker.crt", "-days", "2", "-extfile", "san.ext")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    mosquitto, passwd = shutil.which("mosquitto") or "/usr/sbin/mosquitto", shutil.which("mosquitto_passwd")
    if not Path(mosquitto).exists() or passwd is None:
        pytest.fail("mosquitto and mosquitto_passwd are needed (Debian: apt-get install mosquitto)")
    d = tmp_path_factory.mktemp("mosquitto")
    pwfile, aclfile = d / "passwd", d / "acl"
    pwfile.touch()
    for user, password in PASSWORDS.items():
        subprocess.run([passwd, "-b", str(pwfile), user, password], check=True, capture_output=True)
    shutil.copy(REPO / "deploy" / "mosquitto" / "border-gate.acl", aclfile)
    port, tls_port = _free_port(), _free_port()
    _certificates(d)
    conf = (REPO / "deploy" / "mosquitto" / "border-gate.conf").read_text()
    conf = (conf.replace("/etc/mosquitto/border-gate.passwd", str(pwfile))
            .replace("/etc/mosquitto/border-gate.acl", str(aclfile))
            .replace("listener 1883", f"listener {port} 127.0.0.1")
            # the shipped TLS lines, switched on
            .replace("# listener 8883", f"listener {tls_port} 127.0.0.1")
            .replace("# certfile /etc/mosquitto/certs/", f"certfile {d}/")
            .replace("# keyfile /etc/mosquitto/certs/", f"keyfile {d}/"))
    assert f"certfile {d}/broker.crt" in conf and f"keyfile {d}/broker.key" in conf
    (d / "mosquitto.conf").write_text(conf + "\nuser root\npersistence false\n")
    proc = subprocess.Popen([mosquitto, "-c", str(d / "mosquitto.conf")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "mosquitto exited"
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)
    yield Broker("127.0.0.1", port, tls_port, d / "ca.crt")
    proc.terminate()
    proc.wait(10)


def wait(cond, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "gave up waiting"
        time.sleep(0.01)


class Raw:
    """A raw MQTT v5 client: v5 brokers say in PUBACK and SUBACK when the ACL refused something."""

    def __init__(self, broker, user: str | None, password: str | None):
        self.acks: list = []
        self.puback: dict[int, object] = {}
        self.suback: dict[int, list] = {}
        self.received: list[str] = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-{user}-{time.monotonic_ns()}",
                             protocol=mqtt.MQTTv5)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = lambda client, userdata, flags, rc, props=None: self.acks.append(rc)
        self.c.on_publish = lambda client, userdata, mid, rc, props=None: self.puback.__setitem__(mid, rc)
        self.c.on_subscribe = lambda client, userdata, mid, rcs, props=None: self.suback.__setitem__(mid, rcs)
        self.c.on_message = lambda client, userdata, msg: self.received.append(msg.topic)
        self.c.connect(*broker)
        self.c.loop_start()
        wait(lambda: self.acks)

    def publish(self, topic: str, payload: str):
        """The broker's PUBACK reason for a QoS 1 publish."""
        mid = self.c.publish(topic, payload, qos=1).mid
        wait(lambda: mid in self.puback)
        return self.puback[mid]

    def subscribe(self, topic: str):
        mid = self.c.subscribe(topic, qos=1)[1]
        wait(lambda: mid in self.suback)
        return self.suback[mid][0]

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.mark.parametrize("user,password", [(None, None), ("kb2_in", "wrong"), ("nobody", "x")])
def test_unknown_or_anonymous_clients_are_refused(broker, user, password):
    raw = Raw(broker, user, password)
    try:
        assert raw.acks[0].is_failure and "authori" in str(raw.acks[0]).lower(), raw.acks
    finally:
        raw.close()


def test_gate_reports_its_own_status_only(broker):
    reports: list[tuple[str, bool]] = []
    listener = StatusListener(SITE, {"kb2_in", "kb1_in"}, *broker, lambda g, online: reports.append((g, online)),
                              client_id="svc-status", password=PASSWORDS["central"])
    live = LiveChannel(*broker, SITE, "kb2_in", lambda: None, keepalive_s=5, password=PASSWORDS["kb2_in"])
    rogue = Raw(broker, "kb2_in", PASSWORDS["kb2_in"])
    try:
        wait(listener.connected.is_set)
        live.start()
        wait(lambda: ("kb2_in", True) in reports)
        assert not rogue.acks[0].is_failure
        # Logged in as kb2_in, it says kb1_in is online (refused by the ACL), then says it is offline itself
        # (allowed). Both go over one connection in order: once the second arrives, the first would have.
        assert rogue.publish(status_topic(SITE, "kb1_in"), "online").is_failure
        assert not rogue.publish(status_topic(SITE, "kb2_in"), "offline").is_failure
        wait(lambda: ("kb2_in", False) in reports)
        assert [r for r in reports if r[0] == "kb1_in"] == []
    finally:
        rogue.close()
        live.close()
        listener.client.loop_stop()
        listener.client.disconnect()


def test_only_the_service_tells_a_gate_to_pull(broker):
    kb1 = LiveChannel(*broker, SITE, "kb1_in", lambda: None, keepalive_s=5, password=PASSWORDS["kb1_in"])
    kb2 = LiveChannel(*broker, SITE, "kb2_in", lambda: None, keepalive_s=5, password=PASSWORDS["kb2_in"])
    publisher = LivePublisher(SITE, *broker, client_id="svc-pub", password=PASSWORDS["central"])
    rogue = Raw(broker, "kb2_in", PASSWORDS["kb2_in"])
    try:
        kb1.start()
        kb2.start()
        wait(lambda: kb1.connected.is_set() and kb2.connected.is_set())
        # kb2_in's credentials can neither make kb1_in (nor itself) pull, nor listen to kb1_in's notices
        # or queue calls, nor read other gates' status.
        assert rogue.publish(permits_topic(SITE, "kb1_in"), "{}").is_failure
        assert rogue.publish(permits_topic(SITE, "kb2_in"), "{}").is_failure
        assert rogue.publish(queue_topic(SITE, "kb1_in"), "{}").is_failure
        # Mosquitto 2.0 grants the subscriptions but delivers only what the ACL lets it read.
        for topic in (permits_topic(SITE, "kb1_in"), queue_topic(SITE, "kb1_in"), status_topic(SITE, "+"),
                      permits_topic(SITE, "kb2_in")):
            rogue.subscribe(topic)
        wait(lambda: publisher.client.is_connected())
        publisher.queue_call("kb1_in", {"number": 7})
        publisher.permits_changed({"kb1_in"})
        publisher.permits_changed({"kb2_in"})  # after the others, over the same connection: arrives last
        wait(lambda: kb1.notices >= 2 and kb2.notices >= 1)
        wait(lambda: permits_topic(SITE, "kb2_in") in rogue.received)
        assert rogue.received == [permits_topic(SITE, "kb2_in")]
        assert (kb1.notices, kb1.queue_notices, kb2.notices) == (2, 1, 1)
    finally:
        rogue.close()
        kb1.close()
        kb2.close()
        publisher.close()


@pytest.mark.parametrize("with_password", [True, False])
def test_daemon_logs_in_with_its_mqtt_password_secret(broker, tmp_path, monkeypatch, with_password):
    """The daemon's wiring: the ``mqtt-password`` secret (here from the environment) reaches the live channel."""
    from edge.config import load_gate_config
    from edge.config.models import StoreConfig, SyncConfig
    from edge.daemon import Daemon

    cfg, site = load_gate_config(REPO / "config" / "dev" / "kb2_in.toml")
    cfg = cfg.model_copy(update={
        "store": StoreConfig(path=tmp_path / "gate.db", snapshot_dir=tmp_path / "snaps", min_free_mb=0),
        "sync": SyncConfig(endpoint="http://127.0.0.1:9", mqtt_host=broker[0], mqtt_port=broker[1]),
        "status": cfg.status.model_copy(update={"port": 0}),
    })
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("GATE_TOKEN", "not-used-here")
    if with_password:
        monkeypatch.setenv("GATE_MQTT_PASSWORD", PASSWORDS["kb2_in"])
    else:
        monkeypatch.delenv("GATE_MQTT_PASSWORD", raising=False)
    daemon = Daemon(cfg, site)
    live = daemon.sync.live
    try:
        live.start()
        if with_password:
            wait(live.connected.is_set)
        else:
            wait(lambda: live.last_error is not None)
            assert "refused" in live.last_error and not live.connected.is_set()
    finally:
        live.close()
        daemon.shutdown()


def test_tls_listener_checks_the_broker_certificate(broker, monkeypatch):
    host, port = broker[0], broker.tls_port
    trusted = LiveChannel(host, port, SITE, "kb2_in", lambda: None, keepalive_s=5, password=PASSWORDS["kb2_in"],
                          tls=True, ca_file=broker.ca, client_id="kb2-tls")
    untrusted = LiveChannel(host, port, SITE, "kb1_in", lambda: None, keepalive_s=5, password=PASSWORDS["kb1_in"],
                            tls=True, client_id="kb1-tls")  # the system's CAs do not know the site's CA
    monkeypatch.setenv("GATE_CLOUD_MQTT_CA", str(broker.ca))
    publisher = LivePublisher(SITE, host, port, client_id="svc-tls", password=PASSWORDS["central"], tls=True)
    try:
        trusted.start()
        untrusted.start()
        wait(trusted.connected.is_set)
        wait(lambda: untrusted.last_error == "connect failed")
        assert not untrusted.connected.is_set()
        wait(publisher.client.is_connected)
        publisher.permits_changed({"kb2_in"})
        wait(lambda: trusted.notices == 1)
    finally:
        trusted.close()
        untrusted.close()
        publisher.close()


@pytest.mark.parametrize("url,expected", [
    ("127.0.0.1:1884", ("127.0.0.1", 1884, False)), ("broker.site", ("broker.site", 1883, False)),
    ("mqtt://broker.site:1999", ("broker.site", 1999, False)), ("mqtts://broker.site", ("broker.site", 8883, True)),
    ("mqtts://10.0.0.5:9883", ("10.0.0.5", 9883, True)),
])
def test_service_broker_url(url, expected):
    assert parse_broker(url) == expected
