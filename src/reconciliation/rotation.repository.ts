import type { DataSource } from 'typeorm';
import type { LinkUserSlot } from '../clusters/link-user-credentials';

/** A cluster's link-user rotation as stored (`link_user_rotations`). */
export interface RotationRow {
  id: string;
  cluster_id: string;
  from_slot: LinkUserSlot;
  to_slot: LinkUserSlot;
  from_username: string;
  to_username: string;
  status: 'verifying' | 'switching' | 'completed';
  attempts: number;
  last_error: string | null;
  applied_by: string[];
  refresh_requested: string[];
}

export async function unfinishedRotation(
  ds: DataSource,
  clusterId: string,
): Promise<RotationRow | undefined> {
  const [row] = (await ds.query(
    `SELECT id, cluster_id, from_slot, to_slot, from_username, to_username, status, attempts,
            last_error, applied_by, refresh_requested
     FROM link_user_rotations WHERE cluster_id = $1 AND status <> 'completed'`,
    [clusterId],
  )) as RotationRow[];
  return row;
}
