import type { EntityManager } from 'typeorm';

/**
 * Refuses a registry change that would make the compiled broker policies of a cluster conflict
 * (two sources setting one key to different values, at one priority, on the same objects).
 * Features depend on this token only; reconciliation implements it with its compiler, so
 * features never import the reconciler.
 */
export abstract class RegistryConflictCheck {
  /**
   * Runs `change` inside the caller's transaction and compiles the affected clusters before and
   * after it: conflicts the change introduces are answered 409 (problem+json naming both
   * sources) and roll the transaction back. Serialised, so two changes cannot both pass.
   */
  abstract around<T>(m: EntityManager, clusterIds: string[], change: () => Promise<T>): Promise<T>;
}
