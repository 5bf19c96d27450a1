/* The KVM accelerator on the real /dev/kvm (SKIP without it): VM and vCPU
 * creation, register round trips, RAM mapping, an irqfd and an ioeventfd
 * the kernel accepts, and a tiny real-mode guest that does port I/O
 * (including string I/O) and halts through the exit records. */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_machine.h"
#include "tap.h"

int main(void)
{
    int fd = open("/dev/kvm", O_RDWR);
    if (fd < 0)
        tap_skip_all("/dev/kvm is not usable");
    close(fd);

    struct fake_machine *f = fake_machine_new(1 << 20, 1);
    struct machine *m = &f->m;
    struct vk_err err = { 0 };
    struct vcpu v = { .m = m, .index = 0 };
    /* KVM wants page-aligned guest memory */
    uint8_t *fake_ram = m->ram[0].hva;
    m->ram[0].hva = mmap(NULL, m->ram[0].size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m->accel = &accel_kvm;
    m->vcpus[0] = &v;
    tap_ok(accel_kvm.probe(NULL) >= 0, "probe: KVM usable");
    tap_is_int(accel_kvm.vm_init(m, &err), 0, "vm_init (%s)", err.msg);
    tap_is_int(accel_kvm.map_ram(m, 0, m->ram[0].size, m->ram[0].hva, &err), 0, "map_ram");
    tap_is_int(accel_kvm.vcpu_init(&v, &err), 0, "vcpu_init (%s)", err.msg);

    /* real-mode guest at 0x1000: out 0x42 to port 0x80; rep outsb 3 bytes
     * to port 0x3f8; in from 0x60; hlt-free end: out to 0xf4 */
    static const uint8_t code[] = {
        0xb0, 0x42,             /* mov al, 0x42 */
        0xe6, 0x80,             /* out 0x80, al */
        0xbe, 0x00, 0x20,       /* mov si, 0x2000 */
        0xb9, 0x03, 0x00,       /* mov cx, 3 */
        0xba, 0xf8, 0x03,       /* mov dx, 0x3f8 */
        0xf3, 0x6e,             /* rep outsb */
        0xe4, 0x60,             /* in al, 0x60 */
        0xe6, 0xf4,             /* out 0xf4, al */
        0xeb, 0xfe,             /* jmp $ */
    };
    memcpy(m->ram[0].hva + 0x1000, code, sizeof(code));
    memcpy(m->ram[0].hva + 0x2000, "abc", 3);
    struct vk_sregs s;
    tap_is_int(accel_kvm.get_sregs(&v, &s), 0, "get_sregs");
    s.cs.base = 0;
    s.cs.selector = 0;
    s.ds = s.es = s.ss = s.cs;
    s.ds.type = s.es.type = s.ss.type = 3;
    tap_is_int(accel_kvm.set_sregs(&v, &s), 0, "set_sregs (real mode, CS=0)");
    struct vk_regs r = { .rip = 0x1000, .rflags = 2 };
    tap_is_int(accel_kvm.set_regs(&v, &r), 0, "set_regs");
    struct vk_regs back;
    accel_kvm.get_regs(&v, &back);
    tap_is_int(back.rip, 0x1000, "registers round-trip");

    struct vk_exit e = { 0 };
    int n = 0;
    do
        accel_kvm.vcpu_run(&v, &e);
    while (e.reason != VK_EXIT_IO && e.reason != VK_EXIT_FAIL && ++n < 100);
    tap_ok(e.reason == VK_EXIT_IO && e.io.port == 0x80 && e.io.is_write && e.io.size == 1 &&
           e.io.count == 1 && e.io.data[0] == 0x42, "OUT 0x80 exit with the value");
    accel_kvm.vcpu_run(&v, &e);
    tap_ok(e.reason == VK_EXIT_IO && e.io.port == 0x3f8, "string I/O exit at 0x3f8");
    /* KVM may split a REP OUTSB; gather the bytes */
    char got[4] = { 0 };
    unsigned total = 0;
    while (e.reason == VK_EXIT_IO && e.io.port == 0x3f8 && total < 3) {
        for (unsigned i = 0; i < e.io.count && total < 3; i++)
            got[total++] = (char)e.io.data[i];
        accel_kvm.vcpu_run(&v, &e);
    }
    tap_is_str(got, "abc", "rep outsb bytes in order (%u)", total);
    tap_ok(e.reason == VK_EXIT_IO && e.io.port == 0x60 && !e.io.is_write, "IN 0x60 exit (%d port 0x%x)",
           e.reason, e.io.port);
    if (e.reason == VK_EXIT_IO)
        e.io.data[0] = 0x77;   /* the loop fills reads in place */
    accel_kvm.vcpu_run(&v, &e);
    tap_ok(e.reason == VK_EXIT_IO && e.io.port == 0xf4 && e.io.data[0] == 0x77,
           "the value read reached the guest (OUT 0xf4, 0x77)");

    int efd = eventfd(0, EFD_CLOEXEC);
    tap_is_int(accel_kvm.irqfd(m, 5, efd, true), 0, "irqfd on GSI 5 accepted");
    tap_is_int(accel_kvm.irqfd(m, 5, efd, false), 0, "irqfd removed");
    tap_ok(accel_kvm.irqfd(m, 5, 12345, true) < 0, "irqfd with a bad fd refused");
    tap_is_int(accel_kvm.ioeventfd(m, 0xd0000000, 2, efd, true), 0, "ioeventfd accepted");
    tap_is_int(accel_kvm.ioeventfd(m, 0xd0000000, 2, efd, false), 0, "ioeventfd removed");
    close(efd);

    accel_kvm.vcpu_exit(&v);
    accel_kvm.vm_exit(m);
    m->vcpus[0] = NULL;
    m->accel = NULL;
    munmap(m->ram[0].hva, m->ram[0].size);
    m->ram[0].hva = fake_ram;
    fake_machine_free(f);
    return tap_done();
}
