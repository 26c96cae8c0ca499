// UPDATESG and UPDATENIC, as OpenNebula master runs them: one network step each, and the reply
// starts with the security group's or the virtual network's id, on FAILURE too (oned reads it).
import { expecting, type OnedRequest, type StepList } from '../request.js';
import { vnm } from '../step.js';

export function updateSgSteps(request: OnedRequest): StepList {
  const sg = expecting(request, request.data.securityGroupId, 'SECURITY_GROUP_ID');
  return {
    main: 'update_sg',
    prefix: sg,
    steps: [vnm('update_sg', [request.data.deployId ?? ''])],
  };
}

// The network driver gets the whole VM (base64), not the reduced document of the other steps.
export function updateNicSteps(request: OnedRequest): StepList {
  const vn = expecting(request, request.data.virtualNetworkId, 'VIRTUAL_NETWORK_ID');
  const vm = `${Buffer.from(request.data.vmXml ?? '', 'utf8').toString('base64')}\n`;
  return {
    main: 'update_nic',
    prefix: vn,
    steps: [vnm('update_nic', [request.data.deployId ?? '', vn], { stdin: vm })],
  };
}
