import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSshConfig } from '../../src/host/ssh-config.js';
import { loadSshContext, readSshSettings, resolveHostOptions } from '../../src/host/ssh-options.js';
import type { LocalContext } from '../../src/host/ssh-options.js';
import { OnevmmError } from '../../src/util/errors.js';

const HOME = '/home/oneadmin';
const LOCAL: LocalContext = { home: HOME, user: 'oneadmin', defaultIdentities: [`${HOME}/.ssh/id_ed25519`] };
const CONFIG = parseSshConfig(
  [
    'Host tb-*',
    '  HostName 10.77.0.%h',
    '  Port 2222',
    '  User admin',
    '  IdentityFile ~/.ssh/%r@%h:%p',
    '  IdentityFile %d/.ssh/%n-%u.key',
  ].join('\n'),
  `${HOME}/.ssh/config`,
);

describe('readSshSettings', () => {
  it('applies the defaults', () => {
    expect(readSshSettings({}, HOME)).toEqual({
      knownHostsFile: `${HOME}/.ssh/known_hosts`,
      hostKeyPolicy: 'strict',
      connectTimeoutMs: 10_000,
      maxChannels: 9,
      virshShells: 4,
      commandTimeoutSeconds: 60,
    });
  });

  it('reads every value, expanding ~, and treats empty values as unset', () => {
    expect(
      readSshSettings(
        {
          SSH_USER: 'root',
          SSH_PORT: '2200',
          SSH_IDENTITY: '~/.ssh/onevmm',
          SSH_KNOWN_HOSTS: '/etc/one/known_hosts',
          SSH_HOST_KEY_POLICY: 'accept-new',
          SSH_CONNECT_TIMEOUT: '2.5',
          SSH_MAX_CHANNELS: '3',
          VIRSH_SHELLS: '0',
          COMMAND_TIMEOUT: '90',
          LIBVIRT_URI: 'qemu:///system',
        },
        HOME,
      ),
    ).toEqual({
      user: 'root',
      port: 2200,
      identity: `${HOME}/.ssh/onevmm`,
      knownHostsFile: '/etc/one/known_hosts',
      hostKeyPolicy: 'accept-new',
      connectTimeoutMs: 2500,
      maxChannels: 3,
      virshShells: 0,
      commandTimeoutSeconds: 90,
    });
    expect(readSshSettings({ SSH_PORT: '', SSH_USER: '' }, HOME)).not.toHaveProperty('port');
  });

  it.each([
    ['SSH_PORT', '0', 'kvmrc SSH_PORT: expected an integer from 1 to 65535, got "0"'],
    ['SSH_PORT', '22x', 'kvmrc SSH_PORT: expected an integer from 1 to 65535, got "22x"'],
    ['SSH_PORT', '65536', 'got "65536"'],
    [
      'SSH_HOST_KEY_POLICY',
      'yes',
      'kvmrc SSH_HOST_KEY_POLICY: expected strict, accept-new or off, got "yes"',
    ],
    ['SSH_HOST_KEY_POLICY', 'STRICT', 'got "STRICT"'],
    ['SSH_CONNECT_TIMEOUT', '0', 'kvmrc SSH_CONNECT_TIMEOUT: expected a number of seconds greater than 0'],
    ['SSH_CONNECT_TIMEOUT', '10s', 'got "10s"'],
    ['SSH_MAX_CHANNELS', '0', 'kvmrc SSH_MAX_CHANNELS: expected an integer from 1 to 1000, got "0"'],
    ['SSH_MAX_CHANNELS', '2.5', 'got "2.5"'],
    ['COMMAND_TIMEOUT', '-1', 'kvmrc COMMAND_TIMEOUT: expected a number of seconds'],
    ['SSH_USER', 'root@host', 'kvmrc SSH_USER: expected a user name'],
    ['SSH_USER', 'a b', 'got "a b"'],
  ])('rejects %s=%j naming the key, the expectation and the value', (key, value, message) => {
    expect(() => readSshSettings({ [key]: value }, HOME)).toThrow(OnevmmError);
    expect(() => readSshSettings({ [key]: value }, HOME)).toThrow(message);
  });
});

