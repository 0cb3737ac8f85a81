import { managedPrefix } from './broker-objects';

/** The upstream parameter of a link: crossdock's own name, or the adopted upstream's. */
export const upstreamName = (linkName: string, brokerName?: string | null) =>
  brokerName ?? `${managedPrefix}up.${linkName}`;

/** The shovel parameter of a crossdock shovel. */
export const shovelName = (name: string) => `${managedPrefix}sh.${name}`;
