/**
 * manifest.json, the ingest stage's output: every clip of the corpus. Owner of its type, its
 * writer and its reader (split and resample read it).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';

/** RAVDESS fields parsed from a file name (`03-01-EE-II-SS-RR-AA.wav`), kept on each manifest row. */
export interface RavdessFields {
  modality: string;
  vocalChannel: string;
  /** Two-digit emotion code, "01".."08". */
  emotion: string;
  emotionName: string;
  /** "01" normal, "02" strong. */
  intensity: string;
  /** "01" "Kids are talking by the door", "02" "Dogs are sitting by the door". */
  statement: string;
  repetition: string;
  actor: string;
  gender: 'male' | 'female';
}

/** One clip of the corpus (**contract**: path, sha256, label, speaker, sampleRate, channels, durationS). */
export interface ManifestRow {
  /** Relative to the manifest's `root` (forward slashes). */
  path: string;
  sha256: string;
  label: string;
  speaker: string;
  sampleRate: number;
  channels: number;
  durationS: number;
  bitsPerSample: number;
  /** The label before `label_map` was applied, when it differs. */
  sourceLabel?: string;
  ravdess?: RavdessFields;
}

export interface IngestReport {
  /** Candidate files looked at (every .wav under the root, or every CSV line). */
  scanned: number;
  included: number;
  /** Files that are not part of the corpus by design (song files, other names, excluded labels). */
  skipped: { path: string; reason: string }[];
  /** Files that should have been included but could not be read. */
  corrupt: { path: string; error: string }[];
  /** Included files with more than one channel (mixed down to mono downstream). */
  stereo: string[];
  byLabel: Record<string, number>;
  bySpeaker: Record<string, number>;
}

export interface Manifest {
  format: 'ravdess' | 'folder' | 'csv' | 'synth';
  /** Absolute for external corpora; relative (to the manifest's own directory) for generated ones. */
  root: string;
  /** True when the audio is generated (demo corpus), never real speech. */
  synthetic: boolean;
  /** Class names in model output order. */
  labels: string[];
  rows: ManifestRow[];
  report: IngestReport;
}

export const MANIFEST_FILE = 'manifest.json';

/** Absolute path of a row's audio file, given the directory that holds manifest.json. */
export function resolveManifestPath(manifestDir: string, manifest: Pick<Manifest, 'root'>, row: Pick<ManifestRow, 'path'>): string {
  const root = isAbsolute(manifest.root) ? manifest.root : resolve(manifestDir, manifest.root);
  return resolve(root, row.path);
}

/** Path of manifest.json inside an ingest stage's output directory. */
export function manifestFile(dir: string): string {
  return join(dir, MANIFEST_FILE);
}

/** The manifest.json of an ingest stage's output directory. */
export async function readManifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(manifestFile(dir), 'utf8')) as Manifest;
}

/** Writes manifest.json into an ingest stage's output directory. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFile(manifestFile(dir), JSON.stringify(manifest, null, 1) + '\n');
}
