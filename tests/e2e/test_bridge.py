"""`virtkit bridge` against Debian's brctl, inside a network namespace the
test creates (never touching the host's interfaces), removed afterwards."""
import json
import re
import shutil
import uuid

import pytest

from conftest import binary, needs_root, needs_tool, run

pytestmark = [needs_root, needs_tool("brctl"), needs_tool("ip")]


@pytest.fixture
def ns():
    name = "vktest-" + uuid.uuid4().hex[:8]
    r = run(["ip", "netns", "add", name])
    if r.returncode != 0:
        pytest.skip(f"SKIP: cannot create a network namespace: {r.stderr.strip()}")
    try:
        yield name
    finally:
        run(["ip", "netns", "del", name])


def nsrun(ns, *args):
    return run(["ip", "netns", "exec", ns, *map(str, args)])


def vk(ns, *args):
    return nsrun(ns, binary("virtkit"), "bridge", *args)


def brctl(ns, *args):
    return nsrun(ns, shutil.which("brctl"), *args)


TIMER = re.compile(r"\d+\.\d\d")


def masked(text):
    """Timers tick between the two runs; compare everything else exactly."""
    return TIMER.sub("T", text)


def sysfs(ns, path):
    return nsrun(ns, "cat", path).stdout.strip()


def make_setup(ns):
    """Two bridges, three veth ports, one with STP on."""
    for args in (["link", "add", "brA", "type", "bridge"],
                 ["link", "add", "brB", "type", "bridge"],
                 ["link", "add", "va0", "type", "veth", "peer", "name", "va1"],
                 ["link", "add", "vb0", "type", "veth", "peer", "name", "vb1"],
                 ["link", "set", "va0", "master", "brA"],
                 ["link", "set", "vb0", "master", "brA"],
                 ["link", "set", "va1", "master", "brB"]):
        assert nsrun(ns, "ip", *args).returncode == 0, args
    for dev in ("brA", "brB", "va0", "va1", "vb0", "vb1"):
        nsrun(ns, "ip", "link", "set", dev, "up")
    assert brctl(ns, "stp", "brA", "on").returncode == 0


def same_output(ns, *args):
    """brctl and virtkit print the same (timers masked). With STP on, port
    states and topology flags move on their own between the two runs, so
    a mismatch is retried a few times before it counts."""
    for _ in range(10):
        want, got = brctl(ns, *args), vk(ns, *args)
        assert got.returncode == 0, got.stderr
        if masked(got.stdout) == masked(want.stdout):
            return True
    assert masked(got.stdout) == masked(want.stdout), args


def test_show_matches_brctl(ns):
    make_setup(ns)
    for args in (["show"], ["show", "brA"], ["show", "brB", "brA"], ["showstp", "brA"],
                 ["showstp", "brB"]):
        assert same_output(ns, *args)


def test_showmacs_matches_brctl(ns):
    make_setup(ns)
    assert same_output(ns, "showmacs", "brA")
    assert "yes" in vk(ns, "showmacs", "brA").stdout   # the ports' own addresses are local entries


def test_show_without_bridges(ns):
    want, got = brctl(ns, "show"), vk(ns, "show")
    assert got.returncode == 0 and got.stdout == want.stdout


def test_addbr_addif_delif_delbr(ns):
    assert vk(ns, "addbr", "vkbr0").returncode == 0
    assert "vkbr0" in brctl(ns, "show").stdout
    r = vk(ns, "addbr", "vkbr0")
    assert r.returncode == 1 and "already exists" in r.stderr
    nsrun(ns, "ip", "link", "add", "p0", "type", "veth", "peer", "name", "p1")
    assert vk(ns, "addif", "vkbr0", "p0", "p1").returncode == 0
    show = brctl(ns, "show", "vkbr0").stdout
    assert "p0" in show and "p1" in show
    assert masked(vk(ns, "show").stdout) == masked(brctl(ns, "show").stdout)
    r = vk(ns, "addif", "vkbr0", "nosuch0")
    assert r.returncode == 1 and "interface nosuch0 does not exist!" in r.stderr
    assert vk(ns, "delif", "vkbr0", "p1").returncode == 0
    assert "p1" not in brctl(ns, "show", "vkbr0").stdout
    r = vk(ns, "delif", "vkbr0", "p1")
    assert r.returncode == 1 and "is not a port of vkbr0" in r.stderr
    # Up bridges are not deleted (as brctl), with a hint.
    nsrun(ns, "ip", "link", "set", "vkbr0", "up")
    r = vk(ns, "delbr", "vkbr0")
    assert r.returncode == 1 and "still up" in r.stderr and "down" in r.stderr
    nsrun(ns, "ip", "link", "set", "vkbr0", "down")
    assert vk(ns, "delbr", "vkbr0").returncode == 0
    assert "vkbr0" not in brctl(ns, "show").stdout
    r = vk(ns, "delbr", "vkbr0")
    assert r.returncode == 1 and "doesn't exist" in r.stderr


