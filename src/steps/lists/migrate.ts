// MIGRATE (live), as OpenNebula master runs it: the TM premigrate on the front-end, the network
// set up on the destination, onevmm's migration transaction, the network cleaned on the source and
// set up after the move on the destination, and the TM postmigrate. After the migration itself
// every step is no_fail: the VM has moved, a failure there is logged but does not undo it.
// oned always sends the TM command; a payload without one (another controller, a test) migrates
// without TM steps, where OpenNebula's driver would die without a reply.
import { expecting, vmBase64, type OnedRequest, type StepList } from '../request.js';
import { splitCommand, tm, vmm, vnm, type Step } from '../step.js';

export function migrateSteps(request: OnedRequest): StepList {
  const destination = expecting(request, request.data.migrHost, 'MIGR_HOST');
  const [command = '', ...rest] = splitCommand(request.data.tmCommand ?? '');
  const stdin = vmBase64(request);
  const tmStep = (action: string, prefix: string, options: Parameters<typeof tm>[2]): Step[] =>
    command === '' ? [] : [tm(action, [`${prefix}${command}`, ...rest], { stdin, ...options })];
  const failMigrate = tmStep('tm_failmigrate', 'FAIL', { noFail: true });
  const sameHost = request.host === destination;
  const { domain, data } = request;
  return {
    main: 'migrate',
    steps: [
      ...tmStep('tm_premigrate', 'PRE', { failActions: failMigrate }),
      ...(sameHost ? [] : [vnm('pre', [], { where: 'destination' })]),
      vmm(
        'migrate',
        async (ctx, host) => {
          const { migrateFromVm } = await import('../../actions/from-vm.js');
          await migrateFromVm(ctx, {
            source: host,
            destination,
            domain,
            data,
            driveFrom: request.services.migrateLocal ? 'front-end' : 'source',
          });
          return '';
        },
        { failActions: failMigrate },
      ),
      ...(sameHost
        ? []
        : [
            vnm('clean', [request.host], { noFail: true }),
            vnm('post', [data.deployId ?? '', request.host], { where: 'destination', noFail: true }),
          ]),
      ...tmStep('tm_postmigrate', 'POST', { noFail: true }),
    ],
  };
}
