"""setvcpus: --config changes the definition; --live (and --current or no
flag on a running domain) is refused with the reason (virtkit-vm has no
vCPU hot-plug, docs/virsh.md), and changes nothing."""
from test_daemon import daemon, domain_xml  # noqa: F401 (fixture)


def test_setvcpus_live_is_refused_with_the_reason(daemon):
    daemon.define(domain_xml("v"))
    r = daemon.virtkit("setvcpus", "v", "2", "--live")
    assert r.returncode == 1 and "domain is not running" in r.stderr, r.stderr
    daemon.ok("start", "v")
    before = daemon.ok("dumpxml", "v")
    for flags in (["--live"], ["--current"], [], ["--live", "--config"]):
        r = daemon.virtkit("setvcpus", "v", "2", *flags)
        assert r.returncode == 1, flags
        assert "not supported yet: virtkit-vm has no vCPU hot-plug" in r.stderr, r.stderr
        assert "use --config" in r.stderr
    assert daemon.ok("dumpxml", "v") == before
    assert daemon.ok("dumpxml", "v", "--inactive") == before.replace(" id='1'", "")
    daemon.ok("setvcpus", "v", "3", "--config")
    assert "<vcpu placement='static'>3</vcpu>" in daemon.ok("dumpxml", "v", "--inactive")
    assert "CPU(s):         1" in daemon.ok("dominfo", "v")      # the running VM keeps 1
