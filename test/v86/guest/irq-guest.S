# A bare multiboot guest for v86 that exercises one device interrupt line.
# The device (the test's PCI function behind the v86 adapter) has a doorbell
# register whose write raises its level-triggered INTx line, and a status
# register whose read returns and clears the request and lowers the line, like
# virtio's ISR status (virtio 1.2 section 4.1.4.5).
#
# The host sets MODE before the CPU starts and reads the counters below.
#   MODE 0  8259 pair, IRQ 11: ring with IF=1, spin until the handler has run.
#   MODE 1  like 0, but every other round rings and polls the status register
#           with IF=0 (the request is withdrawn before any acknowledge).
#   MODE 2  IOAPIC + local APIC (v86 with acpi), IRQ 11 as vector 0x3B, level.
# The handler reads the status register, counts, and sends EOI.
        .code32
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00010000          # bit 16: the address fields below are valid
        .set DOORBELL, 0xE8000000          # BAR 0 + 0 (the test places BAR 0 there)
        .set STATUS,   0xE8000004
        .set IOAPIC,   0xFEC00000
        .set LAPIC,    0xFEE00000
        .set MODE,     0x8000              # set by the host
        .set SENT,     0x8004              # doorbell rings (interrupt rounds)
        .set HANDLED,  0x8008              # handler runs for IRQ 11
        .set POLLED,   0x800C              # polled rounds (MODE 1)
        .set SPURIOUS, 0x8010              # spurious vectors 0x27 / 0x2F
        .set OTHER,    0x8014              # any other vector
        .set IDT,      0x9000
        .globl _start
_start:
hdr:    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
        .long hdr, _start, 0, 0, entry     # header, load, load_end (whole file), bss_end, entry
        .long after_ring                   # +0x20: for the host: EIP after the doorbell write
        .long 0, 0, 0
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF           # 0x08: flat code
        .quad 0x00CF92000000FFFF           # 0x10: flat data
gdtr:   .word 23
        .long gdt
idtr:   .word 256 * 8 - 1
        .long IDT

entry:  cli
        lgdt gdtr
        ljmp $0x08, $1f
1:      mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov $0x90000, %esp
        mov $IDT, %edi                     # every vector: count it
        mov $other, %ebx
2:      call setgate
        add $8, %edi
        cmp $IDT + 256 * 8, %edi
        jne 2b
        mov $IDT + 0x27 * 8, %edi
        mov $spurious_master, %ebx
        call setgate
        mov $IDT + 0x2F * 8, %edi
        mov $spurious_slave, %ebx
        call setgate
        mov $IDT + 0x2B * 8, %edi
        mov $irq_pic, %ebx
        call setgate
        mov $IDT + 0x3B * 8, %edi
        mov $irq_apic, %ebx
        call setgate
        lidt idtr

        mov $0x11, %al                     # ICW1: edge, cascade, ICW4 follows
        out %al, $0x20
        out %al, $0xA0
        mov $0x20, %al                     # ICW2: master at vector 0x20, slave at 0x28
        out %al, $0x21
        mov $0x28, %al
        out %al, $0xA1
        mov $0x04, %al                     # ICW3: slave on IR2
        out %al, $0x21
        mov $0x02, %al
        out %al, $0xA1
        mov $0x01, %al                     # ICW4: 8086 mode, normal EOI
        out %al, $0x21
        out %al, $0xA1
        mov $0x08, %al                     # ELCR2: IRQ 11 level-triggered
        mov $0x4D1, %dx
        out %al, %dx
        cmpl $2, MODE
        je apic_setup
        mov $0xFB, %al                     # master: only the cascade
        out %al, $0x21
        mov $0xF7, %al                     # slave: only IRQ 11
        out %al, $0xA1
        jmp run

apic_setup:
        mov $0xFF, %al                     # 8259s fully masked
        out %al, $0x21
        out %al, $0xA1
        movl $0x1FF, LAPIC + 0xF0          # spurious vector register: APIC on, vector 0xFF
        movl $0, LAPIC + 0x80              # task priority 0
        movl $0x10 + 2 * 11, IOAPIC        # redirection entry 11, low half:
        movl $0x803B, IOAPIC + 0x10        #   vector 0x3B, fixed, physical, level, unmasked
        movl $0x10 + 2 * 11 + 1, IOAPIC    # high half: destination APIC 0
        movl $0, IOAPIC + 0x10

run:    sti
main:   cmpl $1, MODE
        jne ring
        testl $1, SENT
        jz ring
        cli                                # polled round
        movl $1, DOORBELL
        mov STATUS, %eax
        incl POLLED
        sti
        nop
ring:   incl SENT
        movl $1, DOORBELL                  # the device raises its line inside this write
after_ring:
wait:   sti                                # IF is set: STI only makes v86 check for interrupts
        mov HANDLED, %eax                  # after the next instruction (its JIT does that too)
        cmp SENT, %eax
        jne wait
        jmp main

irq_pic:
        push %eax
        mov STATUS, %eax                   # read-to-clear: the device lowers its line
        incl HANDLED
        mov $0x20, %al                     # non-specific EOI, slave then master
        out %al, $0xA0
        out %al, $0x20
        pop %eax
        iret
irq_apic:
        push %eax
        mov STATUS, %eax
        incl HANDLED
        movl $0, LAPIC + 0xB0              # local APIC EOI (the IOAPIC clears remote IRR)
        pop %eax
        iret
spurious_slave:                            # the slave's IR7 without ISR: EOI the master's cascade only
        push %eax
        incl SPURIOUS
        mov $0x20, %al
        out %al, $0x20
        pop %eax
        iret
spurious_master:
        incl SPURIOUS
        iret
other:  incl OTHER
        iret

setgate:                                   # IDT entry at %edi -> handler %ebx (32-bit interrupt gate, CS 0x08)
        mov %ebx, %eax
        and $0xFFFF, %eax
        or $0x00080000, %eax
        mov %eax, (%edi)
        mov %ebx, %eax
        and $0xFFFF0000, %eax
        or $0x8E00, %eax
        mov %eax, 4(%edi)
        ret
