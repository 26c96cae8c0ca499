// Whole VM lives driven by a real oned through its XML-RPC API, whichever VM_MAD it runs: each
// step's end state and what the hosts hold afterwards are recorded, and what the guest must see
// is checked on its serial console (it boots, reads its context CD, sees the hot-plugged disk
// and NIC, keeps beating across a migration or a save/restore, gets its new vCPU).
import { expect } from 'vitest';
import {
  ensureTemplate,
  hostContents,
  kitHostRun,
  serialLog,
  settle,
  vmView,
  waitSerial,
  type HostContents,
  type Kit,
  type KitHost,
  type VmView,
} from '../helpers/oned-kit.js';

export interface StepRecord {
  readonly step: string;
  readonly state: string;
  readonly host: string | undefined;
  readonly hosts: readonly HostContents[];
}

// Replaces the VM's id in names and paths, so that two lives can be compared.
function normalize(contents: HostContents, vmid: number): HostContents {
  const rename = (text: string): string =>
    text
      .replace(new RegExp(`\\bone-${vmid}\\b`, 'g'), 'one-<vm>')
      .replace(new RegExp(`(:[a-z] )${vmid}(/|$)`), '$1<vm>$2');
  return {
    domains: contents.domains.map(rename),
    bridges: contents.bridges,
    files: contents.files.map(rename),
  };
}

export class Life {
  readonly records: StepRecord[] = [];
  vmid = -1;
  private readonly kit: Kit;
  private readonly datastore: number;

  constructor(kit: Kit, datastore: number) {
    this.kit = kit;
    this.datastore = datastore;
  }

  get hosts(): readonly KitHost[] {
    return this.kit.hosts;
  }

  host(address: string | undefined): KitHost {
    const host = this.kit.hosts.find((h) => h.address === address);
    if (host === undefined) throw new Error(`no kit host ${String(address)}`);
    return host;
  }

  // Runs a request and waits for oned to settle; records the state and the hosts' contents.
  async step(
    name: string,
    act: () => Promise<unknown>,
    want: string,
    done?: (view: VmView) => boolean,
    // the request may leave the state as it is (`done` alone proves it was carried out)
    mayStay = false,
  ): Promise<VmView> {
    const view = await settle(this.kit.rpc, this.vmid, act, done === undefined ? {} : { done, mayStay });
    expect(view.state, `${name}: ${view.error}`).toBe(want);
    this.records.push({
      step: name,
      state: view.state,
      host: view.host,
      hosts: this.kit.hosts.map((host) =>
        normalize(hostContents(host, this.kit.ids.sshDatastore), this.vmid),
      ),
    });
    return view;
  }

  // The VM, on hold, instantiated from the e2e template (plus `extra` template text).
  async create(templateId: number, extra = ''): Promise<number> {
    this.vmid = await this.kit.rpc.callId('one.template.instantiate', templateId, '', true, extra, false);
    return this.vmid;
  }

  deploy(host: KitHost): Promise<VmView> {
    return this.step(
      `deploy on ${host.name}`,
      () => this.kit.rpc.call('one.vm.deploy', this.vmid, host.id, false, this.datastore),
      'RUNNING',
    );
  }

  action(name: string, want: string): Promise<VmView> {
    return this.step(name, () => this.kit.rpc.call('one.vm.action', name, this.vmid), want);
  }

  migrate(host: KitHost): Promise<VmView> {
    return this.step(
      `migrate to ${host.name}`,
      () => this.kit.rpc.call('one.vm.migrate', this.vmid, host.id, true, false, this.datastore, 0),
      'RUNNING',
      (view) => view.host === host.address,
    );
  }

  view(): Promise<VmView> {
    return vmView(this.kit.rpc, this.vmid);
  }

  rpc(method: string, ...args: (string | number | boolean)[]): Promise<unknown> {
    return this.kit.rpc.call(method, this.vmid, ...args);
  }
}

// The last heartbeat of the guest on `host` past `offset`, parsed.
export async function heartbeat(
  host: KitHost,
  offset: number,
  test: (beat: Record<string, string>) => boolean = () => true,
  timeoutMs = 60_000,
): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const beats = [
      ...serialLog(host)
        .slice(offset)
        .matchAll(/^TB-HB (\d+) (.*)$/gm),
    ].map((m) => ({
      n: m[1] ?? '',
      ...Object.fromEntries((m[2] ?? '').split(' ').map((kv) => kv.split('=') as [string, string])),
    }));
    const beat = beats.reverse().find(test);
    if (beat !== undefined) return beat;
    if (Date.now() > deadline)
      throw new Error(
        `${host.name}: no guest heartbeat like that in ${timeoutMs} ms; last: ${JSON.stringify(beats[0])}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// Removes the guest bridge on every kit host: the VM's network driver must create it.
export function removeBridges(kit: Kit): void {
  for (const host of kit.hosts)
    kitHostRun(host, ['sh', '-c', 'ip link show br0 >/dev/null 2>&1 && ip link delete br0; true']);
}

export { ensureTemplate, serialLog, waitSerial, kitHostRun };
