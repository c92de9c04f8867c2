/**
 * Which epochs' weights a training run keeps: the best one by the validation metric, and for a
 * checkpoint ensemble the `size` best (ties go to the earlier epoch, as for the single best).
 * Without a validation metric the latest epochs are kept instead.
 */
export interface Checkpoint<W> {
  epoch: number;
  /** Validation metric of the epoch; null when there is no validation set. */
  score: number | null;
  weights: W;
}

export class CheckpointKeeper<W> {
  /** Best first. */
  private kept: Checkpoint<W>[] = [];

  constructor(private readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`the number of checkpoints kept must be a positive integer, got ${size}`);
  }

  /** Offers an epoch; `take` copies its weights and is called only when the epoch is kept. */
  offer(epoch: number, score: number | null, take: () => W): void {
    if (score === null) {
      // No validation: the newest epoch is the best, and the ensemble is the last `size` epochs.
      this.kept = [{ epoch, score, weights: take() }, ...this.kept].slice(0, this.size);
      return;
    }
    const at = this.kept.findIndex((c) => c.score === null || score > c.score);
    if (at === -1 && this.kept.length >= this.size) return;
    const entry = { epoch, score, weights: take() };
    if (at === -1) this.kept.push(entry);
    else this.kept.splice(at, 0, entry);
    this.kept.length = Math.min(this.kept.length, this.size);
  }

  get best(): Checkpoint<W> | undefined {
    return this.kept[0];
  }

  /** The kept checkpoints, best first. */
  get members(): readonly Checkpoint<W>[] {
    return this.kept;
  }
}
