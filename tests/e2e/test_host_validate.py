"""virtkit host-validate against fake hosts (--root) and this host."""
import json
import os
import pathlib
import shutil
import tempfile

import pytest

from conftest import run, binary


def make_root(tmp_path, *, cpu_flags="fpu vme sse2", kvm_module=None, kvm_api="12",
              tun=True, bridge=True, vhost=False, cgroup2=True, hugepages=0,
              nested=None, groups=""):
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "cpuinfo").write_text(f"processor\t: 0\nflags\t\t: {cpu_flags}\n\n")
    (root / "proc" / "meminfo").write_text(
        f"MemTotal: 1000000 kB\nHugePages_Total:    {hugepages}\n")
    (root / "proc" / "modules").write_text(
        "".join(f"{m} 16384 0 - Live 0x0\n" for m in ([kvm_module, "kvm"] if kvm_module else [])))
    (root / "sys" / "module").mkdir(parents=True)
    if kvm_module:
        (root / "sys" / "module" / kvm_module).mkdir()
        if nested is not None:
            p = root / "sys" / "module" / kvm_module / "parameters"
            p.mkdir()
            (p / "nested").write_text(nested + "\n")
    if bridge:
        (root / "sys" / "module" / "bridge").mkdir()
    (root / "dev" / "net").mkdir(parents=True)
    if kvm_api is not None and kvm_module:
        (root / "dev" / "kvm").write_text(kvm_api)
    if tun:
        (root / "dev" / "net" / "tun").write_text("")
    if vhost:
        (root / "dev" / "vhost-net").write_text("")
    if cgroup2:
        (root / "sys" / "fs" / "cgroup").mkdir(parents=True)
        (root / "sys" / "fs" / "cgroup" / "cgroup.controllers").write_text("cpu memory\n")
    (root / "etc").mkdir()
    (root / "etc" / "group").write_text(groups)
    return root


def validate(root, *extra, emulator=True):
    # Fake hosts get a stand-in emulator so only the checked facts vary.
    env = dict(os.environ, VIRTKIT_VM="/bin/true" if emulator else "/nonexistent/virtkit-vm")
    r = run([binary("virtkit"), "host-validate", "--json", "--root", str(root), *extra], env=env)
    data = json.loads(r.stdout)
    return r.returncode, data, {c["id"]: c for c in data["checks"]}


def test_hardware_kvm_host(tmp_path):
    root = make_root(tmp_path, cpu_flags="fpu vmx sse2", kvm_module="kvm_intel", nested="Y",
                     vhost=True, hugepages=64)
    rc, data, checks = validate(root)
    assert rc == 0
    assert data["accelerator"] == "kvm"
    assert data["kvm_flavour"] == "hardware"
    assert checks["cpu-virt"]["result"] == "PASS"
    assert "vmx" in checks["cpu-virt"]["detail"]
    assert checks["kvm-api"]["result"] == "PASS"
    assert checks["kvm-flavour"]["result"] == "PASS"
    assert checks["nested"]["result"] == "PASS"
    assert checks["vhost-net"]["result"] == "PASS"
    assert checks["hugepages"]["result"] == "PASS"
    assert "KVM acceleration" in data["summary"]


def test_pvm_host_falls_back_to_software_cpu(tmp_path):
    root = make_root(tmp_path, cpu_flags="fpu sse2 hypervisor", kvm_module="kvm_pvm")
    rc, data, checks = validate(root)
    assert rc == 0, "a VM can still run on the software CPU"
    assert data["kvm_flavour"] == "pvm"
    assert data["accelerator"] == "tcg"
    flav = checks["kvm-flavour"]
    assert flav["result"] == "WARN"
    assert "PVM" in flav["detail"] and "software CPU" in flav["detail"]
    assert "software CPU" in data["summary"]


def test_no_kvm_host(tmp_path):
    root = make_root(tmp_path, kvm_module=None)
    rc, data, checks = validate(root)
    assert rc == 0
    assert data["kvm_flavour"] == "none"
    assert checks["kvm-device"]["result"] == "WARN"
    assert "modprobe" in checks["kvm-device"]["hint"]
    assert checks["cpu-virt"]["result"] == "WARN"
    assert "kvm-api" not in checks


def test_wrong_api_version(tmp_path):
    root = make_root(tmp_path, cpu_flags="svm", kvm_module="kvm_amd", kvm_api="11")
    rc, data, checks = validate(root)
    assert rc == 0
    assert checks["cpu-virt"]["result"] == "PASS" and "AMD-V" in checks["cpu-virt"]["detail"]
    assert checks["kvm-api"]["result"] == "WARN"
    assert "11" in checks["kvm-api"]["detail"]
    assert data["accelerator"] == "tcg"


