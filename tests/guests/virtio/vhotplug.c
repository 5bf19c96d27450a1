/* ACPI PCI hot-plug from the guest side, doing with port I/O what Linux's
 * acpiphp does through the DSDT methods: enable GPE0 bit 1, route the SCI
 * through the IOAPIC, wait for the hot-plug event, read the slots-up
 * bitmap (0xAE00), find the new virtio function in that slot, use it, then
 * wait for the eject request (slots-down, 0xAE04), reset the device and
 * eject it (0xAE08), and watch it leave the bus (0xAE0C).
 *
 * Command line:
 *   rounds=N   plug/unplug rounds before RESULT: PASS (default 1)
 *   p0=N       a virtio-blk must hold byte N in sector 0
 */
#include "guest_io.h"

#define SCI_VECTOR 0x3a
#define HP_UP      0xae00
#define HP_DOWN    0xae04
#define HP_EJECT   0xae08
#define HP_PRESENT 0xae0c
#define GPE_BIT    1

static struct acpi_pm_info pm;
static volatile uint32_t events;

static void sci_handler(unsigned vector)
{
    uint8_t sts = inb(pm.gpe0);

    if (sts & (1u << GPE_BIT)) {
        outb(pm.gpe0, 1u << GPE_BIT);       /* write 1 to clear */
        events++;
    }
    lapic_eoi();
}

static uint32_t up_pending, down_pending;

/* Sleep until the hot-plug GPE fires and collect the bitmaps. */
static void wait_event(void)
{
    uint32_t seen = events;
    while (events == seen)
        sti_hlt();
    cli();
    up_pending |= inl(HP_UP);
    down_pending |= inl(HP_DOWN);
}

static struct vdrv d;

static void use_blk(unsigned slot, const char *cmdline)
{
    char arg[32];
    if (vdrv_find(&d, &guest_vio, 2, (int)slot - 1) != (int)slot)
        guest_fail("no virtio-blk in slot %u", slot);
    if (vdrv_init(&d, 0) < 0 || vdrv_setup_queue(&d, 0, 16) < 0)
        guest_fail("virtio-blk in slot %u: setup failed", slot);
    vdrv_driver_ok(&d);
    uint64_t hg, bg, sg;
    uint8_t *hdr = g_alloc(0, 16, &hg), *buf = g_alloc(0, 512, &bg), *st = g_alloc(0, 1, &sg);
    memset(hdr, 0, 16);                     /* VIRTIO_BLK_T_IN, sector 0 */
    *st = 0xff;
    struct vdrv_seg s[3] = { { hg, 16, false }, { bg, 512, true }, { sg, 1, true } };
    if (vdrv_transfer(&d, 0, s, 3, SPINS) < 0 || *st != 0)
        guest_fail("virtio-blk in slot %u: read of sector 0 failed", slot);
    gprintf("vhotplug: slot %u virtio-blk capacity %u sector 0 byte 0x%x\n", slot,
            (unsigned)vdrv_dev_cfg64(&d, 0), buf[0]);
    if (cmdline_get(cmdline, "p0", arg, sizeof(arg)))
        for (unsigned i = 0; i < 512; i++)
            if (buf[i] != (uint8_t)parse_ulong(arg))
                guest_fail("sector 0 byte %u is 0x%x, want %s", i, buf[i], arg);
}

static void use_net(unsigned slot)
{
    if (vdrv_find(&d, &guest_vio, 1, (int)slot - 1) != (int)slot)
        guest_fail("no virtio-net in slot %u", slot);
    if (vdrv_init(&d, 1ULL << 5) < 0)        /* VIRTIO_NET_F_MAC */
        guest_fail("virtio-net in slot %u: feature negotiation failed", slot);
    uint32_t lo = vdrv_dev_cfg32(&d, 0), hi = vdrv_dev_cfg32(&d, 4);
    gprintf("vhotplug: slot %u virtio-net mac %02x:%02x:%02x:%02x:%02x:%02x\n", slot,
            lo & 0xff, (lo >> 8) & 0xff, (lo >> 16) & 0xff, lo >> 24, hi & 0xff,
            (hi >> 8) & 0xff);
}

int guest_main(const char *cmdline)
{
    char arg[32];
    unsigned rounds = 1;

    if (cmdline_get(cmdline, "rounds", arg, sizeof(arg)))
        rounds = (unsigned)parse_ulong(arg);
    if (!acpi_pm_info(&pm))
        guest_fail("no ACPI tables");
    idt_init();
    pic_disable();
    lapic_enable();
    idt_set_handler(SCI_VECTOR, sci_handler);
    outb(pm.gpe0, 0xff);                    /* clear stale status */
    outb(pm.gpe0 + 4, 1u << GPE_BIT);       /* GPE0_EN: the hot-plug bit */
    ioapic_route(pm.sci, SCI_VECTOR, true, false, lapic_id());
    /* A device plugged before we armed latched UP, but its GPE was
     * cleared above: collect what is pending, as an OS does at boot. */
    up_pending |= inl(HP_UP);
    down_pending |= inl(HP_DOWN);
    gprintf("vhotplug: armed, present 0x%x\n", inl(HP_PRESENT));

    for (unsigned r = 0; r < rounds; r++) {
        while (!up_pending)
            wait_event();
        unsigned slot = (unsigned)__builtin_ctz(up_pending);
        up_pending &= ~(1u << slot);
        uint32_t id = pci_cfg_read32(0, slot, 0, 0);
        gprintf("vhotplug: device check slot %u id %x\n", slot, id);
        if ((id & 0xffff) != 0x1af4)
            guest_fail("slot %u: vendor %x is not virtio", slot, id & 0xffff);
        if ((id >> 16) == 0x1042)
            use_blk(slot, cmdline);
        else if ((id >> 16) == 0x1041)
            use_net(slot);
        else
            guest_fail("slot %u: unexpected device %x", slot, id >> 16);
        gprintf("vhotplug: waiting for eject request\n");
        while (!(down_pending & (1u << slot)))
            wait_event();
        down_pending &= ~(1u << slot);
        g_mmio_write(0, d.common + 0x14, 0, 1);     /* device_status = 0: reset */
        outl(HP_EJECT, 1u << slot);
        /* the VMM removes it with every vCPU parked; poll until it is gone */
        unsigned long spins = 0;
        while ((inl(HP_PRESENT) & (1u << slot)) && ++spins < SPINS)
            cpu_relax();
        if (inl(HP_PRESENT) & (1u << slot))
            guest_fail("slot %u still present after the eject", slot);
        if ((pci_cfg_read32(0, slot, 0, 0) & 0xffff) != 0xffff)
            guest_fail("slot %u config space still answers", slot);
        gprintf("vhotplug: slot %u ejected\n", slot);
    }
    guest_pass();
}
