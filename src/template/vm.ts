// The VM as oned describes it: identity, its TEMPLATE and USER_TEMPLATE, and the current history record.
import type { Template } from './model.js';

// The last HISTORY record of a VM: where it runs and which system datastore holds its files.
export interface VmHistory {
  readonly seq: number;
  readonly hostname: string;
  readonly hid?: number;
  readonly dsId: number;
  // DS_LOCATION, e.g. "/var/lib/one//datastores" (trailing slash removed).
  readonly dsLocation?: string;
  readonly vmMad?: string;
  readonly tmMad?: string;
}

export interface Vm {
  readonly id: number;
  readonly name: string;
  readonly uid?: string;
  readonly gid?: string;
  readonly uname?: string;
  readonly gname?: string;
  readonly stime?: string;
  readonly deployId?: string;
  readonly lcmState?: number;
  readonly template: Template;
  readonly userTemplate: Template;
  readonly history?: VmHistory;
}

// The `<VMM_DRIVER_ACTION_DATA>` envelope oned sends with every action (reference §2.4).
// Empty elements are reported as undefined.
export interface ActionData {
  readonly host?: string;
  readonly migrHost?: string;
  readonly deployId?: string;
  readonly localDeploymentFile?: string;
  readonly remoteDeploymentFile?: string;
  readonly checkpointFile?: string;
  readonly tmCommand?: string;
  readonly tmCommandRollback?: string;
  readonly diskTargetPath?: string;
  // UPDATESG's security group, UPDATENIC's virtual network.
  readonly securityGroupId?: string;
  readonly virtualNetworkId?: string;
  readonly vm?: Vm;
  // The system (or backup) datastore's ID, BASE_PATH and TEMPLATE, when oned sent one.
  readonly datastore?: { readonly id?: number; readonly basePath?: string; readonly template: Template };
  // The <VM> and <DATASTORE> elements as oned wrote them (vm.xml and ds.xml on the host, the
  // network drivers' input, the TM scripts' stdin).
  readonly vmXml?: string;
  readonly datastoreXml?: string;
}
