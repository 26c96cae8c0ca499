// The <devices> content other than the emulator and the context CD-ROM.
import type { XmlChild, XmlElement } from '../domain/xml.js';
import type { TranslateContext } from './context.js';
import { buildPcieControllers, buildScsiController } from './controllers.js';
import { buildDisks, createDiskState, hasFilesystemDisk } from './disks.js';
import { buildGraphics, buildInput, buildVideo } from './graphics.js';
import { buildHostdevs, buildIommu, buildTpm } from './hostdevs.js';
import { buildNics } from './nics.js';
import { readNumaNodes } from './numa.js';

export interface DeviceSections {
  readonly devices: { readonly disks: XmlElement[]; readonly rest: XmlChild[] };
  readonly hasFilesystem: boolean;
}

export function buildControllersAndDevices(ctx: TranslateContext, warnings: string[]): DeviceSections {
  const state = createDiskState(ctx);
  const disks = buildDisks(ctx, state);
  warnings.push(...state.warnings);
  // OpenNebula's order: disks and their SATA controllers, (the context CD-ROM,) the SCSI
  // controller after the disks took their iothreads, NICs, consoles, passthrough, PCIe, TPM.
  const rest: (XmlChild | undefined)[] = [
    buildScsiController(ctx, state.nextIothread),
    ...buildNics(ctx),
    ...buildGraphics(ctx, warnings),
    buildVideo(ctx),
    buildInput(ctx),
    buildIommu(ctx, warnings),
    ...buildHostdevs(ctx, warnings),
    ...buildPcieControllers(ctx, readNumaNodes(ctx)),
    buildTpm(ctx),
  ];
  return {
    devices: {
      disks: [...disks, ...state.sataControllers],
      rest: rest.filter((node): node is XmlChild => node !== undefined),
    },
    hasFilesystem: hasFilesystemDisk(ctx),
  };
}