def test_missing_tun_bridge_cgroups(tmp_path):
    root = make_root(tmp_path, tun=False, bridge=False, cgroup2=False)
    rc, data, checks = validate(root)
    assert checks["tun"]["result"] == "WARN" and checks["tun"]["hint"] == "modprobe tun"
    assert checks["bridge"]["result"] == "WARN"
    assert checks["cgroups"]["result"] == "WARN"
    assert checks["vhost-net"]["result"] == "WARN"


def test_nested_disabled(tmp_path):
    root = make_root(tmp_path, cpu_flags="vmx", kvm_module="kvm_intel", nested="N")
    _, _, checks = validate(root)
    assert checks["nested"]["result"] == "WARN"
    assert "nested=1" in checks["nested"]["hint"]


def test_group_membership_and_usermod_hint(tmp_path):
    root = make_root(tmp_path, groups="kvm:x:104:alice,bob\nvirtkit:x:990:bob\n")
    _, _, checks = validate(root, "--user", "alice")
    assert checks["kvm"]["result"] == "PASS"
    assert checks["virtkit"]["result"] == "WARN"
    assert checks["virtkit"]["hint"].startswith("usermod -aG virtkit alice")
    _, _, checks = validate(root, "--user", "bob")
    assert checks["virtkit"]["result"] == "PASS"


@pytest.mark.skipif(os.geteuid() != 0, reason="SKIP: needs root to create a folder another user cannot read")
def test_images_folder_acl_hint(tmp_path):
    root = make_root(tmp_path)
    base = pathlib.Path(tempfile.mkdtemp(prefix="vk-images-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    images = base / "images"
    images.mkdir()
    os.chmod(images, 0o700)
    rc, _, checks = validate(root, "--vm-user", "nobody", "--images", str(images), "--root", "")
    c = checks["images"]
    assert c["result"] == "WARN"
    assert c["hint"] == f"setfacl -m u:nobody:rx {images}"
    r = run(["setfacl", "-m", "u:nobody:rx", str(images)])
    if r.returncode != 0:
        pytest.skip(f"SKIP: setfacl not supported on this filesystem: {r.stderr.strip()}")
    _, _, checks = validate(root, "--vm-user", "nobody", "--images", str(images), "--root", "")
    assert checks["images"]["result"] == "PASS"
    shutil.rmtree(base)


def test_missing_emulator_means_cannot_run(tmp_path):
    root = make_root(tmp_path, kvm_module="kvm_intel", cpu_flags="vmx")
    rc, data, checks = validate(root, emulator=False)
    assert rc == 1
    assert data["can_run"] is False
    assert checks["emulator"]["result"] == "FAIL"
    assert "VIRTKIT_VM" in checks["emulator"]["hint"]


def test_human_output_and_this_host(virtkit):
    r = virtkit("host-validate")
    assert r.returncode in (0, 1)
    for word in ("Checking for hardware virtualization", "Checking if device /dev/kvm exists"):
        assert word in r.stdout
    assert any(r.stdout.count(s) for s in (": PASS", ": WARN"))
    if os.path.exists("/sys/module/kvm_pvm"):
        assert "PVM" in r.stdout and "software CPU" in r.stdout


def test_usage_errors(virtkit):
    r = virtkit("host-validate", "--bogus")
    assert r.returncode == 2
    assert r.stderr.startswith("virtkit: host-validate: unknown option")
    r = virtkit("host-validate", "extra")
    assert r.returncode == 2


def test_help_and_version(virtkit):
    r = virtkit("host-validate", "--help")
    assert r.returncode == 0 and "usage: virtkit host-validate" in r.stdout
    r = virtkit("help", "host-validate")
    assert r.returncode == 0 and "Exit status" in r.stdout
    r = virtkit("--version")
    assert r.returncode == 0 and r.stdout.startswith("virtkit ")
    r = virtkit("nonsense")
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = virtkit("help")
    assert r.returncode == 0 and "host-validate" in r.stdout


def test_bash_completion_lists_commands(virtkit):
    r = virtkit("completion", "bash")
    assert r.returncode == 0
    assert "complete -o default -F _virtkit virtkit" in r.stdout
    assert "host-validate" in r.stdout and "--json" in r.stdout
    # the script is valid bash
    check = run(["bash", "-n"], input=r.stdout)
    assert check.returncode == 0, check.stderr