describe('resolveHostOptions', () => {
  it('uses ~/.ssh/config when kvmrc says nothing, expanding tokens in IdentityFile', () => {
    const options = resolveHostOptions('tb-h1', readSshSettings({}, HOME), CONFIG, LOCAL);
    expect(options).toEqual({
      host: 'tb-h1',
      hostName: '10.77.0.tb-h1',
      port: 2222,
      user: 'admin',
      identities: [
        { path: `${HOME}/.ssh/admin@10.77.0.tb-h1:2222`, origin: `${HOME}/.ssh/config:5` },
        { path: `${HOME}/.ssh/tb-h1-oneadmin.key`, origin: `${HOME}/.ssh/config:6` },
      ],
      knownHostsFile: `${HOME}/.ssh/known_hosts`,
      hostKeyPolicy: 'strict',
      connectTimeoutMs: 10_000,
      maxChannels: 9,
      virshShells: 4,
    });
  });

  it('keeps one channel free of shells', () => {
    const settings = readSshSettings({ SSH_MAX_CHANNELS: '3', VIRSH_SHELLS: '8' }, HOME);
    expect(resolveHostOptions('tb-h1', settings, CONFIG, LOCAL)).toMatchObject({
      maxChannels: 3,
      virshShells: 2,
    });
  });

  it('lets explicit kvmrc values beat the config', () => {
    const settings = readSshSettings({ SSH_USER: 'root', SSH_PORT: '22', SSH_IDENTITY: '/k/id' }, HOME);
    expect(resolveHostOptions('tb-h1', settings, CONFIG, LOCAL)).toMatchObject({
      hostName: '10.77.0.tb-h1',
      port: 22,
      user: 'root',
      identities: [{ path: '/k/id', origin: 'kvmrc SSH_IDENTITY' }],
    });
  });

  it('falls back to the local user, port 22, the agent and the default keys', () => {
    const local = { ...LOCAL, agentSocket: '/tmp/agent.sock' };
    expect(resolveHostOptions('other', readSshSettings({}, HOME), CONFIG, local)).toMatchObject({
      hostName: 'other',
      port: 22,
      user: 'oneadmin',
      identities: [{ path: `${HOME}/.ssh/id_ed25519`, origin: 'default' }],
      agentSocket: '/tmp/agent.sock',
    });
    expect(resolveHostOptions('other', readSshSettings({}, HOME), undefined, LOCAL)).not.toHaveProperty(
      'agentSocket',
    );
  });

  it('refuses IdentityFile tokens it cannot expand, and host names that are not names', () => {
    const config = parseSshConfig('IdentityFile ~/.ssh/%C', 'cfg');
    expect(() => resolveHostOptions('h', readSshSettings({}, HOME), config, LOCAL)).toThrow(
      'cfg:1: IdentityFile token %C is not supported',
    );
    for (const bad of ['', '-oProxyCommand=x', 'a b', 'root@h', 'h;id']) {
      expect(() => resolveHostOptions(bad, readSshSettings({}, HOME), undefined, LOCAL)).toThrow(
        /invalid host name/,
      );
    }
  });
});

describe('loadSshContext', () => {
  const home = mkdtempSync(path.join(tmpdir(), 'onevmm-home-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('reads ~/.ssh/config and finds the default keys that exist, in OpenSSH order', () => {
    mkdirSync(path.join(home, '.ssh'));
    writeFileSync(path.join(home, '.ssh', 'config'), 'Host h\n  Port 2022\n');
    writeFileSync(path.join(home, '.ssh', 'id_rsa'), '');
    writeFileSync(path.join(home, '.ssh', 'id_ed25519'), '');
    const context = loadSshContext(
      { SSH_MAX_CHANNELS: '4' },
      { HOME: home, USER: 'tester', SSH_AUTH_SOCK: '/a' },
    );
    expect(context.local).toEqual({
      home,
      user: 'tester',
      agentSocket: '/a',
      defaultIdentities: [path.join(home, '.ssh/id_ed25519'), path.join(home, '.ssh/id_rsa')],
    });
    expect(context.settings.maxChannels).toBe(4);
    expect(resolveHostOptions('h', context.settings, context.config, context.local).port).toBe(2022);
  });
});
