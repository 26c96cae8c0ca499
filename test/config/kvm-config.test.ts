import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readKvmConfig } from '../../src/config/kvm-config.js';
import { parseKvmrc } from '../../src/config/parse-kvmrc.js';
import { OnevmmError } from '../../src/util/errors.js';

const SHIPPED = path.join(import.meta.dirname, '../../remotes/etc/vmm/kvm/kvmrc');

function errorOf(vars: Record<string, string>): OnevmmError {
  try {
    readKvmConfig(vars);
  } catch (error) {
    if (error instanceof OnevmmError) return error;
    throw error;
  }
  throw new Error(`no error for ${JSON.stringify(vars)}`);
}

const DEFAULTS = {
  libvirtUri: 'qemu:///system',
  qemuProtocol: 'qemu+ssh',
  shutdownTimeout: 180,
  shutdownResend: 10,
  commandTimeout: 60,
  forceDestroy: true,
  cancelNoAcpi: false,
  syncTime: true,
  virshRetries: 3,
  migrateOptions: [],
  migrateTimeout: 900,
  tmTimeout: 3600,
  deploymentSource: 'oned',
  metadataUri: 'http://opennebula.org/xmlns/libvirt/1.0',
  metadataKey: 'one',
};

describe('readKvmConfig', () => {
  it('has OpenNebula’s defaults (reference §3.3) and onevmm’s own when nothing is set', () => {
    expect(readKvmConfig({})).toEqual({ ...DEFAULTS, vars: {} });
  });

  it('takes blank values as unset', () => {
    const blank = Object.fromEntries(
      [
        'LIBVIRT_URI',
        'QEMU_PROTOCOL',
        'SHUTDOWN_TIMEOUT',
        'SHUTDOWN_RESEND',
        'COMMAND_TIMEOUT',
        'FORCE_DESTROY',
        'CANCEL_NO_ACPI',
        'SYNC_TIME',
        'VIRSH_RETRIES',
        'MIGRATE_OPTIONS',
        'TM_TIMEOUT',
        'DEPLOYMENT_SOURCE',
        'LIBVIRT_MD_URI',
        'LIBVIRT_MD_KEY',
      ].map((name) => [name, ' ']),
    );

    expect(readKvmConfig(blank)).toEqual({ ...DEFAULTS, vars: blank });
  });

  it('gives the same settings for the shipped kvmrc as the defaults (it only writes them out)', () => {
    const vars = parseKvmrc(readFileSync(SHIPPED, 'utf8'), { file: SHIPPED, env: {} });

    expect(readKvmConfig(vars)).toEqual({ ...DEFAULTS, vars });
  });

  it('reads every variable', () => {
    const vars = {
      LIBVIRT_URI: ' qemu+tcp://localhost/system ',
      QEMU_PROTOCOL: 'qemu+tls',
      SHUTDOWN_TIMEOUT: '300',
      SHUTDOWN_RESEND: '2.5',
      COMMAND_TIMEOUT: ' 90 ',
      FORCE_DESTROY: 'no',
      CANCEL_NO_ACPI: 'yes',
      SYNC_TIME: 'NO',
      VIRSH_RETRIES: '5',
      MIGRATE_OPTIONS: ' --unsafe   --compressed ',
      MIGRATE_TIMEOUT: '120',
      TM_TIMEOUT: '600',
      DEPLOYMENT_SOURCE: 'onevmm',
      LIBVIRT_MD_URI: 'http://example.org/ns',
      LIBVIRT_MD_KEY: 'opennebula',
      DEFAULT_ATTACH_CACHE: 'none',
    };

    expect(readKvmConfig(vars)).toEqual({
      libvirtUri: 'qemu+tcp://localhost/system',
      qemuProtocol: 'qemu+tls',
      shutdownTimeout: 300,
      shutdownResend: 2.5,
      commandTimeout: 90,
      forceDestroy: false,
      cancelNoAcpi: true,
      syncTime: false,
      virshRetries: 5,
      migrateOptions: ['--unsafe', '--compressed'],
      migrateTimeout: 120,
      tmTimeout: 600,
      deploymentSource: 'onevmm',
      metadataUri: 'http://example.org/ns',
      metadataKey: 'opennebula',
      vars,
    });
  });

  it.each([
    ['yes', true],
    ['YES', true],
    [' Yes ', true],
    ['true', true],
    ['1', true],
    ['no', false],
    ['No', false],
    ['false', false],
    ['0', false],
  ])('reads the boolean %j as %s', (value, expected) => {
    expect(readKvmConfig({ FORCE_DESTROY: value }).forceDestroy).toBe(expected);
    expect(readKvmConfig({ CANCEL_NO_ACPI: value }).cancelNoAcpi).toBe(expected);
    expect(readKvmConfig({ SYNC_TIME: value }).syncTime).toBe(expected);
  });

  it('accepts SHUTDOWN_TIMEOUT=0 (destroy at the first poll) and the smallest resend and command timeout', () => {
    expect(
      readKvmConfig({ SHUTDOWN_TIMEOUT: '0', SHUTDOWN_RESEND: '0.1', COMMAND_TIMEOUT: '1' }),
    ).toMatchObject({
      shutdownTimeout: 0,
      shutdownResend: 0.1,
      commandTimeout: 1,
    });
  });

  it('reads DEPLOYMENT_SOURCE in any case', () => {
    expect(readKvmConfig({ DEPLOYMENT_SOURCE: ' ONED ' }).deploymentSource).toBe('oned');
    expect(readKvmConfig({ DEPLOYMENT_SOURCE: 'OneVMM' }).deploymentSource).toBe('onevmm');
  });

  it.each([
    ['SHUTDOWN_TIMEOUT', 'abc', "kvmrc: SHUTDOWN_TIMEOUT must be a number of seconds ≥ 0, got 'abc'"],
    ['SHUTDOWN_TIMEOUT', '-5', "kvmrc: SHUTDOWN_TIMEOUT must be a number of seconds ≥ 0, got '-5'"],
    ['SHUTDOWN_TIMEOUT', '180s', "kvmrc: SHUTDOWN_TIMEOUT must be a number of seconds ≥ 0, got '180s'"],
    ['SHUTDOWN_TIMEOUT', '1e3', "kvmrc: SHUTDOWN_TIMEOUT must be a number of seconds ≥ 0, got '1e3'"],
    ['SHUTDOWN_RESEND', '0', "kvmrc: SHUTDOWN_RESEND must be a number of seconds ≥ 0.1, got '0'"],
    ['SHUTDOWN_RESEND', '0.05', "kvmrc: SHUTDOWN_RESEND must be a number of seconds ≥ 0.1, got '0.05'"],
    ['COMMAND_TIMEOUT', '0.5', "kvmrc: COMMAND_TIMEOUT must be a number of seconds ≥ 1, got '0.5'"],
    ['COMMAND_TIMEOUT', 'sixty', "kvmrc: COMMAND_TIMEOUT must be a number of seconds ≥ 1, got 'sixty'"],
    ['FORCE_DESTROY', 'maybe', "kvmrc: FORCE_DESTROY must be yes or no, got 'maybe'"],
    ['CANCEL_NO_ACPI', 'on', "kvmrc: CANCEL_NO_ACPI must be yes or no, got 'on'"],
    ['SYNC_TIME', 'y', "kvmrc: SYNC_TIME must be yes or no, got 'y'"],
    ['VIRSH_RETRIES', '2.5', "kvmrc: VIRSH_RETRIES must be a whole number of tries, got '2.5'"],
    ['DEPLOYMENT_SOURCE', 'libvirt', "kvmrc: DEPLOYMENT_SOURCE must be onevmm or oned, got 'libvirt'"],
  ])('refuses %s=%j with a message naming it', (name, value, message) => {
    const error = errorOf({ [name]: value });

    expect(error.code).toBe('CONFIG');
    expect(error.message).toBe(message);
  });

  it('names VIRSH_RETRIES when it is not a number', () => {
    expect(errorOf({ VIRSH_RETRIES: 'three' }).message).toMatch(
      /^kvmrc: VIRSH_RETRIES must be .*, got 'three'$/,
    );
  });

  it('shows a bad value escaped, on one line', () => {
    expect(errorOf({ FORCE_DESTROY: "yes\nrm -rf '/'" }).message).toBe(
      "kvmrc: FORCE_DESTROY must be yes or no, got 'yes\\nrm -rf \\'/\\''",
    );
  });
});
