import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDomainValidator, type DomainValidator } from '../../src/schema/validate-domain.js';
import { OnevmmError } from '../../src/util/errors.js';
import { defineAllOnTestDriver, defineOnTestDriver, validateWithSchema } from '../helpers/libvirt-oracle.js';

function domain(body: string, type = 'kvm'): string {
  return [
    `<domain type='${type}'>`,
    '  <name>one-42</name>',
    "  <memory unit='KiB'>1048576</memory>",
    "  <os><type arch='x86_64'>hvm</type></os>",
    `${body}</domain>`,
    '',
  ].join('\n');
}

const MINIMAL = domain('');
const BAD_MEMORY = "<domain type='kvm'>\n<name>x</name>\n<memory>abc</memory>\n</domain>";
const MALFORMED = "<domain type='kvm'>\n<name>x</nam>\n</domain>";
const ONE_NS = 'http://opennebula.org/xmlns/libvirt/1.0';
const TYPICAL = domain(`  <vcpu>2</vcpu>
  <cputune><shares>2048</shares></cputune>
  <features><acpi/><apic/></features>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/one//datastores/0/42/disk.0'/>
      <target dev='vda' bus='virtio'/>
      <driver name='qemu' type='qcow2' cache='none'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/var/lib/one//datastores/0/42/disk.1'/>
      <target dev='hda' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='02:00:0a:00:00:01'/>
      <model type='virtio'/>
    </interface>
    <graphics type='vnc' listen='0.0.0.0' port='5942'/>
  </devices>
  <metadata>
    <one:vm xmlns:one='${ONE_NS}'><one:system_datastore>/x</one:system_datastore></one:vm>
  </metadata>
`);

describe('createDomainValidator', () => {
  let validator: DomainValidator;
  beforeAll(async () => {
    validator = await createDomainValidator();
  });
  afterAll(() => validator.dispose());

  it('accepts a minimal and a typical domain', () => {
    expect(validator.validate(MINIMAL)).toEqual({ valid: true });
    expect(validator.validate(TYPICAL)).toEqual({ valid: true });
  });

  it('reports schema errors with their line', () => {
    const result = validator.validate(BAD_MEMORY);
    expect(result.valid).toBe(false);
    expect(!result.valid && result.errors).toContain("line 3: Type unsignedLong doesn't allow value 'abc'");
  });

  it('reports malformed XML with the parser message and line', () => {
    expect(validator.validate(MALFORMED)).toEqual({
      valid: false,
      errors: ['line 2: Opening and ending tag mismatch: name line 2 and nam'],
    });
  });

  it('fails with VALIDATE when the schema dir is missing', async () => {
    await expect(createDomainValidator({ schemaDir: '/nonexistent/schemas' })).rejects.toMatchObject({
      code: 'VALIDATE',
      message: 'libvirt schemas not found in /nonexistent/schemas; install libvirt0 or set ONEVMM_SCHEMA_DIR',
    });
    vi.stubEnv('ONEVMM_SCHEMA_DIR', '/nonexistent/env');
    try {
      await expect(createDomainValidator()).rejects.toThrow('not found in /nonexistent/env;');
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('resolves includes inside the schema dir only', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'onevmm-rng-'));
    const rng = (body: string) => `<grammar xmlns="http://relaxng.org/ns/structure/1.0">${body}</grammar>`;
    try {
      mkdirSync(path.join(root, 'schemas'));
      writeFileSync(path.join(root, 'outside.rng'), rng('<define name="x"><empty/></define>'));
      writeFileSync(path.join(root, 'schemas/inner.rng'), rng('<define name="x"><empty/></define>'));
      writeFileSync(
        path.join(root, 'schemas/domain.rng'),
        rng('<start><element name="domain"><ref name="x"/></element></start><include href="inner.rng"/>'),
      );
      const inner = await createDomainValidator({ schemaDir: path.join(root, 'schemas') });
      expect(inner.validate('<domain/>')).toEqual({ valid: true });
      expect(inner.validate('<domain>x</domain>').valid).toBe(false);
      inner.dispose();
      inner.dispose();
      expect(() => inner.validate('<domain/>')).toThrow('after dispose');

      writeFileSync(
        path.join(root, 'schemas/domain.rng'),
        rng(
          '<start><element name="domain"><ref name="x"/></element></start><include href="../outside.rng"/>',
        ),
      );
      const outside = createDomainValidator({ schemaDir: path.join(root, 'schemas') });
      await expect(outside).rejects.toThrow(OnevmmError);
      await expect(outside).rejects.toThrow(/^cannot load .*Failed to load include/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('libvirt oracles', () => {
  it('the test driver really validates', () => {
    const single = defineOnTestDriver(BAD_MEMORY);
    const [batch] = defineAllOnTestDriver([BAD_MEMORY]);
    for (const result of [single, batch]) {
      expect(result?.ok).toBe(false);
      expect(result?.message).toContain("Type unsignedLong doesn't allow value 'abc'");
    }
  });

  // What OpenNebula emits, and what libvirt 9.0's schema and test driver make of it.
  const cases: { name: string; xml: string; valid: boolean }[] = [
    { name: 'minimal', xml: MINIMAL, valid: true },
    { name: 'typical, with <metadata> in the one: namespace', xml: TYPICAL, valid: true },
    { name: 'type test', xml: domain('', 'test'), valid: true },
    { name: 'bad memory', xml: BAD_MEMORY, valid: false },
    { name: 'malformed', xml: MALFORMED, valid: false },
    {
      name: 'two <devices> blocks',
      xml: domain(
        `  <devices><graphics type='vnc'/></devices>\n  <devices><input type='tablet'/></devices>\n`,
      ),
      valid: false,
    },
    { name: '<title> with a newline', xml: domain('  <title>a\nb</title>\n'), valid: false },
    { name: '<title> on one line', xml: domain('  <title>a b</title>\n'), valid: true },
  ];

  it('schema, single define and batch define agree', async () => {
    const batch = defineAllOnTestDriver(cases.map((c) => c.xml));
    for (const [i, c] of cases.entries()) {
      const schema = await validateWithSchema(c.xml);
      const single = defineOnTestDriver(c.xml);
      expect({ name: c.name, schema: schema.valid, single: single.ok, batch: batch[i]?.ok }).toEqual({
        name: c.name,
        schema: c.valid,
        single: c.valid,
        batch: c.valid,
      });
    }
  });

  it('batch defines start from a fresh driver, so names may repeat', () => {
    expect(defineAllOnTestDriver([MINIMAL, MINIMAL]).map((r) => r.ok)).toEqual([true, true]);
    expect(defineAllOnTestDriver([MINIMAL, BAD_MEMORY, MINIMAL]).map((r) => r.ok)).toEqual([
      true,
      false,
      true,
    ]);
  });
});
