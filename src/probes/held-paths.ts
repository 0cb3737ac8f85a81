import { newPathState, toRow, type PathState } from './path-state';
import { thresholdsFor } from './probe-evaluation';
import type { LinkModel, ProbeModel } from './probe-model';
import { probePaths, type ProbePath } from './probe-topology';

/** The probe paths of the registry's links, and the state of those this instance holds. */
export class HeldPaths {
  private readonly paths = new Map<string, PathState>();

  get(id: string): PathState | undefined {
    return this.paths.get(id);
  }

  ids(): string[] {
    return [...this.paths.keys()];
  }

  values(): PathState[] {
    return [...this.paths.values()];
  }

  /**
   * Keeps the paths whose locks this instance holds: new ones start, lost ones go (`onDrop`),
   * each with the shortest downAfterMs of its links. Returns the clusters they touch.
   */
  sync(
    all: readonly ProbePath[],
    held: ReadonlySet<string>,
    model: ProbeModel,
    probeIntervalMs: number,
    onDrop: (s: PathState) => void,
  ): Set<string> {
    for (const [id, s] of [...this.paths]) {
      if (held.has(id)) continue;
      this.paths.delete(id);
      onDrop(s);
    }
    for (const p of all) {
      if (!held.has(p.id)) continue;
      const s = this.paths.get(p.id) ?? newPathState(p);
      this.paths.set(p.id, s);
      s.path = p;
      s.downAfterMs = Math.min(
        ...p.linkIds.map((id) => thresholdsFor(model, id, probeIntervalMs).downAfterMs),
      );
    }
    const clusters = new Set<string>();
    for (const s of this.paths.values()) {
      clusters.add(s.path.fromClusterId);
      clusters.add(s.path.toClusterId);
    }
    return clusters;
  }

  /** The user links of the paths this instance holds. */
  links(model: ProbeModel): LinkModel[] {
    const held = new Set([...this.paths.values()].flatMap((s) => s.path.linkIds));
    return model.links.filter((l) => held.has(l.id));
  }
}

/** Every probe path the registry's links need (paused links have none). */
export function allProbePaths(model: ProbeModel): ProbePath[] {
  return probePaths(
    model.links.filter((l) => l.kind === 'federation').map(toRow),
    model.links.filter((l) => l.kind !== 'federation').map(toRow),
  );
}
