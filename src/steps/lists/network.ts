// UPDATESG and UPDATENIC, as OpenNebula master runs them: one network step each, and the reply
// starts with the security group's or the virtual network's id, on FAILURE too (oned reads it).
import { getVectors } from '../../template/model.js';
import { OnevmmError } from '../../util/errors.js';
import { expecting, vmBase64, type OnedRequest, type StepList } from '../request.js';
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
// A VM without a NIC in that network has nothing to update: refused before the network driver
// runs (OpenNebula would run it for nothing), the network id still first in the reply.
export function updateNicSteps(request: OnedRequest): StepList {
  const vn = expecting(request, request.data.virtualNetworkId, 'VIRTUAL_NETWORK_ID');
  const vm = `${vmBase64(request)}\n`;
  const template = request.data.vm?.template ?? { attributes: [] };
  const nics = ['NIC', 'NIC_ALIAS', 'PCI'].flatMap((kind) => getVectors(template, kind));
  const inNetwork = nics.some((nic) => nic['NETWORK_ID']?.trim() === vn.trim());
  return {
    main: 'update_nic',
    prefix: vn,
    ...(inNetwork
      ? {}
      : {
          before: () =>
            Promise.reject(
              new OnevmmError(
                'ACTION',
                `VM ${request.vmid} has no NIC in virtual network ${vn}: update_nic not run on ${request.host}`,
              ),
            ),
        }),
    steps: [vnm('update_nic', [request.data.deployId ?? '', vn], { stdin: vm })],
  };
}