def test_settings(ns):
    make_setup(ns)
    base = "/sys/class/net/brB/bridge/"
    assert vk(ns, "stp", "brB", "on").returncode == 0
    assert sysfs(ns, base + "stp_state") != "0"
    assert vk(ns, "stp", "brB", "off").returncode == 0
    assert sysfs(ns, base + "stp_state") == "0"
    assert vk(ns, "setfd", "brB", "7").returncode == 0
    assert sysfs(ns, base + "forward_delay") == "700"
    assert vk(ns, "sethello", "brB", "3").returncode == 0
    assert sysfs(ns, base + "hello_time") == "300"
    assert vk(ns, "setmaxage", "brB", "12").returncode == 0
    assert sysfs(ns, base + "max_age") == "1200"
    assert vk(ns, "setageing", "brB", "120.5").returncode == 0
    assert sysfs(ns, base + "ageing_time") == "12050"
    assert vk(ns, "setbridgeprio", "brB", "4096").returncode == 0
    assert sysfs(ns, base + "priority") == "4096"
    assert sysfs(ns, base + "bridge_id").startswith("1000.")
    port = "/sys/class/net/brB/brif/va1/"
    assert vk(ns, "setpathcost", "brB", "va1", "42").returncode == 0
    assert sysfs(ns, port + "path_cost") == "42"
    assert vk(ns, "setportprio", "brB", "va1", "5").returncode == 0
    assert sysfs(ns, port + "priority") == "5"
    assert vk(ns, "hairpin", "brB", "va1", "on").returncode == 0
    assert sysfs(ns, port + "hairpin_mode") == "1"
    # showstp shows the hairpin flag exactly as brctl does.
    assert same_output(ns, "showstp", "brB")
    assert vk(ns, "hairpin", "brB", "va1", "off").returncode == 0
    assert sysfs(ns, port + "hairpin_mode") == "0"


def test_bad_input(ns):
    make_setup(ns)
    for args, msg in ((["stp", "brA", "maybe"], "expect on/off"),
                      (["setportprio", "brA", "va0", "70"], "0-63"),
                      (["setpathcost", "brA", "va0", "0"], "1-65535"),
                      (["setfd", "brA", "soon"], "bad time"),
                      (["setfd", "nosuch", "2"], "bridge nosuch does not exist!"),
                      (["showmacs", "nosuch"], "does not exist"),
                      (["setpathcost", "brA", "va1", "5"], "is not a slave of brA")):
        r = vk(ns, *args)
        assert r.returncode == 1, args
        assert msg in r.stderr, (args, r.stderr)
    r = vk(ns, "show", "nosuch")
    assert r.returncode == 1 and r.stdout == ""
    assert vk(ns, "frobnicate").returncode == 2
    assert vk(ns, "addbr").returncode == 2


def test_json(ns):
    make_setup(ns)
    data = json.loads(vk(ns, "--json", "show").stdout)
    by = {b["name"]: b for b in data}
    assert by["brA"]["stp"] is True and by["brB"]["stp"] is False
    assert by["brA"]["interfaces"] == ["va0", "vb0"]
    assert by["brA"]["id"] == sysfs(ns, "/sys/class/net/brA/bridge/bridge_id")
    macs = json.loads(vk(ns, "showmacs", "brA", "--json").stdout)
    assert any(m["local"] for m in macs)
    stp = json.loads(vk(ns, "showstp", "brA", "--json").stdout)
    assert [p["name"] for p in stp["ports"]] == ["va0", "vb0"]
    assert stp["forward_delay"] == 15.0
