"""The QMP-compatible control socket of virtkit-vm (--control PATH), driven
the way QMP clients drive QEMU: greeting, negotiation, queries, stop/cont,
system_powerdown through the ACPI power button, system_reset, quit, events,
and hostile input that must get error replies, never a crash."""
import json
import os
import socket
import time

import pytest

from guestlib import ACCELS, Console, Qmp, vm_args


@pytest.fixture
def vm_factory(tmp_path):
    started = []

    def start(accel, guest, *args):
        sock = str(tmp_path / f"qmp{len(started)}.sock")
        con = Console(vm_args(accel, guest, "--control", sock, *args))
        started.append(con)
        qmp = Qmp(sock)
        return con, qmp, sock

    yield start
    for con in started:
        con.kill()


def negotiate(qmp):
    assert qmp.cmd("qmp_capabilities") == {"return": {}}


@pytest.mark.parametrize("accel", ACCELS)
def test_greeting_negotiation_and_queries(vm_factory, accel):
    con, qmp, sock = vm_factory(accel, "hello", "--smp", 2)
    assert set(qmp.greeting["QMP"]) >= {"version", "capabilities"}
    assert "qemu" in qmp.greeting["QMP"]["version"]
    r = qmp.cmd("query-status", id=1)
    assert r["error"]["class"] == "CommandNotFound" and r["id"] == 1
    negotiate(qmp)
    r = qmp.cmd("query-status", id="s")
    assert r == {"return": {"status": "running", "singlestep": False, "running": True}, "id": "s"}
    cpus = qmp.cmd("query-cpus-fast")["return"]
    assert [c["cpu-index"] for c in cpus] == [0, 1]
    assert all(c["target"] == "x86_64" for c in cpus)
    # thread-id is the vCPU's host thread: a task of the VM process.
    for c in cpus:
        assert os.path.isdir(f"/proc/{con.proc.pid}/task/{c['thread-id']}"), c
    chardevs = qmp.cmd("query-chardev")["return"]
    assert any(c["label"] == "serial0" for c in chardevs), chardevs
    assert any(c["label"] == "compat_monitor0" and sock in c["filename"] for c in chardevs)
    names = {c["name"] for c in qmp.cmd("query-commands")["return"]}
    assert names >= {"qmp_capabilities", "query-status", "query-cpus-fast", "stop", "cont",
                     "system_powerdown", "system_reset", "quit", "query-chardev"}
    assert "qemu" in qmp.cmd("query-version")["return"]
    kvm = qmp.cmd("query-kvm")["return"]
    assert kvm["enabled"] is (accel == "kvm") and (kvm["present"] or accel == "tcg")
    assert qmp.cmd("query-target")["return"] == {"arch": "x86_64"}
    assert qmp.cmd("query-name") == {"return": {}}
    r = qmp.cmd("no-such-command", id=[1, 2])
    assert r["error"]["class"] == "CommandNotFound" and r["id"] == [1, 2]
    assert qmp.cmd("stop", {"bogus": 1})["error"]["class"] == "GenericError"


@pytest.mark.parametrize("accel", ACCELS)
def test_stop_cont_events(vm_factory, accel):
    con, qmp, _ = vm_factory(accel, "hello")
    negotiate(qmp)
    assert qmp.cmd("stop") == {"return": {}}
    ev = qmp.event("STOP")
    assert set(ev["timestamp"]) == {"seconds", "microseconds"}
    assert abs(ev["timestamp"]["seconds"] - time.time()) < 60
    assert qmp.cmd("query-status")["return"]["status"] == "paused"
    # While paused the guest must not run: typed input is not echoed.
    con.proc.stdin.write("while paused\n")
    con.proc.stdin.flush()
    assert not con.wait_for("hello: echo", timeout=1)
    assert qmp.cmd("cont") == {"return": {}}
    qmp.event("RESUME")
    # Running again: the guest echoes the line and ends (PASS, status 1).
    assert con.wait_for("hello: echo 'while paused'")
    assert con.wait() == 1


@pytest.mark.parametrize("accel", ACCELS)
def test_system_powerdown_presses_the_acpi_power_button(vm_factory, accel):
    con, qmp, _ = vm_factory(accel, "pwrbtn")
    negotiate(qmp)
    assert con.wait_for("pwrbtn: armed"), con.text()
    assert qmp.cmd("system_powerdown") == {"return": {}}
    qmp.event("POWERDOWN")
    ev = qmp.event("SHUTDOWN")
    assert ev["data"] == {"guest": True, "reason": "guest-shutdown"}
    assert con.wait() == 0
    assert "pwrbtn: pressed, powering off" in con.text()


@pytest.mark.parametrize("accel", ACCELS)
def test_system_powerdown_ignored_by_a_guest_without_acpi(vm_factory, accel):
    con, qmp, _ = vm_factory(accel, "hello")
    negotiate(qmp)
    assert qmp.cmd("system_powerdown") == {"return": {}}
    qmp.event("POWERDOWN")
    assert qmp.cmd("query-status")["return"]["status"] == "running"


