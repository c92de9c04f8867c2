/**
 * split.json, the split stage's output: which split every clip of the manifest belongs to.
 * Owner of its type, its writer and its reader (augment and mfcc read it).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type SplitName = 'train' | 'validation' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'validation', 'test'];

/** split.json (**contract** for downstream stages: `assignments` keyed by manifest row path). */
export interface SplitFile {
  /** The split stage's `method` parameter. */
  method: string;
  seed: string;
  counts: Record<SplitName, number>;
  /** Speakers in each split (for `speaker`, disjoint). */
  speakers: Record<SplitName, string[]>;
  byLabel: Record<string, Record<SplitName, number>>;
  bySpeaker: Record<string, Record<SplitName, number>>;
  assignments: Record<string, SplitName>;
  /** speaker_kfold: every fold's speakers (the same in every instance), and which one this split tests. */
  kfold?: { folds: string[][]; fold: number };
}

export const SPLIT_FILE = 'split.json';

/** The split.json of a split stage's output directory. */
export async function readSplitFile(dir: string): Promise<SplitFile> {
  return JSON.parse(await readFile(join(dir, SPLIT_FILE), 'utf8')) as SplitFile;
}

/** Writes split.json into a split stage's output directory. */
export async function writeSplitFile(dir: string, split: SplitFile): Promise<void> {
  await writeFile(join(dir, SPLIT_FILE), JSON.stringify(split, null, 1) + '\n');
}