@pytest.mark.parametrize("accel", ACCELS)
def test_system_reset_reboots_and_emits_reset(vm_factory, accel):
    con, qmp, _ = vm_factory(accel, "hello")
    negotiate(qmp)
    assert con.wait_for("hello: type a line")
    assert qmp.cmd("system_reset") == {"return": {}}
    ev = qmp.event("RESET")
    assert ev["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
    end = time.monotonic() + 60
    while con.text().count("hello: type a line") < 2 and time.monotonic() < end:
        time.sleep(0.1)
    assert con.text().count("hello: type a line") == 2, con.text()


@pytest.mark.parametrize("accel", ACCELS)
def test_system_reset_while_paused_resumes(vm_factory, accel):
    con, qmp, _ = vm_factory(accel, "hello")
    negotiate(qmp)
    assert con.wait_for("hello: type a line")
    qmp.cmd("stop")
    qmp.event("STOP")
    assert qmp.cmd("system_reset") == {"return": {}}
    qmp.event("RESET")
    qmp.event("RESUME")
    assert qmp.cmd("query-status")["return"]["status"] == "running"


@pytest.mark.parametrize("accel", ACCELS)
def test_guest_shutdown_event(vm_factory, accel):
    con, qmp, _ = vm_factory(accel, "pwrbtn")
    negotiate(qmp)
    assert con.wait_for("pwrbtn: armed")
    qmp.cmd("system_powerdown")
    assert qmp.event("SHUTDOWN")["data"]["guest"] is True
    with pytest.raises((EOFError, OSError)):
        qmp.recv()


@pytest.mark.parametrize("accel", ACCELS)
def test_quit(vm_factory, accel):
    con, qmp, sock = vm_factory(accel, "hello")
    negotiate(qmp)
    assert qmp.cmd("quit", id="bye") == {"return": {}, "id": "bye"}
    ev = qmp.event("SHUTDOWN")
    assert ev["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert con.wait() == 0
    assert not os.path.exists(sock)


@pytest.mark.parametrize("accel", ACCELS)
def test_hostile_input_gets_errors_not_a_crash(vm_factory, accel):
    con, qmp, sock = vm_factory(accel, "hello")
    negotiate(qmp)

    def errors(raw):
        qmp.send_raw(raw)
        return qmp.reply()["error"]

    assert "JSON parse error" in errors(b"\x00\xff garbage }}\n")["desc"]
    assert errors(b"[1, 2, 3]\n")["desc"] == "QMP input must be a JSON object"
    assert "lacks member 'execute'" in errors(b'{"arguments": {}}\n')["desc"]
    assert "unexpected" in errors(b'{"execute": "stop", "frob": 1}\n')["desc"]
    assert "nested" in errors(b"[" * 100000 + b"\n")["desc"]
    big = b'{"execute": "' + b"x" * (1 << 20) + b'"}\n'
    assert "too large" in errors(big)["desc"]
    # Many clients at once, some leaving in the middle of a message.
    # Beyond 16 clients the server turns connections away (closes them).
    clients, turned_away = [], 0
    for _ in range(24):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        try:
            s.sendall(b'{"execute": "qmp_capa')
        except OSError:
            turned_away += 1
        clients.append(s)
    for s in clients:
        s.close()
    # A client that never reads while asking for lots of output.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(b'{"execute": "qmp_capabilities"}\n' + b'{"execute": "query-commands"}\n' * 2000)
    time.sleep(0.5)
    s.close()
    # Still alive and answering, the guest still running.
    r = qmp.cmd("query-status", id="alive")
    assert r["return"]["status"] == "running" and r["id"] == "alive"
    assert con.proc.poll() is None
    fresh = Qmp(sock)
    negotiate(fresh)
    assert fresh.cmd("query-status")["return"]["running"] is True


@pytest.mark.parametrize("accel", ACCELS)
def test_control_socket_path_errors(tmp_path, accel):
    from conftest import run
    regular = tmp_path / "regular"
    regular.write_text("x")
    cases = {
        str(regular): "exists and is not a socket",
        str(tmp_path / "missing" / "sock"): "No such file or directory",
        str(tmp_path / ("x" * 120)): "path too long",
    }
    for path, message in cases.items():
        r = run(vm_args(accel, "acpi_off", "--control", path), timeout=60)
        assert r.returncode == 1 and message in r.stderr, (path, r.stderr)
    assert regular.read_text() == "x"


@pytest.mark.parametrize("accel", ACCELS)
def test_reset_with_no_reboot_ends_with_shutdown(vm_factory, accel):
    con, qmp, _ = vm_factory(accel, "hello", "--no-reboot")
    negotiate(qmp)
    assert qmp.cmd("system_reset") == {"return": {}}
    assert qmp.event("SHUTDOWN")["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
    assert con.wait() == 0
